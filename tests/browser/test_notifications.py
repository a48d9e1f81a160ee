"""Notifications in a real browser: the page's area shows events published by another process.

Here the publisher is ``manage.py publish_event`` in a separate process (the
same ``publish_event`` call a stream worker makes), so each event type can be
driven directly.  The order pipeline end to end (an order placed through
``POST /api/orders``, moved by a real stream worker) is
``tests/workers/test_order_notifications_browser.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.conf import settings
from playwright.sync_api import expect

from redis_patterns import event_log

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def publish_from_another_process(audience: str, type_: str, data: dict) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", "publish_event", audience, type_, json.dumps(data)],
        capture_output=True, text=True, check=True, cwd=settings.BASE_DIR, timeout=60,
    ).stdout.strip()


def session_key(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")


def test_events_from_another_process_appear_without_a_reload(page, live_server_url):
    page.goto(live_server_url + "/realtime/")
    area = page.locator("#rt-notifications")
    expect(area).to_have_attribute("data-state", "live", timeout=10_000)
    owner = f"session:{session_key(page)}"
    other = publish_from_another_process("session:" + "z" * 32, "order.status", {"order_id": 99, "status": "failed"})
    first = publish_from_another_process(owner, "order.status", {"order_id": 41, "status": "processing"})
    second = publish_from_another_process(owner, "order.status", {"order_id": 41, "status": "completed"})
    items = area.locator("li")
    expect(items.first).to_have_text("Order #41: completed", timeout=10_000)
    expect(items).to_have_text(["Order #41: completed", "Order #41: processing"])
    assert page.locator(f'li[data-event-id="{other}"]').count() == 0  # someone else's order
    assert page.evaluate("window.rtNotifications.lastEventId()") == second
    assert event_log.parse_id(first) < event_log.parse_id(second)

    # Following a board from the page: its top-10 changes arrive too.
    page.locator("#rt-subscribe button").click()
    expect(page.locator("#rt-demo-log")).to_contain_text('"type":"subscribed"', timeout=10_000)
    publish_from_another_process("leaderboard:global", "leaderboard.changed", {"board": "global"})
    expect(items.first).to_have_text("Leaderboard global: the top 10 changed", timeout=10_000)

    # A staff broadcast reaches every page as a banner.
    publish_from_another_process("public", "broadcast", {"message": "Flash sale: 20% off", "level": "sale"})
    banner = page.locator("#rt-broadcast")
    expect(banner).to_have_text("Flash sale: 20% off", timeout=10_000)
    expect(banner).to_be_visible()


def test_the_page_shows_reconnecting_while_redis_restarts_and_misses_nothing(page, live_server_url, redis_server):
    page.goto(live_server_url + "/")
    area = page.locator("#rt-notifications")
    expect(area).to_have_attribute("data-state", "live", timeout=10_000)
    expect(page.locator("#presence-home [data-presence-online]")).to_have_text("1", timeout=10_000)

    redis_server.kill()
    expect(area).to_have_attribute("data-state", "reconnecting", timeout=10_000)
    expect(area.locator("[data-rt-status]")).to_contain_text("reconnecting")
    redis_server.start()
    # Published as soon as Redis is back, whether or not the tab has reconnected
    # yet: it arrives either by replay (after its last id) or live.
    event_id = publish_from_another_process("public", "broadcast", {"message": "back again", "level": "info"})
    expect(area.locator(f'li[data-event-id="{event_id}"]')).to_have_text("back again", timeout=20_000)
    expect(area).to_have_attribute("data-state", "live")
