"""redis_patterns.hotkeys: the in-process tier, its pub/sub invalidation, and key replicas."""

from __future__ import annotations

import redis

from redis_patterns.hotkeys import (
    InvalidationBus,
    LocalTier,
    pick_replica,
    publish_invalidation,
    replica_keys,
    write_replicas,
)
from tests.conftest import wait_for


class Clock:
    t = 100.0

    def __call__(self) -> float:
        return self.t


def test_local_tier_expires_and_evicts():
    clock = Clock()
    tier = LocalTier(ttl=1.0, max_items=2, clock=clock)
    tier.put("a", 1)
    tier.put("b", 2)
    assert tier.get("a") == 1
    tier.put("c", 3)  # "b" is the least recently used
    assert tier.get("b") is LocalTier.MISSING
    clock.t += 1.01
    assert tier.get("a") is LocalTier.MISSING and tier.get("c") is LocalTier.MISSING


def test_a_publish_drops_the_key_in_every_listening_process(redis_server, raw_redis):
    def factory():
        return redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True, socket_timeout=5)

    # Two tiers with their own subscriber connections: what two app processes have.
    tiers = [LocalTier(ttl=60), LocalTier(ttl=60)]
    buses = [InvalidationBus(factory, "t:invalidate", tier).start() for tier in tiers]
    try:
        for bus in buses:
            assert bus.subscribed.wait(10)
        for tier in tiers:
            tier.put("t:product:{1}", "old")
            tier.put("t:product:{2}", "other")
        publish_invalidation(raw_redis, "t:invalidate", ["t:product:{1}"])
        wait_for(lambda: all(t.get("t:product:{1}") is LocalTier.MISSING for t in tiers))
        assert all(t.get("t:product:{2}") == "other" for t in tiers)
    finally:
        for bus in buses:
            bus.stop()


def test_listener_clears_its_tier_after_reconnecting(redis_server):
    def factory():
        return redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True, socket_timeout=5)

    tier = LocalTier(ttl=60)
    bus = InvalidationBus(factory, "t:invalidate", tier).start()
    try:
        assert bus.subscribed.wait(10)
        tier.put("k", "maybe stale")
        redis_server.stop()  # messages published now would be lost to us
        wait_for(lambda: not bus.subscribed.is_set(), timeout=15)
        assert len(tier) == 0
        redis_server.start()
        wait_for(bus.subscribed.is_set, timeout=15)
    finally:
        bus.stop()


def test_replicas_spread_reads_and_carry_their_ttl(raw_redis):
    keys = replica_keys(lambda i: f"t:replica:{{42:r{i}}}", 4)
    write_replicas(raw_redis, keys, "payload", px=30_000)
    assert all(raw_redis.get(k) == "payload" and 0 < raw_redis.pttl(k) <= 30_000 for k in keys)
    seq = iter([0.0, 0.3, 0.6, 0.99])
    assert [pick_replica(keys, rng=lambda: next(seq)) for _ in range(4)] == keys
