"""Shared fixtures: the private Redis, extra servers, a live ASGI server, a browser.

- ``redis_server``: the session's private server (started by ``tests.redis_harness``).
- ``server_info``: what that server is (product, version, modules); the markers
  ``requires_server(redis="7.4", valkey="9.0")`` and ``requires_modules("search", ...)``
  skip a test on a server that cannot run it (see ``tests.redis_harness``).
- ``r``: a traced client like the app's, as the server's ``default`` user, for
  the test's own keys (``scaffold_client``); the app's own clients connect as
  the least-privileged ``app`` user, and a test during which the app was
  refused anything fails (``app_user_refusals``).
- Every test starts with an empty server: after each test the private server
  is flushed (it is ours; no other server is ever flushed) and restarted if a
  test stopped it.
- ``redis_server_factory``: more servers for labs (replicas, Sentinels,
  Cluster nodes, persistence on); all are stopped at the end of the test.
- ``live_server_url``: the ASGI app (HTTP and WebSockets) served by uvicorn in
  a thread, against the test database.
- ``page``: a Playwright page in Debian's headless Chromium.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from redis_patterns import servers
from redis_patterns.servers import RedisServer
from tests.redis_harness import ServerInfo, session_info, session_server

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def redis_server() -> RedisServer:
    return session_server()


@pytest.fixture(scope="session")
def server_info() -> ServerInfo:
    """The session server's product, version and loaded modules."""
    return session_info()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """On PostgreSQL (``DATABASE_URL``), a test database name of this run's own.

    Several test runs share the machine's PostgreSQL at once; pytest-django's
    default name (``test_<name>``) would have them create, use and drop the
    same database.  SQLite needs nothing: its test file is under this run's
    ``VAR_DIR``.
    """
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.postgresql":
        db.setdefault("TEST", {})["NAME"] = f"test_{db['NAME']}_{os.getpid()}"


def _raw(server: RedisServer) -> redis.Redis:
    # A plain client (not traced, not the app's) for fixtures and assertions.
    return redis.Redis(host=server.host, port=server.port, decode_responses=True, socket_timeout=5)


def app_user_refusals(client: redis.Redis) -> list[str]:
    """What the server refused the app user since the last look (``ACL LOG``), and forget it."""
    entries = [e for e in client.acl_log(count=100) if e.get("username") == "app"]
    client.acl_log_reset()
    return [f"{e.get('reason')} {e.get('object')!r} ({e.get('context')}, {e.get('count')}x)" for e in entries]


@pytest.fixture(autouse=True)
def _fresh_redis(redis_server: RedisServer, request: pytest.FixtureRequest) -> Iterator[None]:
    from config.redis import forget_redis_health, get_redis

    forget_redis_health()
    # The app's pool holds an authenticated connection before the test starts, as a running site's
    # does: a test counting round trips counts the request's, not the app user's AUTH handshake.
    try:
        get_redis().ping()
    except redis.RedisError:
        pass
    yield
    if not redis_server.running:
        redis_server.start()
        from config.redis import reset_clients

        reset_clients()
    client = _raw(redis_server)
    undeclared = set() if _audit_exempt(request) else _undeclared_keys(client)
    refused = app_user_refusals(client)
    client.flushall()
    client.function_flush()
    client.script_flush()
    client.close()
    forget_redis_health()
    if refused:
        pytest.fail("the app user was refused by Redis's ACL (config/acl.py; regenerate its command rules with "
                    "REDIS_ACL_LEARN=1 make test if the app needs a new command): " + "; ".join(refused))
    if undeclared:
        pytest.fail("keys written under the app's prefix that no family in the key registry declares "
                    "(declare them with @family in the app's keys.py, or config.keyspace.declare): "
                    + ", ".join(sorted(undeclared)[:10]), pytrace=False)


def _audit_exempt(request: pytest.FixtureRequest) -> bool:
    """``tests/redis_patterns/`` (framework-free patterns on names the tests choose) and ``scratch_keys`` tests."""
    return "redis_patterns" in request.node.path.parts or request.node.get_closest_marker("scratch_keys") is not None


def _undeclared_keys(client: redis.Redis) -> set[str]:
    """The key-registry audit, after every test: each key this test left under the app's prefix must
    belong to a declared family (``config.keyspace.family_of``).  Keys without the prefix are the pattern
    tests' own scratch names (``redis_patterns`` is framework-free and names nothing)."""
    from config.keyspace import family_of

    prefix = os.environ.get("REDIS_KEY_PREFIX", "")
    if not prefix:
        return set()
    found = set()
    for name in client.scan_iter(match=f"{prefix}:*", count=1000):
        if family_of(name, prefix=prefix) is None:
            found.add(name)
    return found


@pytest.fixture
def raw_redis(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A plain client on the private server, for looking at what the app wrote."""
    client = _raw(redis_server)
    yield client
    client.close()


def scaffold_client(*, is_async: bool = False, decode_responses: bool = True):
    """A client like the app's (traced, same timeouts and retries) as the server's ``default`` user.

    The app's own clients (``config.redis.get_redis``) connect as the
    least-privileged ``app`` user: only the keys its ``keys.py`` files declare,
    no ``FLUSHALL``.  Tests that drive a pattern with keys of their own, or
    set up and inspect state, are scaffolding, not the app: they use this.
    Subprocesses find the same server in ``REDIS_TEST_SCAFFOLD_URL``.
    """
    import dataclasses

    from config.redis import build_client, redis_config

    config = dataclasses.replace(redis_config(), url=os.environ["REDIS_TEST_SCAFFOLD_URL"])
    return build_client(config=config, is_async=is_async, decode_responses=decode_responses)


@pytest.fixture
def r() -> Iterator[redis.Redis]:
    """A traced client on the private server for the test's own keys (``scaffold_client``).

    Connected before the test starts, so a test counting round trips does not count its handshake.
    """
    client = scaffold_client()
    client.ping()
    yield client
    client.close()


@pytest.fixture
def redis_server_factory() -> Iterator[Callable[..., RedisServer]]:
    """``redis_server_factory(config={...})`` -> a started server, stopped after the test.

    Also ``redis_server_factory.replica(primary)``, ``.sentinel(primary)`` and
    ``.cluster(n)`` for the HA labs.
    """
    started: list[RedisServer] = []

    def make(**kwargs) -> RedisServer:
        server = RedisServer(**kwargs).start()
        started.append(server)
        return server

    def replica(primary: RedisServer, **kwargs) -> RedisServer:
        server = servers.start_replica(primary, **kwargs)
        started.append(server)
        return server

    def sentinel(primary: RedisServer, **kwargs) -> servers.SentinelServer:
        server = servers.SentinelServer(primary, **kwargs).start()
        started.append(server)
        return server

    def cluster(masters: int = 3) -> list[RedisServer]:
        nodes = servers.start_cluster(masters)
        started.extend(nodes)
        return nodes

    make.replica = replica  # type: ignore[attr-defined]
    make.sentinel = sentinel  # type: ignore[attr-defined]
    make.cluster = cluster  # type: ignore[attr-defined]
    yield make
    for server in started:
        server.cleanup()


def command_calls(client, command: str, field: str = "calls") -> int:
    """How many times the server ran ``command`` (``INFO commandstats``; commands a script ran count too)."""
    return client.info("commandstats").get(f"cmdstat_{command.lower()}", {}).get(field, 0)


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> object:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)


_TIMED = ("config.redis._HEALTH_TTL", "shop.caching.SWITCHES_TTL", "realtime.selectors.BROADCAST_MEMO_SECONDS")


@pytest.fixture
def refresh_timed_caches(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """A function that refreshes now what a process re-reads from Redis every two seconds, and holds it.

    Every page's banners ask ``cached_redis_health`` (a PING at most every two
    seconds per process) and ``realtime.selectors.broadcast_current`` (an
    XREVRANGE at most every two seconds), and the shop's reads ask
    ``caching.switches()`` (an HGETALL at most every two seconds). A test that
    counts a page's commands calls it just before the request it counts:
    otherwise the count depends on how long ago another test in the same
    process read them (one command and one round trip more or not: the Valkey
    run once counted "8 cmds, 3 rtt" for 7, 2; a Redis Stack run "23 cmds, 4
    rtt" for 22, 3, the extra one the broadcast's XREVRANGE, which this did not
    refresh then). The three stay fresh until the test ends (``monkeypatch``
    puts their two seconds back), so a slow machine cannot let one fall due
    between the refresh and the page; a test that needs a new read still calls
    the ``forget_*`` function.
    """
    from config.redis import cached_redis_health, forget_redis_health
    from realtime import selectors as realtime_selectors
    from shop import caching

    def refresh() -> None:
        for target in _TIMED:
            monkeypatch.setattr(target, float("inf"))
        forget_redis_health()
        cached_redis_health()
        caching.forget_switches()
        caching.switches()
        realtime_selectors.forget_current_broadcast()
        realtime_selectors.broadcast_current()

    return refresh


def round_trips(response) -> list[list[str]]:
    """The command names of each round trip a test-client response's request sent: a count assertion's message."""
    return [[c[0] for c in rt.commands] for rt in response.wsgi_request.redis_trace.round_trips]


# --- live ASGI server -------------------------------------------------------------------


@pytest.fixture
def live_server_url(transactional_db, settings) -> Iterator[str]:
    """The full ASGI app served by uvicorn in a background thread."""
    import uvicorn

    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    from config.asgi import application

    port = servers.free_port()
    # The Procfile's server flags (tests/config/test_server_flags.py checks the Procfile itself).
    config = uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                            ws="websockets-sansio", proxy_headers=False, ws_max_size=16384)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=10)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


# --- browser ------------------------------------------------------------------------------


def pytest_collection_modifyitems(config, items):
    # Browser tests last: Playwright's sync API keeps an event loop running on
    # the main thread while a browser is open.
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} not found: run scripts/ensure-browser.sh (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop on this thread; the test's own
    # ORM calls stay synchronous, so tell Django not to refuse them.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-quic",
                      "--no-first-run", "--disable-component-update", "--disable-sync"],
            )
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()
