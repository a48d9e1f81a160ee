"""redis_patterns.roundtrips: the direct (no Pipeline object) forms against a real Redis."""

from __future__ import annotations

import pytest
import redis

from redis_patterns.roundtrips import direct_call, direct_pipeline
from redis_patterns.tracing import TracingConnection, tracing


@pytest.fixture
def traced(redis_server):
    client = redis.Redis.from_url(redis_server.url, decode_responses=True, connection_class=TracingConnection)
    client.ping()  # connected: the handshake is not part of what the tests count
    yield client
    client.close()


def test_direct_pipeline_is_one_round_trip_with_replies_in_order(traced):
    with tracing() as trace:
        replies = direct_pipeline(traced, [("SET", "k", 0, "PX", 60_000, "NX"), ("INCRBY", "k", 5), ("GET", "k")])
    assert replies == ["OK", 5, "5"]
    assert (trace.round_trip_count, trace.command_count) == (1, 3)
    assert 0 < traced.pttl("k") <= 60_000


def test_an_error_reply_lands_in_its_slot_and_the_connection_stays_usable(traced):
    traced.set("text", "abc")
    replies = direct_pipeline(traced, [("INCR", "text"), ("GET", "text")])
    assert isinstance(replies[0], redis.ResponseError) and replies[1] == "abc"
    with pytest.raises(redis.ResponseError):
        direct_call(traced, "INCR", "text")
    with tracing() as trace:
        assert direct_call(traced, "GET", "text") == "abc"
    assert trace.round_trip_count == 1  # no reconnect after an error reply


def test_a_dropped_connection_goes_once_more_through_the_clients_retries(traced, redis_server):
    traced.set("k", "v")
    redis_server.stop()
    redis_server.start()
    # the pooled connection is dead: the direct path drops it and the client's own path reconnects
    assert direct_call(traced, "GET", "k") is None  # a fresh server (no persistence): the key is gone
    assert direct_pipeline(traced, [("SET", "k", "w"), ("GET", "k")]) == ["OK", "w"]
