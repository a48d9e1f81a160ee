"""redis_patterns.tracking: client-side caching that the server invalidates (CLIENT TRACKING, RESP3).

The cross-process tests run a second process (``tracking_reader.py``) that
holds its own ``TrackingCache``; this process writes with a plain client that
knows nothing about any cache.  No TTL anywhere: the keys are written without
one and the local copy has none.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.maint_notifications import MaintNotificationsConfig

from redis_patterns.tracking import TrackingCache, TrackingMode, server_tracking_info
from tests.conftest import wait_for
from tests.netproxy import FreezableProxy
from tests.redis_patterns import tracking_reader

ROOT = Path(__file__).resolve().parents[2]
MODES = [pytest.param(("default", ()), id="default"), pytest.param(("bcast", ("t:hot:",)), id="bcast")]


class Reader:
    """The second process: send a request, get its JSON reply."""

    def __init__(self, host: str, port: int, mode: str, prefixes: tuple[str, ...]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.redis_patterns.tracking_reader", host, str(port), mode, *prefixes],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        hello = self._next()
        assert hello["ready"], "the reader's listener did not connect"
        self.listener_id = hello["listener_id"]

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def _next(self, timeout: float = 30.0) -> dict:
        return json.loads(self.lines.get(timeout=timeout))

    def ask(self, op: str, **args: object) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        return self._next()

    def read(self, key: str) -> dict:
        return self.ask("read", key=key)

    def read_until_hit(self, key: str, timeout: float = 10.0) -> dict:
        """Read until a read is served locally (the first one fills; a busy machine may delay the heartbeat)."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.read(key)
            if reply["hit"] or time.monotonic() > deadline:
                return reply
            time.sleep(0.02)

    def close(self) -> None:
        try:  # "quit" has no reply
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(10)


def read_after_write(reader: Reader, key: str, old: object, counter: str, seen: int) -> dict:
    """Read until the old value is gone; the old value may only come from reads that began before
    the reader had been told (``counter`` in its stats still at ``seen``).

    The message travels on its own connection: the server writes a default-mode
    invalidation to the redirect client *after* the reply to the writer (tens
    of µs later on loopback), a BCAST one before it, and a busy machine can
    delay either.  What the reader guarantees is that once it has the message
    (or has seen the drop) it never serves the old value again; how long the
    message takes is measured by ``bench/client_cache.py``.
    """
    deadline = time.monotonic() + 2.0
    while True:
        reply = reader.read(key)
        if reply["value"] != old:
            return reply
        assert reply["before"][counter] == seen, f"old value served after the reader was told: {reply}"
        assert time.monotonic() < deadline, "the reader never heard about the write"


@pytest.fixture
def reader_factory() -> Iterator:
    started: list[Reader] = []

    def make(host: str, port: int, mode: str, prefixes: tuple[str, ...] = ()) -> Reader:
        reader = Reader(host, port, mode, prefixes)
        started.append(reader)
        return reader

    yield make
    for reader in started:
        reader.close()


def connection_factory(host: str, port: int, *, timeout: float = 5.0):
    def make(protocol: int) -> redis.Connection:
        return redis.Connection(host=host, port=port, protocol=protocol, decode_responses=True,
                                socket_timeout=timeout, socket_connect_timeout=timeout,
                                maint_notifications_config=MaintNotificationsConfig(enabled=False))
    return make


@pytest.fixture
def cache_factory(redis_server) -> Iterator:
    made: list[TrackingCache] = []

    def make(mode: str = "default", prefixes: tuple[str, ...] = (), **kwargs) -> TrackingCache:
        cache = TrackingCache(connection_factory(redis_server.host, redis_server.port), mode=TrackingMode(mode),
                              prefixes=prefixes, heartbeat=0.2, **kwargs).start()
        made.append(cache)
        assert cache.ready.wait(15)
        return cache

    yield make
    for cache in made:
        cache.stop()


# --- two processes --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_write_in_one_process_invalidates_the_other_process_copy(mode, redis_server, raw_redis,
                                                                   reader_factory):
    name, prefixes = mode
    key = "t:hot:{1}"
    raw_redis.set(key, "v1")
    reader = reader_factory(redis_server.host, redis_server.port, name, prefixes)

    assert reader.read(key)["value"] == "v1"
    first = reader.read_until_hit(key)
    assert first == {**first, "value": "v1", "hit": True}
    # No TTL anywhere: the key has none, and the copy outlives any heartbeat or silence bound untouched.
    assert raw_redis.ttl(key) == -1
    time.sleep(tracking_reader.MAX_SILENCE * 1.5)
    assert reader.read_until_hit(key)["value"] == "v1"
    told = reader.ask("stats")
    fetches_before = told["fetches"]

    raw_redis.set(key, "v2")  # a plain client: no PUBLISH, no knowledge of any cache

    after = read_after_write(reader, key, "v1", "dropped", told["dropped"])
    assert after["value"] == "v2" and after["hit"] is False
    stats = reader.ask("stats")
    assert stats["dropped"] == 1 and stats["fetches"] == fetches_before + 1
    assert reader.read_until_hit(key)["value"] == "v2"  # cached again, and invalidated again:
    told = reader.ask("stats")
    raw_redis.delete(key)
    gone = read_after_write(reader, key, "v2", "dropped", told["dropped"])
    assert gone["value"] is None and gone["hit"] is False


@pytest.mark.parametrize("mode", MODES)
def test_a_killed_listener_flushes_the_copy_and_never_serves_it(mode, redis_server, raw_redis, reader_factory):
    name, prefixes = mode
    key = "t:hot:{2}"
    raw_redis.set(key, "v1")
    reader = reader_factory(redis_server.host, redis_server.port, name, prefixes)
    assert reader.read_until_hit(key)["value"] == "v1"

    # The connection drops (killed by the server side); a write follows at once, whose
    # invalidation nobody will ever deliver to the reader.
    flushes = reader.ask("stats")["flushes"]
    assert raw_redis.client_kill_filter(_id=reader.listener_id) == 1
    raw_redis.set(key, "v2")

    after = read_after_write(reader, key, "v1", "flushes", flushes)  # never v1 once the drop was seen
    assert after["value"] == "v2" and after["hit"] is False
    stats = reader.ask("stats")
    assert stats["flushes"] >= 2  # the first connect, then the loss
    assert "lost" in stats["last_flush_reason"] or "connected" in stats["last_flush_reason"]
    back = reader.ask("wait_ready")
    assert back["ready"] and back["listener_id"] != reader.listener_id
    assert reader.read_until_hit(key)["value"] == "v2"
    told = reader.ask("stats")
    raw_redis.set(key, "v3")
    assert read_after_write(reader, key, "v2", "dropped", told["dropped"])["value"] == "v3"  # the new listener is told


@pytest.mark.parametrize("mode", MODES)
def test_a_silent_drop_serves_nothing_past_max_silence(mode, redis_server, raw_redis, reader_factory):
    """A partition: no error, no bytes.  The copy is served at most ``max_silence`` past the last PONG."""
    name, prefixes = mode
    key = "t:hot:{3}"
    raw_redis.set(key, "v1")
    proxy = FreezableProxy(redis_server.host, redis_server.port)
    try:
        reader = reader_factory("127.0.0.1", proxy.port, name, prefixes)
        assert reader.read_until_hit(key)["value"] == "v1"

        frozen_at = time.monotonic()
        proxy.freeze()
        raw_redis.set(key, "v2")  # its invalidation is stuck in the frozen relay

        replies = []
        while time.monotonic() < frozen_at + tracking_reader.DEAD_AFTER + 1.0:
            replies.append(reader.read(key))
            time.sleep(0.05)
        stale = [r for r in replies if r["value"] == "v1"]
        # The last PONG answered a PING sent before the freeze: v1 may be served until
        # max_silence after that, never later (50 ms of slack for building the reply).
        assert all(r["t"] <= frozen_at + tracking_reader.MAX_SILENCE + 0.05 for r in stale), stale
        assert any(r["t"] > frozen_at + tracking_reader.MAX_SILENCE and r["value"] != "v1" for r in replies)
        assert reader.ask("stats")["entries"] == 0  # flushed once the listener was declared dead

        proxy.thaw()
        assert reader.ask("wait_ready")["ready"]
        assert wait_for(lambda: reader.read(key)["value"] == "v2", timeout=15)
    finally:
        proxy.close()


# --- one process ------------------------------------------------------------------------------


def test_a_fill_racing_a_write_is_returned_but_not_cached(cache_factory, raw_redis):
    cache = cache_factory("default")
    raw_redis.set("t:race", "old")

    def accept(raw):
        # Between the GET's reply and the store: another client writes, and the
        # invalidation reaches the listener first.
        before = cache.stats.messages
        raw_redis.set("t:race", "new")
        wait_for(lambda: cache.stats.messages > before, timeout=5)
        return raw, True

    value, hit = cache.read("t:race", accept=accept)
    assert (value, hit) == ("old", False)
    assert cache.get("t:race") is TrackingCache.MISSING and cache.stats.fills_cancelled == 1
    assert cache.read("t:race") == ("new", False)


def test_a_server_restart_flushes_and_tracking_resumes(cache_factory, redis_server, raw_redis):
    cache = cache_factory("default")
    raw_redis.set("t:k", "v1")
    cache.read("t:k")
    assert wait_for(lambda: cache.read("t:k") == ("v1", True))
    redis_server.stop()
    assert cache.get("t:k") is TrackingCache.MISSING
    assert len(cache) == 0
    redis_server.start()
    client = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
    client.set("t:k", "v2")
    assert cache.ready.wait(15)
    assert wait_for(lambda: cache.read("t:k") == ("v2", True), timeout=10)
    client.set("t:k", "v3")
    assert wait_for(lambda: cache.read("t:k") == ("v3", False), timeout=2)
    client.close()


def test_default_mode_is_told_about_keys_it_read_bcast_about_every_key_under_its_prefix(cache_factory, raw_redis):
    default = cache_factory("default")
    bcast = cache_factory("bcast", ("t:bc:",))
    raw_redis.mset({"t:bc:read": "1", "t:bc:unread": "1", "t:elsewhere": "1"})
    default.read("t:bc:read")
    bcast.read("t:bc:read")
    d0, b0 = default.stats.messages, bcast.stats.messages
    raw_redis.set("t:bc:unread", "2")   # nobody read it
    raw_redis.set("t:elsewhere", "2")   # outside the prefix
    raw_redis.set("t:bc:read", "2")     # both read it
    wait_for(lambda: default.stats.messages > d0 and bcast.stats.messages >= b0 + 2)
    time.sleep(0.1)
    assert default.stats.messages - d0 == 1       # only the key it read
    assert bcast.stats.messages - b0 == 2         # every write under the prefix, read or not
    info = server_tracking_info(raw_redis)
    assert info["tracking_total_prefixes"] >= 1 and info["tracking_clients"] >= 2


def test_flushall_on_the_server_empties_the_copy(cache_factory, raw_redis):
    cache = cache_factory("bcast", ("t:",))
    raw_redis.set("t:a", "1")
    assert wait_for(lambda: cache.read("t:a") == ("1", True))
    raw_redis.flushall()
    wait_for(lambda: len(cache) == 0)
    assert cache.last_flush_reason == "the server flushed its keys"


def test_the_copy_is_bounded_and_measured(cache_factory, raw_redis):
    cache = cache_factory("default", max_items=3)
    for i in range(5):
        raw_redis.set(f"t:m:{i}", "x" * 100)
        cache.read(f"t:m:{i}")
    assert len(cache) == 3 and cache.keys() == ["t:m:2", "t:m:3", "t:m:4"]
    assert 3 * 100 < cache.memory_bytes() < 3 * 1000


def test_settings_are_checked():
    with pytest.raises(ValueError):
        TrackingCache(lambda p: None, mode=TrackingMode.DEFAULT, prefixes=("a",))
    with pytest.raises(ValueError):
        TrackingCache(lambda p: None, heartbeat=1.0, max_silence=0.5)


@pytest.mark.parametrize("verify", [True, False])
def test_a_hit_first_reads_what_the_listener_socket_holds(redis_server, raw_redis, verify):
    """No listener thread here (connected by hand): only ``get`` can read the socket."""
    cache = TrackingCache(connection_factory(redis_server.host, redis_server.port), heartbeat=0.2,
                          verify_on_read=verify)
    listener = cache._connect_listener()
    try:
        raw_redis.set("t:v", "old")
        cache.read("t:v")
        assert cache.get("t:v") == "old"
        raw_redis.set("t:v", "new")
        time.sleep(0.05)  # the invalidation is in the listener's socket by now, unread
        assert (cache.get("t:v") is TrackingCache.MISSING) is verify
    finally:
        cache._close(listener)
        cache.stop()
