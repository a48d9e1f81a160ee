"""Server-assisted client-side caching: ``CLIENT TRACKING`` over RESP3, default mode and ``BCAST``.

The idea
    Keep a copy of hot values in the app process, and let *the server* say
    when one changed.  With ``CLIENT TRACKING ON`` Redis remembers which keys
    a connection read and, when one of them is modified, expired, evicted or
    flushed, sends an ``invalidate`` message naming it.  No hand-made
    invalidation channel, no ``PUBLISH`` in every writer, no short TTL on the
    local copy: a writer that knows nothing about the cache (a ``redis-cli``
    session, another service, a Lua script) still invalidates it.

Two connections per process (the "two connections mode" of the Redis docs)
    - **the listener** speaks RESP3 (``HELLO 3``): invalidations arrive on it
      as push messages (``>2 invalidate [keys]``), interleaved with the
      replies to its own heartbeat ``PING``.  A background thread reads it.
    - **the data connection** does the reads that fill the local cache.  In
      default mode it runs ``CLIENT TRACKING ON REDIRECT <listener id>``, so
      the keys *it* reads are tracked and their invalidations are delivered
      to the listener.  In ``BCAST`` mode it needs no tracking at all.

Default tracking vs ``BCAST``
    - **default**: the server tracks exactly the keys each client read (a
      tracking table: ``INFO`` ``tracking_total_keys``, capped by
      ``tracking-table-max-keys``) and sends one message per modified key
      that the client still holds, then forgets it (reading re-registers).
      Few messages; server memory grows with keys × clients.
    - **BCAST** with ``PREFIX``: the server keeps no per-key state; every write
      to any key under the prefixes is announced to every BCAST client,
      cached or not (``tracking_total_prefixes``).  No server memory per key,
      more messages (this module counts how many dropped nothing).

Why not redis-py's own client-side cache (``cache_config=CacheConfig()`` with ``protocol=3``)
    redis-py 7.0.1 (pinned here) has one, and it is the simplest choice where
    it fits.  It does not fit this project:

    1. it refuses every server but Redis 7.4+ (``CacheProxyConnection.connect``
       checks that ``HELLO`` says ``server: redis`` and ``version >= 7.4.0``),
       so it runs neither on this project's baseline, Redis 7.0, nor on Valkey
       (``HELLO`` says ``valkey``), although both have had tracking since 6.0;
    2. it has default tracking only: no ``BCAST``, no ``PREFIX``, no ``OPTIN``;
    3. every pooled connection is its own tracking client, whose invalidations
       are read only when that connection is next used, and a hit still checks
       a connection out of the pool and deep-copies the cached reply;
    4. nothing notices a *silent* drop (no heartbeat): entries stay valid until
       a socket reports an error.

    So this module is a small layer of its own, on redis-py connections.

Guarantees
    - A fill never stores a value that a write has superseded: each fill is
      registered before its ``GET`` is sent; an invalidation for the key (or a
      flush, or a reconnection of the listener) cancels it, so the reply is
      returned but not cached (the classic race between the reply on one
      connection and the invalidation on the other).
    - ``verify_on_read`` (default on): before answering from the local copy,
      ``get`` reads whatever the listener socket already holds (pushes, a
      closed socket).  So a hit reflects every invalidation the server had
      delivered to this process by then; what is left is the time the
      message spends on its way.  Off: hits trust the listener thread, and the
      window adds that thread's scheduling delay (a few ms on a busy machine).
    - That way is not the same in both modes (measured on Redis 7.0, 7.4 and
      Valkey 9.1, loopback): the server writes a BCAST message *before* the
      reply to the writer, and a default-mode message to the redirect client
      *after* it.  On an idle machine most default-mode messages reached the
      listener after the writer had its reply (about 20 µs later at the
      median), so right after a write returns, a read in another process may
      still get the old copy for that long; under load the writer's own
      wake-up hides the gap.  Neither order is a promise of the protocol: the
      window is measured (``python -m bench client_cache``), not zero.
    - Connection lost (socket error, server restart, ``CLIENT KILL``): the local
      cache is flushed the moment the loss is seen, fills in flight are
      cancelled, and nothing is cached until the listener is back (new client
      id, the data connection re-registered with it).
    - A *silent* drop (a partition, a paused server: no error, just no bytes)
      cannot be seen at once by anyone.  The listener sends ``PING`` every
      ``heartbeat`` seconds; every invalidation the server produced before
      answering a ``PING`` is ahead of that ``PONG`` on the same connection, so
      the copy is known good as of the moment the ``PING`` was sent.  ``get``
      serves only while that moment is less than ``max_silence`` seconds old,
      and the cache is flushed after ``dead_after`` seconds without a reply.
      Staleness after a silent drop is therefore bounded by ``max_silence``.

Commands
    `HELLO 3 <https://redis.io/docs/latest/commands/hello/>`_,
    `CLIENT ID <https://redis.io/docs/latest/commands/client-id/>`_,
    `CLIENT TRACKING <https://redis.io/docs/latest/commands/client-tracking/>`_
    (``ON REDIRECT id`` or ``ON BCAST PREFIX p ...``),
    `GET <https://redis.io/docs/latest/commands/get/>`_,
    `PING <https://redis.io/docs/latest/commands/ping/>`_; see
    `client-side caching <https://redis.io/docs/latest/develop/reference/client-side-caching/>`_.

Round trips
    Hit: 0 (with ``verify_on_read`` a non-blocking ``recv`` on the listener
    socket, no network).  Miss: 1 (``GET``).  Heartbeat: one ``PING`` per
    ``heartbeat`` seconds per process, off the request path.

Failure policy
    Never serves what it cannot vouch for: listener down or silent -> every
    read goes to Redis and nothing is cached; Redis down -> ``read`` raises
    the ``RedisError`` (the caller's own policy applies, e.g. the shop's
    cache-aside fails open to the database).  Needs Redis 6.0+ or Valkey;
    standalone or Sentinel (on a Cluster, each node would need its own
    listener: not done here).
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from redis_patterns.hotkeys import approx_size

log = logging.getLogger(__name__)

_MISSING = object()
_PUSH = object()  # what the push handler hands back to ``read_response``

#: ``connection_factory(protocol)`` -> a new, unconnected ``redis.connection.Connection``.
ConnectionFactory = Callable[[int], Any]


class TrackingMode(StrEnum):
    """How the server decides whom to tell."""

    DEFAULT = "default"  # the keys this client read (server-side tracking table)
    BCAST = "bcast"      # every key under the prefixes, to every BCAST client


@dataclass
class TrackingStats:
    """Counters for the demo page and the tests (monotonic, per cache)."""

    hits: int = 0
    misses: int = 0               # not in the local copy (or not servable): went to Redis
    unverified: int = 0           # misses only because the listener was down or silent
    fetches: int = 0              # GETs sent by ``read``
    stored: int = 0               # fills kept
    fills_cancelled: int = 0      # fills dropped: invalidated (or flushed) while in flight
    messages: int = 0             # invalidate pushes received
    keys_invalidated: int = 0     # keys named by them
    dropped: int = 0              # ... that were in the local copy
    flushes: int = 0              # whole-cache flushes (connection lost, FLUSHALL, reconnect)
    connects: int = 0             # listener connections made (1 + reconnections)
    pings: int = 0


class TrackingCache:
    """An in-process cache the server keeps honest; see the module docstring.

    Args:
        connection_factory: ``factory(protocol)`` returns a new unconnected
            redis-py ``Connection`` (``protocol`` 3 for the listener, 2 for
            the data connection) to the server; ``decode_responses=True``.
        mode: ``TrackingMode.DEFAULT`` or ``TrackingMode.BCAST``.
        prefixes: ``BCAST`` prefixes (none: every key of the server).
        max_items: LRU bound of the local copy.
        heartbeat: seconds between listener ``PING`` s.
        max_silence: serve from the local copy only while the last answered
            ``PING`` was sent less than this long ago.
        dead_after: no ``PONG`` for this long: the connection is dead (flush,
            reconnect).
        verify_on_read: drain the listener socket before answering a hit.
        clock: monotonic seconds (inject in tests).
    """

    MISSING = _MISSING

    def __init__(self, connection_factory: ConnectionFactory, *, mode: TrackingMode = TrackingMode.DEFAULT,
                 prefixes: Sequence[str] = (), max_items: int = 1024, heartbeat: float = 0.25,
                 max_silence: float = 1.0, dead_after: float = 3.0, verify_on_read: bool = True,
                 clock: Callable[[], float] = time.monotonic, name: str = "tracking") -> None:
        if mode == TrackingMode.DEFAULT and prefixes:
            raise ValueError("prefixes are for BCAST mode")
        if not 0 < heartbeat < max_silence < dead_after:
            raise ValueError("need 0 < heartbeat < max_silence < dead_after")
        self.factory = connection_factory
        self.mode = TrackingMode(mode)
        self.prefixes = tuple(prefixes)
        self.max_items = max_items
        self.heartbeat = heartbeat
        self.max_silence = max_silence
        self.dead_after = dead_after
        self.verify_on_read = verify_on_read
        self.clock = clock
        self.name = name
        self.stats = TrackingStats()
        self.ready = threading.Event()    # set while the listener is connected
        self.last_flush_reason = ""
        # _lock: the local copy, fills in flight, epoch.  _io_lock: the listener
        # socket (the thread and ``get`` both drain it).  _data_lock: the data
        # connection.  Order: _io_lock or _data_lock, then _lock; never the reverse.
        self._lock = threading.Lock()
        self._io_lock = threading.Lock()
        self._data_lock = threading.Lock()
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._pending: dict[str, set[int]] = {}
        self._seq = 0
        self._epoch = 0                    # bumped by every flush: cancels fills in flight
        self._generation = 0               # bumped when the listener connects or is lost
        self._listener_id: int | None = None
        self._listener: Any = None
        self._listener_ok = False
        self._verified_at = float("-inf")  # when the last answered PING was sent
        self._outstanding: deque[float] = deque()
        self._data: Any = None
        self._data_generation = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> TrackingCache:
        """Start the listener thread if it is not running (idempotent, thread-safe)."""
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name=f"tracking:{self.name}", daemon=True)
                self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the listener, close both connections, forget the local copy."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._data_lock:
            self._close(self._data)
            self._data = None
        self._lost("stopped", quiet=True)

    @property
    def listener_id(self) -> int | None:
        """The listener's ``CLIENT ID`` while connected."""
        return self._listener_id

    # -- reads ---------------------------------------------------------------------------

    def serving(self) -> bool:
        """True while the local copy may be served (listener up, heard from within ``max_silence``)."""
        return self._listener_ok and self.clock() - self._verified_at <= self.max_silence

    def get(self, key: str) -> Any:
        """The local copy of ``key``, or ``TrackingCache.MISSING`` (never touches the network)."""
        if self.verify_on_read and self._listener_ok:
            self._drain_now()
        if not self.serving():
            self.stats.misses += 1
            self.stats.unverified += 1
            return _MISSING
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.stats.hits += 1
                return self._items[key]
        self.stats.misses += 1
        return _MISSING

    def read(self, key: str, accept: Callable[[Any], tuple[Any, bool]] | None = None) -> tuple[Any, bool]:
        """``(value, hit)``: the local copy, else ``GET key`` (cached if ``accept`` says so).

        Args:
            key: the key.
            accept: ``accept(raw) -> (value, cacheable)``; default: keep any
                reply that is not ``None``.

        Raises:
            RedisError: the ``GET`` failed (nothing is cached).
        """
        value = self.get(key)
        if value is not _MISSING:
            return value, True
        token = self._begin(key)
        try:
            raw = self._fetch(key)
        except BaseException:
            self._abandon(key, token)
            raise
        value, cacheable = accept(raw) if accept is not None else (raw, raw is not None)
        if cacheable and token is not None:
            self._finish(key, value, token)
        else:
            self._abandon(key, token)
        return value, False

    def _begin(self, key: str) -> tuple[int, int] | None:
        """Register a fill before its GET is sent (``None``: nothing may be cached now)."""
        with self._lock:
            if not self._listener_ok or self.clock() - self._verified_at > self.max_silence:
                return None
            self._seq += 1
            self._pending.setdefault(key, set()).add(self._seq)
            return self._epoch, self._seq

    def _finish(self, key: str, value: Any, token: tuple[int, int]) -> None:
        epoch, seq = token
        with self._lock:
            fills = self._pending.get(key)
            if epoch != self._epoch or fills is None or seq not in fills:
                self.stats.fills_cancelled += 1  # invalidated, flushed or reconnected meanwhile
                return
            fills.discard(seq)
            if not fills:
                del self._pending[key]
            self._items[key] = value
            self._items.move_to_end(key)
            self.stats.stored += 1
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def _abandon(self, key: str, token: tuple[int, int] | None) -> None:
        if token is None:
            return
        with self._lock:
            fills = self._pending.get(key)
            if fills is not None:
                fills.discard(token[1])
                if not fills:
                    del self._pending[key]

    def _fetch(self, key: str) -> Any:
        """``GET key`` on the data connection; in default mode it is tracked for the current listener."""
        with self._data_lock:
            for attempt in (1, 2):
                try:
                    conn = self._data_connection()
                    self.stats.fetches += 1
                    conn.send_command("GET", key, check_health=False)
                    return conn.read_response()
                except (RedisConnectionError, OSError):
                    # A connection from before a server restart fails once: retry on a new one.
                    self._close(self._data)
                    self._data = None
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def _data_connection(self) -> Any:
        # (Re)connect when the listener changed since this connection registered its REDIRECT,
        # so a GET is only ever tracked for the listener of the current epoch.
        with self._lock:
            generation, listener_id = self._generation, self._listener_id
        if self._data is not None and self._data_generation == generation:
            return self._data
        self._close(self._data)
        self._data = None
        conn = self.factory(2)
        conn.health_check_interval = 0
        conn.connect()
        if self.mode == TrackingMode.DEFAULT and listener_id is not None:
            conn.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", listener_id, check_health=False)
            reply = conn.read_response()
            if isinstance(reply, ResponseError):
                raise reply
        self._data, self._data_generation = conn, generation
        return conn

    # -- the local copy ------------------------------------------------------------------

    def flush(self, reason: str = "flush") -> None:
        """Drop every local copy and cancel fills in flight."""
        with self._lock:
            self._flush_locked(reason)

    def _flush_locked(self, reason: str) -> None:
        self._items.clear()
        self._pending.clear()
        self._epoch += 1
        self.stats.flushes += 1
        self.last_flush_reason = reason

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._items)

    def memory_bytes(self) -> int:
        """Approximate bytes held by the local copy (keys, values, per-entry overhead)."""
        with self._lock:
            items = list(self._items.items())
        return sum(approx_size(k) + approx_size(v) + 100 for k, v in items)

    def snapshot(self) -> dict[str, Any]:
        """Counters and state, for a page or a test report."""
        age = self.clock() - self._verified_at
        return {**asdict(self.stats), "mode": self.mode.value, "prefixes": list(self.prefixes),
                "entries": len(self._items), "memory_bytes": self.memory_bytes(), "serving": self.serving(),
                "listener_id": self._listener_id, "verified_ms_ago": round(age * 1000, 1) if age < 1e9 else None,
                "last_flush_reason": self.last_flush_reason}

    # -- the listener ----------------------------------------------------------------------

    def _on_push(self, message: list[Any]) -> object:
        """``invalidate`` push: ``[b"invalidate", [keys]]``, or ``None`` for "everything" (FLUSHALL)."""
        keys = message[1] if len(message) > 1 else None
        with self._lock:
            self.stats.messages += 1
            if keys is None:
                self._flush_locked("the server flushed its keys")
                return _PUSH
            for key in keys:
                key = key.decode() if isinstance(key, bytes) else key
                self.stats.keys_invalidated += 1
                self._pending.pop(key, None)
                if self._items.pop(key, _MISSING) is not _MISSING:
                    self.stats.dropped += 1
        return _PUSH

    def _drain_now(self) -> None:
        """Read what the listener socket holds (pushes, PONGs, EOF) without waiting."""
        with self._io_lock:
            conn = self._listener
            if conn is None:
                return
            try:
                while conn.can_read(timeout=0):
                    reply = conn.read_response(push_request=True)
                    if reply is _PUSH or isinstance(reply, list):
                        continue
                    if reply == "PONG" and self._outstanding:
                        self._verified_at = self._outstanding.popleft()
            except (RedisError, OSError) as exc:
                self._listener = None
                self._lost(f"listener connection lost ({type(exc).__name__})")

    def _run(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            conn = None
            try:
                conn = self._connect_listener()
                backoff = 0.05
                self._listen(conn)
            except (RedisError, OSError) as exc:
                self._lost(f"listener connection lost ({type(exc).__name__})")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                with self._io_lock:
                    if self._listener is conn:
                        self._listener = None
                self._close(conn)
        self._lost("stopped", quiet=True)

    def _connect_listener(self) -> Any:
        conn = self.factory(3)
        conn.health_check_interval = 0
        conn.connect()
        conn._parser.set_invalidation_push_handler(self._on_push)  # redis-py's own cache does the same
        conn.send_command("CLIENT", "ID", check_health=False)
        listener_id = int(conn.read_response())
        if self.mode == TrackingMode.BCAST:
            args: list[Any] = ["CLIENT", "TRACKING", "ON", "BCAST"]
            for prefix in self.prefixes:
                args += ["PREFIX", prefix]
            conn.send_command(*args, check_health=False)
            reply = conn.read_response()
            if isinstance(reply, ResponseError):
                raise reply
        with self._io_lock:
            self._outstanding.clear()
            self._listener = conn
            with self._lock:
                # A new client id: anything cached before may have missed messages.
                self._flush_locked("listener (re)connected")
                self._generation += 1
                self._listener_id = listener_id
                self._verified_at = self.clock()
                self._listener_ok = True
                self.stats.connects += 1
        self.ready.set()
        if self.stats.connects > 1:
            log.info("%s: invalidation listener back (client id %s); local cache started empty",
                     self.name, listener_id)
        return conn

    def _listen(self, conn: Any) -> None:
        next_ping = self.clock()
        while not self._stop.is_set():
            if not self._listener_ok or self._listener is not conn:
                raise RedisConnectionError("listener connection lost")
            now = self.clock()
            with self._io_lock:
                if self._outstanding and now - self._outstanding[0] > self.dead_after:
                    raise RedisConnectionError(f"no PONG for {self.dead_after} s")
                if now >= next_ping and not self._outstanding:
                    conn.send_command("PING", check_health=False)
                    self._outstanding.append(now)
                    self.stats.pings += 1
                    next_ping = now + self.heartbeat
            sock = getattr(conn, "_sock", None)
            if sock is None:
                raise RedisConnectionError("listener socket closed")
            select.select([sock], [], [], max(0.0, min(next_ping - self.clock(), 0.05)))
            self._drain_now()

    def _lost(self, reason: str, *, quiet: bool = False) -> None:
        with self._lock:
            was_ok = self._listener_ok
            self._listener_ok = False
            if was_ok or self._items or self._pending:
                self._flush_locked(reason)
            if self._listener_id is not None:
                self._listener_id = None
                self._generation += 1
        self.ready.clear()
        if was_ok and not quiet:
            log.warning("%s: %s; local cache flushed, reads go to Redis until it is back", self.name, reason)

    @staticmethod
    def _close(conn: Any) -> None:
        if conn is None:
            return
        try:
            conn.disconnect()
        except Exception:  # noqa: S110 - closing a dead connection must not raise
            pass


def server_tracking_info(client: Any) -> dict[str, int]:
    """The server's side of tracking (``INFO``): clients, tracked keys and items, BCAST prefixes."""
    info = client.info()
    return {name: int(info.get(name, 0)) for name in
            ("tracking_clients", "tracking_total_keys", "tracking_total_items", "tracking_total_prefixes")}
