"""The product page, in a real browser: X-Cache goes from miss to hit on reload."""

from __future__ import annotations

from decimal import Decimal

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_product_page_shows_miss_then_hit(page, live_server_url):
    from shop.models import Category, Product

    category = Category.objects.create(name="Lamps", slug="lamps")
    product = Product.objects.create(category=category, name="Desk Lamp", slug="desk-lamp", description="Bright.",
                                     price=Decimal("19.99"), stock=4, image_hue=40)
    page.goto(f"{live_server_url}/shop/products/{product.pk}/")
    assert page.locator("#x-cache").inner_text() == "miss"
    assert page.locator("#product-name").inner_text() == "Desk Lamp"
    page.reload()
    assert page.locator("#x-cache").inner_text() == "hit"
    page.click("text=Lamps")
    assert page.locator("#x-cache").inner_text() in {"miss", "hit"}
    assert "Desk Lamp" in page.content()
