"""The cache, the write-behind claim and key replicas on a real 3-node Redis Cluster.

Multi-key scripts must find their keys in one slot (the ``{hash tag}``) and
replicas must land in different slots; this runs the same code the app runs.
"""

from __future__ import annotations

import pytest
import redis.cluster

from redis_patterns import hotkeys, writebehind
from redis_patterns.cache import Breaker, Cache, CachePolicy, CacheState
from redis_patterns.scripts import Scripts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster_client():
    from redis_patterns import servers

    nodes = servers.start_cluster(3)
    client = redis.cluster.RedisCluster(host=nodes[0].host, port=nodes[0].port, decode_responses=True)
    yield client
    client.close()
    for node in nodes:
        node.cleanup()


def test_cache_aside_write_behind_and_replicas_on_a_cluster(cluster_client):
    scripts = Scripts("redis_patterns")
    cache = Cache(cluster_client, scripts, breaker=Breaker())
    key, lease = "t:shop:product:{42}", "t:shop:product:{42}:lease"
    assert cache.get(key, lease, lambda: {"id": 42}, CachePolicy()).state == CacheState.MISS
    hit = cache.get(key, lease, lambda: {"id": -1}, CachePolicy(),
                    also=lambda pipe: pipe.hincrby("t:{shop:views}:pending", "42", 1))
    assert (hit.state, hit.value, hit.extra) == (CacheState.HIT, {"id": 42}, [1])
    cache.put(key, lease, {"id": 42, "v": 2}, CachePolicy())
    assert cache.get(key, lease, lambda: None, CachePolicy()).value == {"id": 42, "v": 2}
    cache.invalidate(key, lease)
    assert cluster_client.get(key) is None

    counters = writebehind.CounterKeys(pending="t:{shop:views}:pending", batches="t:{shop:views}:batches",
                                       batch=lambda b: f"t:{{shop:views}}:batch:{b}")
    writebehind.record(cluster_client, counters, 7)
    batch = writebehind.claim(cluster_client, scripts, counters)
    assert writebehind.read(cluster_client, batch) == {"42": 1, "7": 1}
    writebehind.release(cluster_client, counters, batch)
    assert cluster_client.zcard(counters.batches) == 0

    keys = hotkeys.replica_keys(lambda i: f"t:shop:product-replica:{{42:r{i}}}", 4)
    hotkeys.write_replicas(cluster_client, keys, "payload", px=10_000)
    assert [cluster_client.get(k) for k in keys] == ["payload"] * 4
    slots = {cluster_client.keyslot(k) for k in keys}
    assert len(slots) == 4  # spread over slots, hence over nodes
