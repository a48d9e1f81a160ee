"""The home page in a real browser, served by the real ASGI server."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_home_page_panel_lists_the_redis_commands(page, live_server_url):
    response = page.goto(live_server_url + "/patterns/pipelining/")
    assert response.status == 200
    assert "redis;dur=" in response.headers["server-timing"]
    panel = page.locator("#redis-panel")
    assert "round trip" in panel.locator("summary").inner_text()
    panel.locator("summary").click()
    commands = panel.locator("td.cmd").all_inner_texts()
    assert commands.count("GET") == 40  # 20 one by one + 20 in the pipeline
    assert "MGET" in commands and "SET" in commands
    assert panel.locator("td.cmd").first.is_visible()

    from config.redis import forget_redis_health

    forget_redis_health()  # the banner's probe is cached for 2 s per process
    page.goto(live_server_url + "/")
    assert page.locator("h1").inner_text().startswith("Redis is a data-structure server")
    page.locator("#redis-panel summary").click()
    assert "PING" in page.locator("#redis-panel td.cmd").all_inner_texts()


def test_no_page_breaks_the_content_security_policy(page, live_server_url):
    """Every script the pages run is a file from this site: the browser reports no CSP violation."""
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    for path in ("/", "/checkout/", "/leaderboard/", "/realtime/", "/patterns/rate-limiting/", "/admin/login/"):
        page.goto(live_server_url + path)
        page.wait_for_load_state("networkidle")
    page.goto(live_server_url + "/realtime/")
    page.wait_for_selector("#rt-notifications[data-state='live']", timeout=10_000)  # the socket is allowed
    assert violations == []
