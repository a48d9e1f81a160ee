"""Leaderboard top-10 changes become ``leaderboard.changed`` events for the board's subscribers."""

from __future__ import annotations

import pytest

from realtime import keys, selectors
from realtime.receivers import on_top10_changed


def test_a_top10_change_is_stored_for_the_boards_subscribers(raw_redis):
    event_id = on_top10_changed(None, board="reaction", view="daily", period="2026-11-26")
    assert selectors.recent_events(["leaderboard:reaction"]) == [
        {"id": event_id, "type": "leaderboard.changed", "board": "reaction", "view": "daily",
         "period": "2026-11-26", "audience": "leaderboard:reaction"}]


def test_a_board_name_that_is_not_a_topic_publishes_nothing(raw_redis):
    assert on_top10_changed(None, board="has space", view="best") is None
    assert raw_redis.dbsize() == 0


def test_the_leaderboard_signal_is_connected(raw_redis):
    signals = pytest.importorskip("leaderboard.signals", reason="the leaderboard app (issue 4) is on main only")
    signals.top10_changed.send_robust(sender=None, board="reaction", view="best", period="")
    assert raw_redis.xlen(keys.events_stream("leaderboard:reaction")) == 1
