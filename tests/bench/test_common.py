"""``bench/common.py``: the helpers every benchmark's figures go through."""

from __future__ import annotations

import math

import redis

from bench import common


def test_server_label_names_the_real_server(redis_server):
    client = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
    try:
        info = client.info("server")
        label = common.server_label(client)
    finally:
        client.close()
    name = str(info.get("server_name") or "redis")
    assert label == f"{name.capitalize()} {info.get(f'{name}_version') or info['redis_version']}"


def test_raw_get_floor_reads_the_key_it_wrote(redis_server):
    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    try:
        client.set("bench:key", "v")
        floor = common.raw_get_floor_us(redis_server.port, calls=50, warmup=5)
        # the key the floor sends is the whole key: Redis counted hits, not misses
        assert client.info("stats")["keyspace_hits"] >= 55
    finally:
        client.close()
    assert 0 < floor < 1_000_000


def test_percentiles_quartiles_and_spread():
    values = list(range(1, 101))
    assert common.percentile(values, 0.5) == 51 and common.percentile(values, 0.99) == 100
    assert math.isnan(common.percentile([], 0.5))
    assert common.quartiles([3.0]) == (3.0, 3.0, 3.0)
    assert common.spread([1.0]) == "-" and common.spread([1.0, 2.0, 3.0, 4.0]) == "1.25–3.75"


def test_markdown_table():
    lines = common.md_table(["a", "b"], [[1, "x"], [22, "yy"]])
    assert lines[0].startswith("| a") and set(lines[1]) <= set("|-: ") and "22" in lines[3]
