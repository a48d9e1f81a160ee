"""pytest plugin: a private redis-server for the whole test session.

Loaded with ``-p tests.redis_harness`` (see ``pyproject.toml``) so it runs
*before* pytest-django imports the settings: the server is started and
``REDIS_URL`` points at it by the time ``config.settings`` reads the
environment.  The server runs with the project's ACL file: the app connects
as the least-privileged ``app`` user, as under ``make run`` and compose, and
a test whose app code was refused a command fails (``tests/conftest.py``).
``REDIS_ACL_LEARN=1`` lets ``app`` do anything and records what it sends, to
regenerate its rules (``tests/acl_learn.py``).  Every Redis user (the app's clients, the cache, the channel
layer, Celery) is thereby aimed at a server this session owns; the Redis on
127.0.0.1:6379 is never touched.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from redis_patterns.servers import RedisServer

_state: dict[str, object] = {}
ROOT = Path(__file__).resolve().parent.parent

#: Variables that could aim a Redis user somewhere else; the suite clears them.
_REDIS_VARS = (
    "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER", "REDIS_CLUSTER_NODES", "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND", "CHANNEL_REDIS_URL", "REDIS_USERNAME", "REDIS_PASSWORD",
)


def _acl_file(directory: str, learn: bool) -> tuple[str, str]:
    """The session server's ACL file (``manage.py redis_acl users``) and the app user's password.

    ``default`` stays on with every right here (it plays the admin for the
    fixtures and the pattern tests); every part of the app (this process's
    clients, the channel layer, Celery, every web and worker subprocess)
    connects as ``app``, with the rules ``make run`` and compose use.
    """
    app_password, admin_password = secrets.token_hex(16), secrets.token_hex(16)
    path = os.path.join(directory, "users.acl")
    env = {**os.environ, "REDIS_APP_PASSWORD": app_password, "REDIS_ADMIN_PASSWORD": admin_password,
           "DJANGO_SETTINGS_MODULE": "config.settings", "REDIS_URL": "redis://127.0.0.1:1/0"}
    result = subprocess.run([sys.executable, "manage.py", "redis_acl", "users", "--out", path, "--default-user", "on",
                             *(["--learn"] if learn else [])], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise pytest.UsageError(f"manage.py redis_acl users failed: {result.stderr[-2000:]}")
    return path, app_password


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    var_dir = tempfile.mkdtemp(prefix="pytest-var-")
    _state["var_dir"] = var_dir
    for name in _REDIS_VARS:
        os.environ.pop(name, None)
    os.environ["VAR_DIR"] = var_dir
    os.environ.setdefault("SECRET_KEY", "test-only-secret-key-" + "k" * 40)
    os.environ.setdefault("REDIS_KEY_PREFIX", "t")
    # Settings refuse to start (here and in every subprocess, which inherits
    # this) if any Redis user would be aimed at the machine's shared Redis.
    os.environ["REDIS_FORBIDDEN_ADDRESSES"] = "127.0.0.1:6379,localhost:6379"
    learn = os.environ.get("REDIS_ACL_LEARN", "") not in ("", "0")
    acl_path, app_password = _acl_file(var_dir, learn)
    server = RedisServer(name="pytest-redis", config={"aclfile": acl_path}).start()
    _state["server"] = server
    # The app's URL carries the app user; server.url (no user) is the default user, for fixtures.
    os.environ["REDIS_URL"] = f"redis://app:{app_password}@{server.host}:{server.port}/0"
    os.environ["REDIS_TEST_SCAFFOLD_URL"] = server.url  # the default user: for tests' own keys (conftest)
    if learn:
        from tests.acl_learn import Recorder

        _state["recorder"] = recorder = Recorder(server.host, server.port)
        recorder.start()
    return (yield)


def pytest_unconfigure(config):
    recorder = _state.pop("recorder", None)
    if recorder is not None:
        import redis

        from tests.acl_learn import finish

        client = redis.Redis(host=recorder.host, port=recorder.port, decode_responses=True)
        print("\n" + finish(recorder, client, os.environ.get("REDIS_KEY_PREFIX", "")))
        client.close()
    server = _state.pop("server", None)
    if isinstance(server, RedisServer):
        server.cleanup()


def session_server() -> RedisServer:
    server = _state["server"]
    assert isinstance(server, RedisServer)
    return server
