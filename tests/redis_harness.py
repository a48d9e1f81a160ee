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
import socket
import tempfile

import pytest

from redis_patterns.servers import RedisServer

_state: dict[str, object] = {}

#: Variables that could aim a Redis user somewhere else; the suite clears them.
_REDIS_VARS = (
    "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER", "REDIS_CLUSTER_NODES", "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND", "CHANNEL_REDIS_URL", "REDIS_USERNAME", "REDIS_PASSWORD",
)


def _connections_to_6379() -> int | None:
    """``total_connections_received`` of a Redis on 6379, or None if there is none."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"INFO stats\r\n")
            data = b""
            while b"total_connections_received" not in data or not data.endswith(b"\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("total_connections_received:"):
            return int(line.split(":")[1])
    return None


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # Our own probe is one connection; anything above that came from the suite.
    _state["shared_before"] = _connections_to_6379()
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
    return (yield)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """Fail the run (under CI; warn elsewhere) if anything connected to the Redis on 6379.

    The counter is server-wide: on a developer machine another program may be
    using that Redis at the same time, so only CI, where nothing else runs,
    turns the finding into a failure.
    """
    before = _state.get("shared_before")
    if before is None:
        return
    after = _connections_to_6379()
    if after is not None and after - before > 1:  # 1 = the probe above
        strict = bool(os.environ.get("CI"))
        session.config.get_terminal_writer().line(
            f"{'FAILED' if strict else 'WARNING'}: {after - before - 1} connection(s) reached the Redis on "
            "127.0.0.1:6379 during the run; the suite must never touch it.", red=True)
        if strict:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config):
    server = _state.pop("server", None)
    if isinstance(server, RedisServer):
        server.cleanup()


def session_server() -> RedisServer:
    server = _state["server"]
    assert isinstance(server, RedisServer)
    return server
