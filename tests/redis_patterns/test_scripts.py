"""One contract, two ways to run a script: Functions (FCALL) and EVALSHA.

Every test in ``TestContract`` runs against both paths, sync and async, and
must give the same result, including after the server forgot the scripts.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis
import redis.asyncio

from redis_patterns.scripts import Scripts
from redis_patterns.tracing import tracing

LUA = Path(__file__).parent / "lua"


@pytest.fixture(params=["functions", "evalsha"])
def mode(request):
    return request.param


@pytest.fixture
def loader(mode):
    return Scripts(LUA, library="contract", use_functions=(mode == "functions"))


@pytest.fixture
def client(redis_server):
    c = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield c
    c.close()


def forget_scripts(client: redis.Redis) -> None:
    """What a restart without persistence (or a failover) does to loaded scripts."""
    client.function_flush()
    client.script_flush()


class TestContract:
    def test_keys_and_args_reach_the_script(self, loader, client, mode):
        assert loader.call(client, "echo_types", keys=["k"], args=["7", "int"]) == 7
        assert client.get("k") == "7"
        assert loader.mode(client) == mode

    @pytest.mark.parametrize(("kind", "expected"), [
        ("int", 12), ("string", "12"), ("table", ["k", "12", 42]), ("nil", None),
    ])
    def test_reply_types(self, loader, client, kind, expected):
        assert loader.call(client, "echo_types", keys=["k"], args=["12", kind]) == expected

    def test_error_reply_raises(self, loader, client):
        with pytest.raises(redis.ResponseError, match="asked for an error"):
            loader.call(client, "echo_types", keys=["k"], args=["1", "error"])

    def test_recovers_when_the_server_forgot_the_scripts(self, loader, client):
        loader.call(client, "echo_types", keys=["k"], args=["1", "int"])
        forget_scripts(client)
        assert loader.call(client, "echo_types", keys=["k"], args=["2", "int"]) == 2
        assert loader.call(client, "echo_types", keys=["k"], args=["3", "int"]) == 3

    def test_recovery_costs_three_round_trips_then_one(self, loader, redis_server):
        from redis_patterns.tracing import TracingConnection

        traced = redis.Redis.from_url(redis_server.url, connection_class=TracingConnection)
        traced.ping()
        loader.call(traced, "echo_types", keys=["k"], args=["1", "int"])
        forget_scripts(traced)
        with tracing() as recovering:
            loader.call(traced, "echo_types", keys=["k"], args=["1", "int"])
        with tracing() as steady:
            loader.call(traced, "echo_types", keys=["k"], args=["1", "int"])
        assert recovering.round_trip_count == 3
        assert steady.round_trip_count == 1
        traced.close()

    def test_queue_in_a_pipeline(self, loader, client):
        pipe = client.pipeline(transaction=False)
        loader.queue(client, pipe, "echo_types", keys=["a"], args=["5", "int"])
        loader.queue(client, pipe, "echo_types", keys=["b"], args=["6", "string"])
        assert pipe.execute() == [5, "6"]

    def test_unknown_script_name(self, loader, client):
        with pytest.raises(KeyError, match="no script"):
            loader.call(client, "nope")

    def test_async_twin_gives_the_same_results(self, loader, redis_server):
        async def scenario():
            aclient = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
            first = await loader.acall(aclient, "echo_types", keys=["k"], args=["9", "table"])
            await aclient.function_flush()
            await aclient.script_flush()
            second = await loader.acall(aclient, "echo_types", keys=["k"], args=["10", "int"])
            await aclient.aclose()
            return first, second

        assert asyncio.run(scenario()) == (["k", "9", 42], 10)


def test_default_mode_uses_functions_on_redis_7(client):
    loader = Scripts(LUA, library="contract")
    loader.call(client, "echo_types", keys=["k"], args=["1", "int"])
    assert loader.mode(client) == "functions"
    libs = client.function_list(library=loader.library)
    assert libs, "the library was loaded with FUNCTION LOAD"


def test_no_writes_flag_allows_fcall_ro(client):
    loader = Scripts(LUA, library="contract", use_functions=True)
    client.set("ro", "value")
    loader.call(client, "read_only", keys=["ro"])
    assert client.fcall_ro(loader.function_name("read_only"), 1, "ro") == "value"
    with pytest.raises(redis.ResponseError):
        client.fcall_ro(loader.function_name("echo_types"), 1, "k", "1", "int")


def test_falls_back_to_evalsha_when_the_server_has_no_functions(redis_server_factory):
    """A server without FCALL (renamed away here, as on Redis 6) gets EVALSHA."""
    server = redis_server_factory(config={"rename-command": "FCALL fcall-disabled-for-test"})
    client = redis.Redis.from_url(server.url, decode_responses=True)
    loader = Scripts(LUA, library="contract")
    assert loader.call(client, "echo_types", keys=["k"], args=["4", "int"]) == 4
    assert loader.mode(client) == "evalsha"
    client.script_flush()
    assert loader.call(client, "echo_types", keys=["k"], args=["5", "int"]) == 5


def test_library_name_changes_with_the_source(tmp_path):
    (tmp_path / "one.lua").write_text("return 1\n")
    first = Scripts(tmp_path, library="lib").library
    (tmp_path / "one.lua").write_text("return 2\n")
    assert Scripts(tmp_path, library="lib").library != first


def test_rejects_script_names_that_are_not_identifiers(tmp_path):
    (tmp_path / "Bad-Name.lua").write_text("return 1\n")
    with pytest.raises(ValueError, match="lower_snake_case"):
        Scripts(tmp_path)


def test_project_scripts_load_and_work(client):
    """The scripts shipped in redis_patterns/lua, through the default loader."""
    scripts = Scripts("redis_patterns")
    assert scripts.call(client, "set_if_higher", keys=["hs"], args=[10, 0]) == [1, 10]
    assert scripts.call(client, "set_if_higher", keys=["hs"], args=[5, 0]) == [0, 10]
    assert scripts.call(client, "set_if_higher", keys=["hs"], args=[11, 60_000]) == [1, 11]
    assert 0 < client.pttl("hs") <= 60_000
    client.set("lock", "token-a")
    assert scripts.call(client, "compare_and_delete", keys=["lock"], args=["token-b"]) == 0
    assert scripts.call(client, "compare_and_delete", keys=["lock"], args=["token-a"]) == 1
    assert client.exists("lock") == 0


class TestPipelinesRecover:
    """A pipeline cannot reload a forgotten script mid-flight; execute() and run_pipeline() do."""

    def test_execute_reruns_only_the_forgotten_script(self, loader, client):
        loader.call(client, "echo_types", keys=["k"], args=["1", "int"])
        forget_scripts(client)
        pipe = client.pipeline(transaction=False)
        pipe.incr("counter")
        loader.queue(client, pipe, "echo_types", keys=["a"], args=["5", "int"])
        assert loader.execute(client, pipe) == [1, 5]
        assert client.get("counter") == "1"  # the plain command was not repeated
        # and the next pipeline works without any call() in between
        pipe = client.pipeline(transaction=False)
        loader.queue(client, pipe, "echo_types", keys=["b"], args=["6", "string"])
        assert loader.execute(client, pipe) == ["6"]

    def test_run_pipeline_reruns_a_dependent_pipeline(self, loader, client):
        loader.call(client, "echo_types", keys=["k"], args=["1", "int"])
        forget_scripts(client)

        def build(pipe):
            loader.queue(client, pipe, "echo_types", keys=["built"], args=["7", "nil"])
            pipe.get("built")  # reads what the script wrote

        assert loader.run_pipeline(client, build) == [None, "7"]

    def test_execute_raises_other_errors(self, loader, client):
        pipe = client.pipeline(transaction=False)
        loader.queue(client, pipe, "echo_types", keys=["a"], args=["1", "error"])
        with pytest.raises(redis.ResponseError, match="asked for an error"):
            loader.execute(client, pipe)


def test_loader_is_one_shared_object_per_package():
    from redis_patterns.scripts import loader

    assert loader("redis_patterns") is loader("redis_patterns")
    assert loader("redis_patterns") is not loader("leaderboard")
    assert "set_if_higher" in loader("redis_patterns").scripts
