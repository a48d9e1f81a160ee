"""Presence: heartbeats in a sorted set scored by time; silence ages a member out."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from redis_patterns import presence
from redis_patterns.scripts import Scripts
from redis_patterns.tracing import tracing

NOW = 1_800_000_000_000
ROOMS = ["t:presence:{p}:site", "t:presence:{p}:page:a"]


@pytest.fixture
def scripts():
    return Scripts("redis_patterns")


def test_heartbeats_count_members_once_and_prune_the_silent(r, raw_redis, scripts):
    assert presence.heartbeat(r, scripts, ROOMS, "user:1", now=NOW) == [1, 1]
    assert presence.heartbeat(r, scripts, ROOMS[:1], "user:2", now=NOW + 1000) == [2]
    assert presence.heartbeat(r, scripts, ROOMS, "user:1", now=NOW + 2000) == [2, 1]  # again: still one
    # user:2 stays silent; 45 s after its last heartbeat it is gone.
    later = NOW + 1000 + presence.STALE_MS + 1
    assert presence.heartbeat(r, scripts, ROOMS[:1], "user:3", now=later) == [2]
    assert {m for m, _ in presence.members(r, ROOMS[0], now=later)} == {"user:1", "user:3"}
    assert raw_redis.zscore(ROOMS[0], "user:2") is None  # pruned, not just filtered
    assert 0 < raw_redis.pttl(ROOMS[0]) <= presence.TTL_MS


def test_reads_filter_by_time_even_without_a_prune(r, scripts):
    presence.heartbeat(r, scripts, ROOMS[:1], "a", now=NOW)
    presence.heartbeat(r, scripts, ROOMS[:1], "b", now=NOW + 30_000)
    assert presence.count(r, ROOMS[0], now=NOW + 30_000) == 2
    assert presence.count(r, ROOMS[0], now=NOW + presence.STALE_MS + 1) == 1
    assert presence.members(r, ROOMS[0], now=NOW + 30_000)[0][0] == "b"  # most recent first


def test_server_clock_by_default_and_one_round_trip_for_all_rooms(r, scripts):
    presence.heartbeat(r, scripts, ROOMS, "warm-up")

    async def beat():
        from tests.conftest import scaffold_client

        client = scaffold_client(is_async=True)
        await client.ping()  # connect (handshake commands) outside the trace
        with tracing() as trace:
            counts = await presence.aheartbeat(client, scripts, ROOMS, "user:9")
        return counts, trace.round_trip_count

    counts, round_trips = async_to_sync(beat)()
    assert counts == [2, 2] and round_trips == 1
    assert presence.count(r, ROOMS[0]) == 2  # scored with the server's clock, read with ours
