"""redis_patterns.hashttl: per-field expiry where the server has it, found out by trying."""

from __future__ import annotations

import pytest
import redis

from redis_patterns import hashttl
from tests.conftest import command_calls, wait_for


def has_field_ttl(info) -> bool:
    return (info.name == "Redis" and info.version >= (7, 4)) or (info.name == "Valkey" and info.version >= (9, 0))


@pytest.fixture
def client(redis_server):
    c = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
    yield c
    c.close()


def test_detection_matches_the_server_and_is_done_once(client, server_info):
    assert hashttl.supported(client, "t:h") is has_field_ttl(server_info)
    probes = command_calls(client, "httl")
    for _ in range(5):
        hashttl.supported(client, "t:h")
    assert command_calls(client, "httl") == probes
    assert client.exists("t:h") == 0  # probing wrote nothing
    hashttl.forget(client)
    assert hashttl.supported(client, "t:h") is has_field_ttl(server_info)


@pytest.mark.requires_server(redis="7.4", valkey="9.0")
def test_a_field_expires_on_its_own_and_the_rest_of_the_hash_stays(client):
    client.hset("t:h", mapping={"short": 1, "long": 2, "forever": 3})
    pipe = client.pipeline(transaction=True)
    hashttl.expire_fields(pipe, "t:h", 1, ["short"])
    hashttl.expire_fields(pipe, "t:h", 100, ["long"])
    pipe.execute()
    ttls = hashttl.field_ttls(client, "t:h", ["short", "long", "forever", "missing"], per_field=True)
    assert 0 <= ttls["short"] <= 1 and 90 < ttls["long"] <= 100 and ttls["forever"] is None and "missing" not in ttls
    wait_for(lambda: not client.hexists("t:h", "short"), timeout=5)
    assert client.hgetall("t:h") == {"long": "2", "forever": "3"}
    client.hincrby("t:h", "long", 1)  # HINCRBY keeps the field's TTL...
    assert hashttl.field_ttls(client, "t:h", ["long"], per_field=True)["long"] > 0
    client.hset("t:h", "long", 9)     # ...HSET clears it, as SET does for a key
    assert hashttl.field_ttls(client, "t:h", ["long"], per_field=True)["long"] is None


def test_the_fallback_reads_the_key_ttl_for_every_field(client):
    client.hset("t:h", mapping={"a": 1, "b": 2})
    client.expire("t:h", 50)
    ttls = hashttl.field_ttls(client, "t:h", ["a", "b"], per_field=False)
    assert set(ttls) == {"a", "b"} and all(40 < t <= 50 for t in ttls.values())
    assert hashttl.field_ttls(client, "t:nothing", ["a"], per_field=False) == {}
