"""The private-server helpers the suite, benchmarks and labs rely on."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import redis
import redis.cluster
import redis.sentinel

from redis_patterns.servers import (
    RedisServer,
    RedisServerError,
    describe_server,
    free_port,
    server_spec,
    server_version,
)
from tests.conftest import wait_for


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


def test_a_server_takes_extra_arguments_and_environment():
    # What a module (--loadmodule) or a library path (LD_LIBRARY_PATH) needs, without a
    # wrapper script.  The server overwrites /proc/<pid>/environ with its process title, so
    # the environment is checked by its effect: TZ moves the clock of the server's log.
    with RedisServer(args=["--hz", "17"], env={"TZ": "<+10>-10"}) as server:
        assert redis.Redis(port=server.port).config_get("hz") == {"hz": "17"}
        stamp = re.search(r"\d\d \w{3} \d{4} \d\d:\d\d:\d\d", server.logfile.read_text()).group(0)
    logged = datetime.strptime(stamp, "%d %b %Y %H:%M:%S").replace(tzinfo=UTC)
    assert abs(logged - (datetime.now(UTC) + timedelta(hours=10))) < timedelta(minutes=5)


def test_server_spec_reads_args_and_env_from_the_environment(monkeypatch):
    monkeypatch.setenv("REDIS_SERVER_ARGS", "--loadmodule '/opt/a b/search.so' MAXSEARCHRESULTS 10")
    monkeypatch.setenv("REDIS_SERVER_ENV", "LD_LIBRARY_PATH=/opt/ssl/lib MODE='a b'")
    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/local/lib")
    spec = server_spec()
    assert spec.args == ("--loadmodule", "/opt/a b/search.so", "MAXSEARCHRESULTS", "10")
    assert spec.env == {"LD_LIBRARY_PATH": "/opt/ssl/lib", "MODE": "a b"}
    env = spec.process_env()
    assert env["LD_LIBRARY_PATH"] == "/opt/ssl/lib:/usr/local/lib" and env["MODE"] == "a b"
    assert RedisServer(spec=spec).command_line()[-4:] == list(spec.args)

    monkeypatch.setenv("REDIS_SERVER_ENV", "NOEQUALSSIGN")
    with pytest.raises(RedisServerError, match="NAME=value"):
        server_spec()


def test_describe_server_names_the_product_and_version(server_info):
    label = describe_server()
    assert re.fullmatch(r"(Redis|Valkey) \d+\.\d+\.\d+", label)
    assert label == server_info.label  # what the pytest header and the benchmarks print


@pytest.mark.requires_modules("search", "json", "timeseries", "bloom")
def test_the_redis_stack_modules_load_and_answer(raw_redis, server_info):
    names = {m["name"] for m in raw_redis.module_list()}
    assert {"search", "ReJSON", "timeseries", "bf"} <= names, names
    r = raw_redis.execute_command
    # Bloom: a member added is reported present; one never added is (almost surely) not.
    assert r("BF.RESERVE", "t:{m}:bf", "0.001", "1000") == "OK"
    assert r("BF.ADD", "t:{m}:bf", "alice") == 1 and r("BF.EXISTS", "t:{m}:bf", "alice") == 1
    assert r("BF.EXISTS", "t:{m}:bf", "bob") == 0
    # JSON: a document and a path into it.
    assert r("JSON.SET", "t:{m}:doc", "$", '{"name": "mug", "stock": {"paris": 3}}') == "OK"
    assert r("JSON.NUMINCRBY", "t:{m}:doc", "$.stock.paris", 2) == "[5]"
    # TimeSeries: samples in, a range aggregated out.
    for ts, value in ((1000, 1), (2000, 3), (61_000, 5)):
        r("TS.ADD", "t:{m}:ts", ts, value)
    assert r("TS.RANGE", "t:{m}:ts", "-", "+", "AGGREGATION", "sum", 60_000) == [[0, "4"], [60000, "5"]]
    # Search: an index over hashes, a prefix query.
    assert r("FT.CREATE", "t:{m}:idx", "ON", "HASH", "PREFIX", "1", "t:{m}:p:", "SCHEMA", "name", "TEXT") == "OK"
    raw_redis.hset("t:{m}:p:1", mapping={"name": "blue mug"})
    raw_redis.hset("t:{m}:p:2", mapping={"name": "red kettle"})
    found = wait_for(lambda: r("FT.SEARCH", "t:{m}:idx", "mu*", "NOCONTENT") or None)
    assert found == [1, "t:{m}:p:1"]
