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
    page.wait_for_function("document.getElementById('result').textContent.includes('recorded')", timeout=10_000)
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
