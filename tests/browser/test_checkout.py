"""The checkout page in a real browser: place an order, send it again with the same key, watch it complete."""

from __future__ import annotations

from decimal import Decimal

import pytest

pytestmark = pytest.mark.browser


def test_checkout_places_one_order_for_two_clicks_with_the_same_key(page, live_server_url):
    from shop import orders
    from shop.models import Category, Order, Product

    category = Category.objects.create(name="C", slug="c")
    product = Product.objects.create(category=category, name="Kettle", slug="kettle", description="",
                                     price=Decimal("12.00"), stock=4, image_hue=30)
    page.goto(live_server_url + "/checkout/")
    page.locator(f'input[data-product="{product.pk}"]').fill("2")
    page.get_by_role("button", name="Place order").click()
    page.locator("#result").get_by_text("created").wait_for()
    page.get_by_role("button", name="Send the same request again").click()
    page.locator("#result").get_by_text("replayed").wait_for()
    page.locator("#result").get_by_text("pending").first.wait_for()
    [order] = Order.objects.all()
    assert order.total == Decimal("24.00")

    orders.order_process(order_id=order.pk)  # what a stream worker does
    page.locator("#result").get_by_text(f"order #{order.pk}: completed").first.wait_for(timeout=10_000)

    page.locator(f'input[data-product="{product.pk}"]').fill("3")
    page.get_by_role("button", name="Place order").click()
    page.locator("#result").get_by_text("409 out_of_stock").wait_for()
