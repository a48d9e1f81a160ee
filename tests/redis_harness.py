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

Under pytest-xdist every worker is its own process and runs this plugin, so
each worker has its own server and its own ``VAR_DIR`` (and so its own SQLite
test database file): workers share nothing.

Which server: ``REDIS_SERVER_BIN``, ``REDIS_SERVER_ARGS`` and
``REDIS_SERVER_ENV`` (see ``redis_patterns.servers``).  The pytest header
names it ("redis server: Valkey 9.1.2 ..."), and two markers let a test say
what it needs from it:

``@pytest.mark.requires_server(redis="7.4", valkey="9.0")``
    Skip unless the server is one of the named products at that version or
    newer (keywords are product names as ``--version`` prints them, any case).
    The reason names what is needed and what runs, e.g. "needs Redis 7.4+ or
    Valkey 9.0+ (this is Redis 7.0.15)".
``@pytest.mark.requires_modules("search", "json")``
    Skip unless the server has loaded those modules (``MODULE LIST`` names;
    ``json``/``bloom`` are accepted for ``ReJSON``/``bf``).  With no names: the
    four Redis Stack modules this project can use (search, ReJSON, timeseries,
    bf).  ``make test-servers`` runs the suite on Redis Stack with them loaded,
    and sets ``REDIS_SERVER_EXPECT_MODULES`` there so that a server that failed
    to load them stops the run instead of skipping those tests quietly.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from redis_patterns.servers import RedisServer, server_name, server_version

_state: dict[str, object] = {}
ROOT = Path(__file__).resolve().parent.parent

#: Variables that could aim a Redis user somewhere else; the suite clears them.
_REDIS_VARS = (
    "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER", "REDIS_CLUSTER_NODES", "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND", "CHANNEL_REDIS_URL", "REDIS_USERNAME", "REDIS_PASSWORD",
)

#: The Redis Stack modules the project may use, by their ``MODULE LIST`` names.
STACK_MODULES = ("search", "ReJSON", "timeseries", "bf")
_MODULE_ALIASES = {"json": "rejson", "bloom": "bf", "redisearch": "search", "ts": "timeseries"}


@dataclass(frozen=True)
class ServerInfo:
    """What the session's server is: product, version, binary, loaded modules."""

    name: str
    version: tuple[int, int, int]
    binary: str
    args: tuple[str, ...] = ()
    modules: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``"Redis 7.4.1"``; the pytest header adds the modules."""
        return f"{self.name} {'.'.join(map(str, self.version))}"

    def missing_modules(self, names: tuple[str, ...]) -> list[str]:
        loaded = {m.lower() for m in self.modules}
        return [n for n in names if _MODULE_ALIASES.get(n.lower(), n.lower()) not in loaded]


def _parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def skip_reason(info: ServerInfo, marker: pytest.Mark) -> str | None:
    """Why a test with ``marker`` cannot run on ``info``'s server, or ``None`` when it can."""
    if marker.name == "requires_server":
        if marker.args or not marker.kwargs:
            raise pytest.UsageError("requires_server takes keywords only, e.g. requires_server(redis='7.4')")
        needed = {product.lower(): minimum for product, minimum in marker.kwargs.items()}
        minimum = needed.get(info.name.lower())
        if minimum is not None and info.version[: len(_parse_version(minimum))] >= _parse_version(minimum):
            return None
        wanted = " or ".join(f"{product.capitalize()} {v}+" for product, v in marker.kwargs.items())
        return f"needs {wanted} (this is {info.label})"
    if marker.name == "requires_modules":
        names = tuple(marker.args) or STACK_MODULES
        missing = info.missing_modules(names)
        if not missing:
            return None
        have = ", ".join(sorted(info.modules)) or "no modules"
        return (f"needs the server module(s) {', '.join(missing)} (this is {info.label} with {have}; "
                "make test-servers runs these on Redis Stack)")
    return None


def _module_list(server: RedisServer) -> dict[str, int]:
    client = redis.Redis(host=server.host, port=server.port, socket_timeout=5)
    try:
        return {
            (m[b"name"] if isinstance(m[b"name"], str) else m[b"name"].decode()): int(m[b"ver"])
            for m in client.module_list()
        }
    finally:
        client.close()


#: Module commands no app may run: server-wide settings and debugging.
_MODULE_DENIED = {"ft.config", "ft.debug", "ft._list"}


def _grant_module_commands(server: RedisServer, modules: dict[str, int]) -> None:
    """On a server with the Stack modules, the app user may also send their commands (the shop's module paths).

    The ACL file cannot name them (a server without the modules refuses an
    unknown command in it), so they are granted here once the server says
    which it has, and saved into the file (``ACL SAVE``): a restarted server
    keeps them.  Module commands carry no ACL category the app's rules name.
    """
    if not modules:
        return
    client = redis.Redis(host=server.host, port=server.port, decode_responses=True, socket_timeout=5)
    try:
        names: set[str] = set()
        for module in modules:
            names.update(c.lower() for c in client.command_list(module=module))
        grants = [f"+{name}" for name in sorted(names - _MODULE_DENIED) if "." in name]
        if grants:
            client.execute_command("ACL", "SETUSER", "app", *grants)
            client.execute_command("ACL", "SAVE")
    finally:
        client.close()


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
    # Metrics files live under VAR_DIR too: an inherited directory (the xdist
    # controller's, which settings exported) would merge two workers' counters.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    os.environ.setdefault("SECRET_KEY", "test-only-secret-key-" + "k" * 40)
    os.environ.setdefault("REDIS_KEY_PREFIX", "t")
    # Settings refuse to start (here and in every subprocess, which inherits
    # this) if any Redis user would be aimed at the machine's shared Redis.
    os.environ["REDIS_FORBIDDEN_ADDRESSES"] = "127.0.0.1:6379,localhost:6379"
    learn = os.environ.get("REDIS_ACL_LEARN", "") not in ("", "0")
    acl_path, app_password = _acl_file(var_dir, learn)
    server = RedisServer(name="pytest-redis", config={"aclfile": acl_path}).start()
    _state["server"] = server
    _state["info"] = ServerInfo(
        name=server_name(server.binary), version=server_version(server.binary), binary=server.binary,
        args=server.spec.args, modules=_module_list(server),
    )
    _grant_module_commands(server, _state["info"].modules)
    # The app's URL carries the app user; server.url (no user) is the default user, for fixtures.
    os.environ["REDIS_URL"] = f"redis://app:{app_password}@{server.host}:{server.port}/0"
    os.environ["REDIS_TEST_SCAFFOLD_URL"] = server.url  # the default user: for tests' own keys (conftest)
    # The ops pages read as an admin (SLOWLOG, LATENCY, CONFIG GET): here the default user (nopass, all rights).
    os.environ["REDIS_OPS_USERNAME"], os.environ["REDIS_OPS_PASSWORD"] = "default", "any"
    if learn:
        from tests.acl_learn import Recorder

        _state["recorder"] = recorder = Recorder(server.host, server.port)
        recorder.start()
    return (yield)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "requires_server(redis='7.4', valkey='9.0'): skip unless the server is one of these "
        "products at that version or newer")
    config.addinivalue_line(
        "markers", "requires_modules(*names): skip unless the server has loaded these modules "
        "(default: search, ReJSON, timeseries, bf)")
    expected = [n for n in os.environ.get("REDIS_SERVER_EXPECT_MODULES", "").replace(",", " ").split() if n]
    missing = session_info().missing_modules(tuple(expected))
    if missing:
        raise pytest.UsageError(
            f"REDIS_SERVER_EXPECT_MODULES asks for {', '.join(missing)}, which {session_info().label} did not "
            f"load (REDIS_SERVER_ARGS={os.environ.get('REDIS_SERVER_ARGS', '')!r})")


def _header_lines() -> list[str]:
    info = session_info()
    modules = ", ".join(f"{name} {ver}" for name, ver in sorted(info.modules.items())) or "none"
    lines = [f"redis server: {info.label} ({info.binary}), modules: {modules}"]
    if info.args:
        lines.append(f"redis server args: {' '.join(info.args)}")
    return lines


def pytest_report_header(config):
    return _header_lines()


def pytest_sessionstart(session):
    # -q hides the header; the server a run used belongs in every log, so say it anyway.
    config = session.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and config.get_verbosity() < 0 and not hasattr(config, "workerinput"):
        for line in _header_lines():
            reporter.write_line(line)


def pytest_collection_modifyitems(config, items):
    # A skip marker added at collection is reported at the test's own location.
    info = session_info()
    for item in items:
        for name in ("requires_server", "requires_modules"):
            for marker in item.iter_markers(name):
                reason = skip_reason(info, marker)
                if reason:
                    item.add_marker(pytest.mark.skip(reason=reason))


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
    var_dir = _state.pop("var_dir", None)
    if isinstance(var_dir, str):
        shutil.rmtree(var_dir, ignore_errors=True)  # the SQLite test database and whatever else ran here


def session_server() -> RedisServer:
    server = _state["server"]
    assert isinstance(server, RedisServer)
    return server


def session_info() -> ServerInfo:
    """The session server's product, version and modules (read once, at start-up)."""
    info = _state["info"]
    assert isinstance(info, ServerInfo)
    return info
