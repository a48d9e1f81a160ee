"""A score that changes a board's top 10 becomes one ``leaderboard.changed`` event for the board's followers."""

from __future__ import annotations

import datetime as dt

from leaderboard import services
from realtime import keys, selectors


def test_a_top10_change_is_stored_for_the_boards_followers(raw_redis):
    services.score_submit(board="reaction", player="ada", points=870, now=dt.datetime(2026, 11, 26, tzinfo=dt.UTC))
    [event] = selectors.recent_events(["leaderboard:reaction"])
    assert event["type"] == "leaderboard.changed" and event["board"] == "reaction"
    # the weekly view is built on its first read (weekly_board.lua), so a first score changes three
    assert {v["view"] for v in event["views"]} == {"best", "total", "daily"}
    assert {"view": "daily", "period": "2026-11-26"} in event["views"]
    assert raw_redis.xlen(keys.events_stream("leaderboard:reaction")) == 1


def test_notify_never_raises_and_writes_nothing_for_an_audience_it_cannot_route(raw_redis):
    from realtime.services import notify

    assert notify("leaderboard:has space", "leaderboard.changed", {"board": "x"}) is None
    assert notify("nobody-knows", "order.status", {}) is None
    assert raw_redis.dbsize() == 0
