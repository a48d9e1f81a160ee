"""The private-server helpers the suite, benchmarks and labs rely on."""

from __future__ import annotations

import redis
import redis.cluster
import redis.sentinel

from redis_patterns.servers import RedisServer, free_port, server_version


def test_free_port_is_never_the_shared_redis():
    assert all(free_port() != 6379 for _ in range(50))


def test_server_version_reads_the_binary():
    major, minor, _ = server_version()
    assert (major, minor) >= (6, 0)


def test_a_server_with_persistence_keeps_data_across_a_clean_restart(tmp_path):
    with RedisServer(directory=tmp_path, config={"appendonly": "yes", "appendfsync": "always"}) as server:
        client = redis.Redis(port=server.port)
        client.set("kept", "1")
        server.restart()
        assert redis.Redis(port=server.port).get("kept") == b"1"


def test_a_killed_server_without_persistence_loses_everything():
    with RedisServer() as server:
        redis.Redis(port=server.port).set("lost", "1")
        server.kill()
        server.start()
        assert redis.Redis(port=server.port).get("lost") is None


def test_replica_sentinel_and_cluster_come_up(redis_server_factory):
    primary = redis_server_factory()
    replica = redis_server_factory.replica(primary)
    redis.Redis(port=primary.port).set("x", "1")
    redis.Redis(port=primary.port).wait(1, 2000)
    assert redis.Redis(port=replica.port).get("x") == b"1"

    sentinel = redis_server_factory.sentinel(primary)
    discovered = redis.sentinel.Sentinel([(sentinel.host, sentinel.port)]).discover_master("mymaster")
    assert discovered == (primary.host, primary.port)

    nodes = redis_server_factory.cluster(3)
    cluster = redis.cluster.RedisCluster(host=nodes[0].host, port=nodes[0].port, decode_responses=True)
    for i in range(30):  # keys spread over all three nodes' slots
        cluster.set(f"key:{i}", i)
    assert [cluster.get(f"key:{i}") for i in range(30)] == [str(i) for i in range(30)]
    assert len({cluster.keyslot(f"key:{i}") * 3 // 16384 for i in range(30)}) == 3
    cluster.close()
