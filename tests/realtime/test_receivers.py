"""Leaderboard top-10 changes become ``leaderboard.changed`` events for the board's subscribers."""

from __future__ import annotations

from realtime import keys, selectors
from realtime.receivers import on_top10_changed


def test_a_top10_change_is_stored_for_the_boards_subscribers(raw_redis):
    event_id = on_top10_changed(None, board="reaction", views={"daily": "2026-11-26", "best": ""})
    assert selectors.recent_events(["leaderboard:reaction"]) == [
        {"id": event_id, "type": "leaderboard.changed", "board": "reaction",
         "views": [{"view": "daily", "period": "2026-11-26"}, {"view": "best", "period": ""}],
         "audience": "leaderboard:reaction"}]


def test_a_board_name_that_is_not_a_topic_publishes_nothing(raw_redis):
    assert on_top10_changed(None, board="has space", views={"best": ""}) is None
    assert raw_redis.dbsize() == 0


def test_the_leaderboard_signal_is_connected(raw_redis):
    from leaderboard import signals

    signals.top10_changed.send_robust(sender=None, board="reaction", views={"best": ""})
    assert raw_redis.xlen(keys.events_stream("leaderboard:reaction")) == 1
