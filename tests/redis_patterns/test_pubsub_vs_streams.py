"""The offline subscriber: pub/sub loses what it missed, the stream replays it."""

from __future__ import annotations

import pytest

from redis_patterns import pubsub_vs_streams


@pytest.mark.parametrize("sharded", [False, True], ids=["PUBLISH", "SPUBLISH"])
def test_pubsub_misses_the_offline_window_and_the_stream_replays_it(r, raw_redis, sharded):
    result = pubsub_vs_streams.run(r, channel="t:demo:{x}:ch", stream="t:demo:{x}:st", total=12,
                                   offline_from=4, offline_to=8, sharded=sharded)
    window = [4, 5, 6, 7, 8]
    assert result.pubsub_missed == window
    assert [d.pubsub_receivers for d in result.deliveries] == [0 if n in window else 1 for n in range(1, 13)]
    assert result.stream_missed == []
    assert result.replayed == window
    assert [d.stream_got for d in result.deliveries if d.number not in window] == ["live"] * 7
    assert raw_redis.xlen("t:demo:{x}:st") == 12 and raw_redis.ttl("t:demo:{x}:st") > 0


def test_bad_window_is_refused(r):
    with pytest.raises(ValueError):
        pubsub_vs_streams.run(r, channel="c", stream="s", total=5, offline_from=3, offline_to=5)
