"""The reaction game in a real browser: play five rounds, the score lands on the board."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_play_a_game_and_see_the_score_on_the_board(page, live_server_url, raw_redis):
    page.goto(live_server_url + "/leaderboard/")
    page.fill("#player", "browser_ada")
    page.dispatch_event("#player", "change")
    target = page.locator("#target")
    target.click()  # start
    for _ in range(5):
        page.wait_for_selector('#target[data-state="go"]', timeout=10_000)
        target.click()
    # Locator waits, not wait_for_function: the site's CSP refuses the string eval that one needs.
    page.locator("#result").get_by_text("recorded").wait_for(timeout=10_000)
    points = int(raw_redis.zscore("t:lb:{reaction}:total", "browser_ada"))
    assert 0 < points <= 5000
    # the board (polled) shows the player with the real points, highlighted, and around-me finds them
    page.wait_for_selector("#board tr.me", timeout=10_000)
    assert page.locator("#board tr.me td").nth(2).inner_text() == str(points)
    page.wait_for_selector("#around tr.me", timeout=10_000)


def test_rate_limit_demo_draws_a_chart(page, live_server_url):
    page.goto(live_server_url + "/patterns/rate-limiting/?pattern=window-edge")
    assert page.locator(".rl-chart svg rect").count() == 5 * 21
    assert page.locator("strong.over").first.inner_text() == "10"


def test_the_board_updates_live_when_someone_else_scores(page, live_server_url):
    """No reload and no poll (it is 30 s): the page follows leaderboard:reaction over
    the notifications socket and refetches when a leaderboard.changed event arrives."""
    import json
    import urllib.request

    page.goto(live_server_url + "/leaderboard/")
    page.wait_for_selector("#rt-notifications[data-state='live']", timeout=10_000)
    page.wait_for_selector("#board tbody", state="attached", timeout=10_000)
    assert "grace_live" not in page.locator("#board").inner_text()

    # Another visitor scores, through the API, from outside the browser.
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    opener.open(live_server_url + "/leaderboard/")
    jar = next(h for h in opener.handlers if isinstance(h, urllib.request.HTTPCookieProcessor)).cookiejar
    token = next(c.value for c in jar if c.name == "csrftoken")
    request = urllib.request.Request(
        live_server_url + "/api/leaderboards/reaction/scores", method="POST",
        data=json.dumps({"player": "grace_live", "score": 4999}).encode(),
        headers={"Content-Type": "application/json", "X-CSRFToken": token},
    )
    assert opener.open(request).status == 201
    page.locator("#board").get_by_text("grace_live").wait_for(timeout=10_000)
