"""config.redis: the one place that builds clients, in every mode."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis
from django.core.cache import cache

from config.redis import RedisConfig, build_client, get_async_redis, get_redis, key, redis_health
from redis_patterns.tracing import (
    TracingConnection,
    TracingSentinelManagedConnection,
    tracing,
)


def test_get_redis_is_one_shared_client_on_the_private_server(redis_server):
    client = get_redis()
    assert client is get_redis()
    assert client.connection_pool.connection_kwargs["port"] == redis_server.port
    assert client.ping() is True


def test_clients_get_timeouts_retries_and_health_checks():
    kwargs = get_redis().connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 5.0
    assert kwargs["socket_connect_timeout"] == 2.0
    assert kwargs["health_check_interval"] == 30
    assert kwargs["retry"]._retries == 3
    assert get_redis().connection_pool.connection_class is TracingConnection


@pytest.mark.skipif(bool(__import__("os").environ.get("REDIS_ACL_LEARN")),
                    reason="REDIS_ACL_LEARN: the recorder's own connections would be counted")
def test_nothing_connects_at_import_time(redis_server):
    """Importing the project's modules opens no connection to Redis."""
    import subprocess
    import sys

    from django.conf import settings

    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); django.setup();"
        "import config.urls, config.asgi, config.redis, config.celery, shop.views, workers.views, lessons.views"
    )
    raw = redis.Redis(port=redis_server.port)
    before = int(raw.info("stats")["total_connections_received"])
    subprocess.run([sys.executable, "-c", code], check=True, cwd=settings.BASE_DIR)
    after = int(raw.info("stats")["total_connections_received"])
    assert after == before


def test_async_clients_are_per_event_loop(redis_server):
    async def use():
        client = get_async_redis()
        assert client is get_async_redis()
        await client.set(key("demo", "high-score"), "yes")  # a declared key: this is the app's client
        return id(client), await client.get(key("demo", "high-score"))

    first_id, value = asyncio.run(use())
    second_id, _ = asyncio.run(use())
    assert value == "yes"
    assert first_id != second_id  # a client is bound to the loop that made it


def test_key_prefix():
    assert key("product", 42) == "t:product:42"


def test_the_cache_uses_our_client_and_json_never_pickle(raw_redis):
    cache.set("greeting", {"hello": "world"}, 60)
    assert cache.get("greeting") == {"hello": "world"}
    (stored_key,) = [k for k in raw_redis.scan_iter("t:cache:*greeting")]
    assert json.loads(raw_redis.get(stored_key)) == {"hello": "world"}
    assert 0 < raw_redis.ttl(stored_key) <= 60


def test_cache_traffic_is_traced():
    with tracing() as trace:
        cache.get("anything")
    assert [rt.describe()[0]["name"] for rt in trace.round_trips][-1] == "GET"


def test_cache_fails_open_when_redis_is_down(redis_server):
    cache.set("k", 1)
    redis_server.stop()
    assert cache.get("k") is None  # a miss, not an exception
    cache.set("k", 2)  # skipped, not an exception
    redis_server.start()


def test_health_reports_down_and_recovers_without_a_restart(redis_server):
    assert redis_health() == (True, "ok")
    redis_server.stop()
    ok, detail = redis_health()
    assert not ok and "ConnectionError" in detail
    redis_server.start()
    assert redis_health() == (True, "ok")
    assert get_redis().ping()  # the pooled client reconnects by itself


def test_sentinel_mode_finds_the_master(redis_server_factory):
    primary = redis_server_factory()
    sentinel = redis_server_factory.sentinel(primary)
    client = build_client(config=RedisConfig(sentinels=[(sentinel.host, sentinel.port)], sentinel_master="mymaster"))
    client.set("via-sentinel", "1")
    assert redis.Redis(port=primary.port).get("via-sentinel") == b"1"
    assert client.connection_pool.connection_class is TracingSentinelManagedConnection
    with tracing() as trace:
        client.get("via-sentinel")
    assert trace.command_count == 1


def test_cluster_mode_spreads_keys_and_is_traced(redis_server_factory):
    nodes = redis_server_factory.cluster(3)
    client = build_client(config=RedisConfig(cluster_nodes=[(n.host, n.port) for n in nodes]))
    with tracing() as trace:
        for i in range(20):
            client.set(f"spread:{i}", i)
    # plus the handshake (CLIENT SETNAME/SETINFO) of each node's first connection
    sets = [row for rt in trace.round_trips for row in rt.describe() if row["name"] == "SET"]
    assert len(sets) == 20
    per_node = [redis.Redis(port=n.port).dbsize() for n in nodes]
    assert sum(per_node) == 20 and all(count > 0 for count in per_node)
    client.close()


@pytest.mark.django_db
def test_channel_layer_round_trip_on_the_private_server():
    from channels.layers import channel_layers

    async def scenario():
        # A layer of our own: the process-wide one may hold pools of other event loops.
        layer = channel_layers.make_backend("default")
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "hello", "n": 1})
        message = await layer.receive(channel)
        await layer.close_pools()  # not flush(): that runs KEYS, which the app user may not
        return message

    assert asyncio.run(scenario()) == {"type": "hello", "n": 1}


def test_build_connection_gives_one_resp3_connection_of_its_own(redis_server, raw_redis, settings):
    from config.redis import build_connection

    conn = build_connection(protocol=3, socket_timeout=2)
    conn.connect()
    try:
        assert conn.handshake_metadata["proto"] == 3
        conn.send_command("CLIENT", "ID")
        own_id = conn.read_response()
        names = {c["id"]: c["name"] for c in raw_redis.client_list()}
        assert names[str(own_id)] == "django-redis-reference"  # the factory's settings, not bare defaults
    finally:
        conn.disconnect()
    settings.REDIS = {**settings.REDIS, "cluster_nodes": [("127.0.0.1", 7000)]}
    with pytest.raises(ValueError):
        build_connection()
