"""End to end: a browser's order, placed through the API, reports its status in the page's notifications area.

Real processes throughout: uvicorn (3 workers) serving the page, the API and
the WebSocket; a ``run_stream_worker`` process moving the order pending ->
processing -> completed and calling ``realtime.services.publish_event`` with
the order's owner; Chromium showing it, without a reload.
"""

from __future__ import annotations

import json
import uuid

import pytest
from playwright.sync_api import expect

from tests.processes import make_product

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_an_order_placed_through_the_api_shows_its_status_without_a_reload(page, web_server, start_worker):
    product = make_product(stock=5)
    start_worker("w1")
    page.goto(web_server + "/checkout/")  # gives the visitor a session and the CSRF cookie
    area = page.locator("#rt-notifications")
    expect(area).to_have_attribute("data-state", "live", timeout=15_000)

    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    # page.request shares the browser's cookies: the order belongs to the browser's session.
    response = page.request.post(
        web_server + "/api/orders",
        data=json.dumps({"items": [{"product_id": product.pk, "quantity": 1}]}),
        headers={"Content-Type": "application/json", "X-CSRFToken": csrf, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status == 202, response.text()
    order_id = response.json()["order_id"]

    item = area.locator('li[data-event-type="order.status"][data-status="completed"]')
    expect(item).to_have_text(f"Order #{order_id}: completed", timeout=30_000)
    statuses = area.locator('li[data-event-type="order.status"]').evaluate_all(
        "items => items.map(li => li.dataset.status)")
    assert statuses[0] == "completed" and "processing" in statuses
    assert len(statuses) == len(set(statuses))  # each status once

    # Reloading replays nothing twice: the tab's last event id is already the newest.
    last = page.evaluate("window.rtNotifications.lastEventId()")
    page.reload()
    expect(area).to_have_attribute("data-state", "live", timeout=15_000)
    assert area.locator("li").count() == 0
    assert page.evaluate("window.rtNotifications.lastEventId()") == last
