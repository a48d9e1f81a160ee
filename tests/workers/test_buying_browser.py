"""End to end, as a customer: product -> add to cart -> cart -> checkout (double-clicked) -> the order's page.

Real processes throughout: uvicorn (3 workers) serving the pages, the API and the
WebSocket on a shared database; a ``run_stream_worker`` process fulfilling the
order from the ``orders`` stream; Chromium watching the order's page move from
pending to completed over the notifications socket, without a reload.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.processes import make_product

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WATCH_STATUS = """() => {
  window.__seen = [document.getElementById("order-status").dataset.status];
  window.__samePage = "yes";  // a reload would drop it
  new MutationObserver(() => window.__seen.push(document.getElementById("order-status").dataset.status))
    .observe(document.getElementById("order-status"), {attributes: true, attributeFilter: ["data-status"]});
}"""


def test_a_double_clicked_checkout_makes_one_order_that_completes_live(page, web_server, start_worker):
    from shop import keys
    from shop.models import Fulfilment, Order

    product = make_product(stock=5, price="12.50")
    page.goto(f"{web_server}/shop/products/{product.pk}/")
    expect(page.locator("#product-stock")).to_have_text("Only 5 left")
    page.get_by_label("Quantity").select_option("2")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator(".messages")).to_contain_text("Added to your cart (2 in the cart now).")

    page.locator("#in-cart").get_by_role("link", name="your cart").click()
    expect(page).to_have_url(re.compile(r"/cart/$"))
    line = page.locator(f'.cart-line[data-product="{product.pk}"]')
    line.get_by_label("Quantity").fill("3")
    line.get_by_role("button", name="Update").click()
    expect(page.locator("#cart-total")).to_have_text("$37.50")
    key = page.locator("#idem-key").inner_text()
    assert len(key) >= 16

    posts: list[dict[str, str]] = []
    page.on("request", lambda r: posts.append(r.headers) if r.method == "POST" and r.url.endswith("/api/orders")
            else None)
    page.get_by_role("button", name="Place order").dblclick()
    page.wait_for_url(re.compile(r"/orders/\d+/$"), timeout=15_000)
    assert len(posts) == 1 and posts[0]["idempotency-key"] == key  # the button was disabled in flight
    [order] = Order.objects.all()
    assert order.total == Decimal("37.50") and order.status == "pending"

    # The socket is live and the page is watched before any worker runs: every change arrives live.
    expect(page.locator("#rt-notifications")).to_have_attribute("data-state", "live", timeout=15_000)
    page.evaluate(WATCH_STATUS)
    start_worker("w1")
    expect(page.locator("#order-status")).to_have_text("completed", timeout=30_000)
    expect(page.locator('#order-steps li[data-step="completed"]')).to_have_class(re.compile("current"))
    assert page.evaluate("window.__samePage") == "yes"
    seen = page.evaluate("window.__seen")
    assert seen[0] == "pending" and seen[-1] == "completed" and "processing" in seen

    assert Order.objects.count() == 1 and Fulfilment.objects.filter(order=order).count() == 1
    from config.redis import get_redis

    assert get_redis().hlen(keys.cart(order.owner)) == 0  # what was bought left the cart
    page.get_by_role("link", name="Your orders").click()
    expect(page.locator(f'#orders li[data-order-id="{order.pk}"] .status-badge')).to_have_text("completed")
