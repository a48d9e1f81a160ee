"""pytest plugin: a private redis-server for the whole test session.

Loaded with ``-p tests.redis_harness`` (see ``pyproject.toml``) so it runs
*before* pytest-django imports the settings: the server is started and
``REDIS_URL`` points at it by the time ``config.settings`` reads the
environment.  Every Redis user (the app's clients, the cache, the channel
layer, Celery) is thereby aimed at a server this session owns; the Redis on
127.0.0.1:6379 is never touched.
"""

from __future__ import annotations

import os
import tempfile

import pytest

from redis_patterns.servers import RedisServer

_state: dict[str, object] = {}

#: Variables that could aim a Redis user somewhere else; the suite clears them.
_REDIS_VARS = (
    "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER", "REDIS_CLUSTER_NODES", "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND", "CHANNEL_REDIS_URL", "REDIS_USERNAME", "REDIS_PASSWORD",
)


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    server = RedisServer(name="pytest-redis").start()
    _state["server"] = server
    var_dir = tempfile.mkdtemp(prefix="pytest-var-")
    _state["var_dir"] = var_dir
    os.environ["REDIS_URL"] = server.url
    for name in _REDIS_VARS:
        os.environ.pop(name, None)
    os.environ["VAR_DIR"] = var_dir
    os.environ.setdefault("SECRET_KEY", "test-only-secret-key-" + "k" * 40)
    os.environ.setdefault("REDIS_KEY_PREFIX", "t")
    # Settings refuse to start (here and in every subprocess, which inherits
    # this) if any Redis user would be aimed at the machine's shared Redis.
    os.environ["REDIS_FORBIDDEN_ADDRESSES"] = "127.0.0.1:6379,localhost:6379"
    return (yield)


def pytest_unconfigure(config):
    server = _state.pop("server", None)
    if isinstance(server, RedisServer):
        server.cleanup()


def session_server() -> RedisServer:
    server = _state["server"]
    assert isinstance(server, RedisServer)
    return server
