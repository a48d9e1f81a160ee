"""The harness's server markers: what they let run, what they skip and why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.redis_harness import ServerInfo, skip_reason

REDIS_70 = ServerInfo(name="Redis", version=(7, 0, 15), binary="/usr/bin/redis-server")
VALKEY_91 = ServerInfo(name="Valkey", version=(9, 1, 2), binary="valkey-server", modules={"lua": 1})
STACK_74 = ServerInfo(name="Redis", version=(7, 4, 1), binary="redis-server",
                      modules={"search": 21005, "ReJSON": 20803, "timeseries": 11202, "bf": 20802})
HASH_FIELD_TTL = pytest.mark.requires_server(redis="7.4", valkey="9.0").mark


@pytest.mark.parametrize("info, expected", [
    (REDIS_70, "needs Redis 7.4+ or Valkey 9.0+ (this is Redis 7.0.15)"),
    (VALKEY_91, None),
    (STACK_74, None),
    (ServerInfo(name="Valkey", version=(8, 1, 0), binary="v"), "needs Redis 7.4+ or Valkey 9.0+ (this is Valkey 8.1.0)"),
])
def test_requires_server_compares_the_product_and_version(info, expected):
    assert skip_reason(info, HASH_FIELD_TTL) == expected


def test_requires_server_skips_a_product_it_does_not_name():
    marker = pytest.mark.requires_server(redis="7.2").mark
    assert skip_reason(VALKEY_91, marker) == "needs Redis 7.2+ (this is Valkey 9.1.2)"
    assert skip_reason(ServerInfo("Redis", (7, 2, 0), "r"), marker) is None
    with pytest.raises(pytest.UsageError):
        skip_reason(REDIS_70, pytest.mark.requires_server("7.4").mark)


def test_requires_modules_names_what_is_missing():
    assert skip_reason(STACK_74, pytest.mark.requires_modules().mark) is None
    assert skip_reason(STACK_74, pytest.mark.requires_modules("json", "bloom").mark) is None
    reason = skip_reason(VALKEY_91, pytest.mark.requires_modules("search", "json").mark)
    assert reason is not None and reason.startswith("needs the server module(s) search, json (this is Valkey 9.1.2")
    without_search = ServerInfo("Redis", (7, 4, 1), "r", modules={"ReJSON": 1})
    reason = skip_reason(without_search, pytest.mark.requires_modules().mark)
    assert reason is not None and "search, timeseries, bf" in reason


@pytest.mark.requires_server(redis="7.4", valkey="9.0")
@pytest.mark.scratch_keys  # a key of its own, outside the key registry
def test_hash_field_expiry_runs_where_the_marker_says(raw_redis):
    # The marker's own example: HEXPIRE exists from Redis 7.4 and Valkey 9.0; on Redis 7.0 this skips.
    raw_redis.hset("t:{h}:session", mapping={"user": "42", "csrf": "x"})
    assert raw_redis.hexpire("t:{h}:session", 60, "csrf") == [1]
    assert 0 < raw_redis.httl("t:{h}:session", "csrf")[0] <= 60
    assert raw_redis.httl("t:{h}:session", "user") == [-1]


@pytest.mark.django_db
def test_this_process_owns_its_server_and_its_test_database(redis_server):
    # Under pytest-xdist each worker is a process of its own: what holds here holds per worker.
    from django.db import connection

    # the app connects as the least-privileged user: the same server, with the app user's credentials
    assert os.environ["REDIS_URL"].startswith("redis://app:") and redis_server.port != 6379
    assert os.environ["REDIS_URL"].endswith(f"@{redis_server.host}:{redis_server.port}/0")
    stat = Path(f"/proc/{redis_server.pid}/stat").read_text()
    assert int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid()  # this process started that server
    if connection.vendor == "sqlite":
        assert Path(connection.settings_dict["NAME"]).parent == Path(os.environ["VAR_DIR"])
