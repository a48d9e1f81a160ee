"""Cache-aside done right: TTL with jitter, leases, single-flight, stale-while-revalidate, XFetch.

Pattern (cache-aside, a.k.a. lazy loading)
    Read the key; on a hit return it; on a miss load from the source of truth
    (the database) and store the result with a TTL.  Writers change the
    database and then invalidate (delete) or overwrite the key, after their
    transaction commits.  ``Cache.get`` adds what the naive version lacks:

    - **TTL + jitter**: each entry's freshness is ``ttl * uniform(1, 1 + jitter)``
      so keys written together do not all expire in the same second.
    - **Soft and hard expiry**: an entry carries its own "fresh until" time; the
      key itself lives ``stale_ttl`` seconds longer, so an expired value is still
      there to serve while one caller recomputes (stale-while-revalidate).
    - **Single-flight under a lease**: the caller that wins ``SET lease token NX PX``
      loads and stores; the others serve the stale value, or, on a cold key,
      wait for the winner (polling the key with backoff, bounded).  200
      concurrent misses cost 1 database load instead of 200.
    - **Leases protect invalidation**: the value is stored by a script only if
      the caller still holds its lease (``lua/cache_fill.lua``).  A writer
      deletes value *and* lease, so a reader that loaded the old row just
      before the write cannot store it back after the invalidation (the
      classic cache-aside race; Facebook's memcache "leases").  The lease is
      left to run out after a fill, so a reader that saw the old entry just
      before the fill cannot take a new lease just after it and load again.
    - **XFetch refresh-ahead** (Vattani et al., "Optimal Probabilistic Cache
      Stampede Prevention", VLDB 2015): a reader refreshes early with
      probability rising as expiry nears: refresh when
      ``now - delta * beta * ln(rand()) >= expiry``, where ``delta`` is how long
      the last load took.  Hot keys are recomputed before they expire, by one
      caller (it also needs the lease), and never go cold.
    - **Negative caching**: a loader returning ``None`` (row not found) is
      cached for ``negative_ttl`` seconds only, so probing missing ids does not
      hammer the database, and a created row shows up quickly (writers also
      delete the key).
    - **Generation counters** for collections: list keys embed a counter that
      writers ``INCR``; old lists are never deleted by pattern, they simply stop
      being read and expire.
    - The naive version (``single_flight=False``) is kept, labelled, as the
      "before" half of the stampede demo and benchmark.

Guarantees
    After a writer's invalidation returns, no reader stores a value it loaded
    before that write (lease check in the fill script).  A hit costs exactly
    one round trip (one ``GET``, pipelined with any extra commands the caller
    queues through ``also``).  Staleness served by stale-while-revalidate is
    bounded by ``stale_ttl``; set it to 0 for data that must never be served
    stale.

Commands
    `GET <https://redis.io/docs/latest/commands/get/>`_,
    `SET ... NX PX <https://redis.io/docs/latest/commands/set/>`_ (lease, naive store),
    `FCALL/EVALSHA <https://redis.io/docs/latest/commands/fcall/>`_ (``cache_fill``),
    `DEL <https://redis.io/docs/latest/commands/del/>`_,
    `MULTI/EXEC <https://redis.io/docs/latest/commands/multi/>`_ (write-through),
    `INCR <https://redis.io/docs/latest/commands/incr/>`_ (generations).

Round trips per call
    hit: 1 · miss: 3 (GET, lease, fill) · stale with the lease taken by
    another: 2 · cold follower: 2 + one GET per poll · write-through: 1 ·
    invalidate: 1 · generation read: 1 (2 the first time after the counter vanished).

Failure policy (Redis down)
    Fail open: a Redis error turns the call into a ``bypass`` (the loader runs,
    nothing is stored) and opens a small circuit breaker for ``cooldown``
    seconds, during which calls bypass without touching Redis at all.  The
    breaker logs one WARNING when an outage starts and one INFO when Redis
    answers again; after ``cooldown`` one call probes Redis, so the service
    recovers by itself without a restart.  Writers' invalidations that fail
    are logged; the entry's TTL bounds how long it can stay stale.
"""

from __future__ import annotations

import json
import logging
import math
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from redis.exceptions import RedisError

from redis_patterns.roundtrips import direct_call
from redis_patterns.scripts import Scripts

log = logging.getLogger(__name__)


class CacheState(StrEnum):
    """What served a read; sent as the ``X-Cache`` header."""

    HIT = "hit"          # fresh entry from Redis (or the in-process tier)
    MISS = "miss"        # this call loaded from the database
    STALE = "stale"      # expired entry served while another caller recomputes
    BYPASS = "bypass"    # Redis unavailable (or caching off): straight from the database


@dataclass(frozen=True)
class CachePolicy:
    """How one kind of entry is cached. Times in seconds."""

    ttl: float = 300.0
    jitter: float = 0.1          # fresh for ttl * uniform(1, 1 + jitter)
    stale_ttl: float = 60.0      # the key outlives its freshness by this much (0: never serve stale)
    negative_ttl: float = 30.0   # "not found" is remembered this long
    lease_ttl: float = 5.0       # longest a loader may hold the lease; keep above the slowest load
    wait_timeout: float = 2.0    # a cold-key follower waits at most this, then loads itself
    xfetch_beta: float = 1.0     # refresh-ahead eagerness; 0 turns XFetch off
    single_flight: bool = True   # False: the naive version (everyone loads on a miss)


@dataclass
class Lookup:
    """The result of ``Cache.get``."""

    value: Any
    state: CacheState
    loaded: bool = False         # this call ran the loader
    early: bool = False          # ... because XFetch decided to refresh ahead of expiry
    waited: bool = False         # a cold-key follower that got the winner's value
    stored: bool = False         # the value was written to Redis by this call
    extra: list[Any] = field(default_factory=list)  # replies to commands queued with ``also``


class Breaker:
    """Fail fast while Redis is down; one log line per outage; probe again after ``cooldown``."""

    def __init__(self, *, cooldown: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 logger: logging.Logger = log, name: str = "cache") -> None:
        self.cooldown = cooldown
        self.clock = clock
        self.logger = logger
        self.name = name
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._retry_at = 0.0

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def allow(self) -> bool:
        """``False`` while the breaker is open (skip Redis, serve from the source)."""
        return self._down_since is None or self.clock() >= self._retry_at

    def failure(self, exc: BaseException) -> None:
        with self._lock:
            now = self.clock()
            if self._down_since is None:
                self._down_since = now
                self.logger.warning("%s: Redis unavailable (%s: %s); serving from the database (X-Cache: bypass) "
                                    "until it answers again", self.name, type(exc).__name__, exc)
            self._retry_at = now + self.cooldown

    def success(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is not None:
                self.logger.info("%s: Redis is back after %.1fs; caching again", self.name,
                                 self.clock() - self._down_since)
                self._down_since = None


def jittered(ttl: float, jitter: float, rng: Callable[[], float] = random.random) -> float:
    """``ttl * uniform(1, 1 + jitter)``: spreads the expiry of keys written together."""
    return ttl * (1.0 + jitter * rng())


def xfetch_due(now: float, expiry: float, delta: float, beta: float,
               rng: Callable[[], float] = random.random) -> bool:
    """XFetch: refresh early when ``now - delta * beta * ln(rand) >= expiry``.

    ``-ln(rand)`` is exponentially distributed (mean 1): the chance of an early
    refresh is tiny while expiry is far (in units of ``delta``) and rises
    steeply as it nears.  A larger ``beta`` refreshes earlier.
    """
    if beta <= 0 or delta <= 0:
        return False
    r = rng()
    if r <= 0.0:
        return True
    return now - delta * beta * math.log(r) >= expiry


def encode(value: Any, *, fresh_until: float, delta: float, negative: bool = False) -> str:
    """The stored envelope: the value plus what XFetch and stale-while-revalidate need."""
    body: dict[str, Any] = {"v": value, "x": round(fresh_until, 3), "d": round(delta, 6)}
    if negative:
        body["n"] = 1
    return json.dumps(body, separators=(",", ":"), default=str)


def decode(raw: str | bytes | None) -> dict[str, Any] | None:
    """The envelope stored under a key, or ``None`` (a miss) for anything that is not one.

    A value that is not ours (written by hand, by an older deploy, or
    corrupted: not JSON, not UTF-8, fields of the wrong type) counts as a
    miss, and the next fill overwrites it: never an error for the reader.
    """
    if raw is None:
        return None
    try:
        body = json.loads(raw)  # bytes that are not UTF-8 raise UnicodeDecodeError, a ValueError
    except ValueError:
        return None
    if not isinstance(body, dict) or "v" not in body or not _number(body.get("x")) \
            or not _number(body.get("d", 0.0)):
        return None
    return body


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _replies(pipe: Any) -> list[Any] | None:
    """``pipe.execute()``, or ``None`` when a reply could not be decoded as text.

    A client with ``decode_responses=True`` fails while *reading* a value that
    is not UTF-8 (redis-py drops that connection, so nothing is left half-read):
    for a cache, that value is simply not an entry.
    """
    try:
        return pipe.execute()
    except UnicodeDecodeError:
        return None


class Cache:
    """Cache-aside over one Redis client; see the module docstring.

    Args:
        client: a ``redis.Redis``/``RedisCluster`` (``decode_responses`` either way),
            or a zero-argument callable returning one (resolved on each call, so
            nothing connects at import time).
        scripts: the loader holding ``cache_fill`` (``Scripts("redis_patterns")``).
        clock: wall-clock seconds; entries store absolute expiry times (inject in tests).
        rng: ``random()`` in [0, 1), for jitter and XFetch (inject in tests).
        breaker: shared circuit breaker (one per process is right).
        sleep: used by cold-key followers between polls.
    """

    def __init__(self, client: Any, scripts: Scripts, *, clock: Callable[[], float] = time.time,
                 rng: Callable[[], float] = random.random, breaker: Breaker | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self.scripts = scripts
        self.clock = clock
        self.rng = rng
        self.breaker = breaker or Breaker()
        self.sleep = sleep

    @property
    def client(self) -> Any:
        return self._client() if callable(self._client) else self._client

    # -- reads ---------------------------------------------------------------------------

    def get(self, key: str, lease_key: str, loader: Callable[[], Any], policy: CachePolicy, *,
            also: Callable[[Any], None] | None = None) -> Lookup:
        """Read ``key``, loading through ``loader`` on a miss; see the module docstring.

        Args:
            key: the value key.
            lease_key: its lease key, in the same hash slot (``{tag}``) as ``key``.
            loader: returns the value (JSON-serialisable) or ``None`` for "not found".
            policy: TTLs and strategy.
            also: queues extra commands on the pipeline that carries the ``GET``
                (e.g. a view counter); their replies are in ``Lookup.extra``.
        """
        if not self.breaker.allow():
            return self._bypass(loader)
        client = self.client
        try:
            if also is None:
                try:
                    replies = [direct_call(client, "GET", key)]  # one command: no pipeline object
                except UnicodeDecodeError:
                    replies = None  # not UTF-8: not an entry of ours (see _replies)
            else:
                pipe = client.pipeline(transaction=False)
                pipe.get(key)
                also(pipe)
                replies = _replies(pipe)
        except RedisError as exc:
            self.breaker.failure(exc)
            return self._bypass(loader)
        self.breaker.success()
        # A corrupt value: a miss (the other commands ran; their replies are lost with it).
        entry, extra = (decode(replies[0]), replies[1:]) if replies is not None else (None, [])
        try:
            result = self._after_get(client, key, lease_key, loader, policy, entry)
        except RedisError as exc:
            # Redis went away half-way: whatever we have is from the database.
            self.breaker.failure(exc)
            result = self._bypass(loader)
        result.extra = extra
        return result

    def _after_get(self, client: Any, key: str, lease_key: str, loader: Callable[[], Any],
                   policy: CachePolicy, entry: dict[str, Any] | None) -> Lookup:
        now = self.clock()
        if entry is not None and now < entry["x"]:
            if not entry.get("n") and xfetch_due(now, entry["x"], entry.get("d", 0.0), policy.xfetch_beta,
                                                self.rng):
                token = self._take_lease(client, lease_key, policy) if policy.single_flight else ""
                if token is not None:
                    lookup = self._load_and_store(client, key, lease_key, loader, policy, token)
                    lookup.early = True
                    return lookup
            return Lookup(entry["v"], CacheState.HIT)

        if not policy.single_flight:
            # The naive version: every caller that misses loads and stores.
            return self._load_and_store(client, key, lease_key, loader, policy, token="")

        token = self._take_lease(client, lease_key, policy)
        if token is not None:
            return self._load_and_store(client, key, lease_key, loader, policy, token)
        if entry is not None:
            return Lookup(entry["v"], CacheState.STALE)
        return self._wait_for_winner(client, key, lease_key, loader, policy)

    def _wait_for_winner(self, client: Any, key: str, lease_key: str, loader: Callable[[], Any],
                         policy: CachePolicy) -> Lookup:
        """Cold key, someone else holds the lease: poll for their value, bounded."""
        deadline = time.monotonic() + policy.wait_timeout
        pause = 0.002
        while time.monotonic() < deadline:
            self.sleep(pause)
            pause = min(pause * 2, 0.05)
            pipe = client.pipeline(transaction=False)
            pipe.get(key)
            pipe.exists(lease_key)
            replies = _replies(pipe)
            raw, leased = replies if replies is not None else (None, 1)
            entry = decode(raw)
            if entry is not None:
                return Lookup(entry["v"], CacheState.HIT, waited=True)
            if not leased:
                # The winner died or its fill was refused (a writer invalidated):
                # compete for the lease again rather than wait out the deadline.
                token = self._take_lease(client, lease_key, policy)
                if token is not None:
                    return self._load_and_store(client, key, lease_key, loader, policy, token)
        # Waited long enough: load for ourselves, but don't store (we hold no lease).
        value, _ = self._timed(loader)
        return Lookup(value, CacheState.MISS, loaded=True)

    def _take_lease(self, client: Any, lease_key: str, policy: CachePolicy) -> str | None:
        token = secrets.token_hex(8)
        if client.set(lease_key, token, nx=True, px=max(1, int(policy.lease_ttl * 1000))):
            return token
        return None

    def _load_and_store(self, client: Any, key: str, lease_key: str, loader: Callable[[], Any],
                        policy: CachePolicy, token: str) -> Lookup:
        try:
            value, delta = self._timed(loader)
        except BaseException:
            if token:
                try:  # let the next caller try at once instead of after lease_ttl
                    self.scripts.call(client, "compare_and_delete", keys=[lease_key], args=[token])
                except RedisError:
                    pass
            raise
        payload, px = self.envelope(value, delta, policy)
        if token:
            stored = bool(self.scripts.call(client, "cache_fill", keys=[key, lease_key], args=[token, payload, px]))
        else:
            client.set(key, payload, px=px)
            stored = True
        return Lookup(value, CacheState.MISS, loaded=True, stored=stored)

    def envelope(self, value: Any, delta: float, policy: CachePolicy) -> tuple[str, int]:
        """``(payload, px)``: the value's stored form and its key TTL in ms (jitter and stale window included)."""
        now = self.clock()
        if value is None:
            fresh = policy.negative_ttl
            return encode(None, fresh_until=now + fresh, delta=delta, negative=True), max(1, int(fresh * 1000))
        fresh = jittered(policy.ttl, policy.jitter, self.rng)
        payload = encode(value, fresh_until=now + fresh, delta=delta)
        return payload, max(1, int((fresh + policy.stale_ttl) * 1000))

    @staticmethod
    def _timed(loader: Callable[[], Any]) -> tuple[Any, float]:
        t0 = time.perf_counter()
        value = loader()
        return value, time.perf_counter() - t0

    def _bypass(self, loader: Callable[[], Any]) -> Lookup:
        value, _ = self._timed(loader)
        return Lookup(value, CacheState.BYPASS, loaded=True)

    # -- writes --------------------------------------------------------------------------

    def put(self, key: str, lease_key: str, value: Any, policy: CachePolicy, *, delta: float = 0.0,
            pipe: Any = None) -> None:
        """Write-through: store ``value`` and cancel any reader's lease, in one ``MULTI``.

        Cancelling the lease stops a reader that loaded the row before this
        write from overwriting the new value with its old one.  The lease goes
        first: on a non-transactional ``pipe`` another client's fill could run
        between the two commands, and it must find the lease already gone.
        """
        payload, px = self.envelope(value, delta, policy)
        own = pipe is None
        if own:
            pipe = self.client.pipeline(transaction=True)
        pipe.delete(lease_key)
        pipe.set(key, payload, px=px)
        if own:
            pipe.execute()

    def invalidate(self, *keys: str, pipe: Any = None) -> None:
        """Delete value keys and their leases (one ``DEL``; pass keys of one slot together)."""
        if pipe is not None:
            pipe.delete(*keys)
        else:
            self.client.delete(*keys)

    # -- generations ---------------------------------------------------------------------

    def generation(self, gen_key: str) -> int:
        """The current generation of a collection (1 round trip).

        A counter that vanished (eviction, a restart without persistence) is
        re-created from the clock, never from 0: an old generation number must
        never come back, or its old cached lists would be read again.
        """
        raw = self.client.get(gen_key)
        if raw is None:
            self.client.set(gen_key, int(self.clock() * 1000), nx=True)
            raw = self.client.get(gen_key)
        return int(raw)

    def bump_generation(self, gen_key: str, pipe: Any = None) -> int | None:
        """``INCR`` the generation: every list cached under the old one stops being read."""
        if pipe is not None:
            pipe.incr(gen_key)
            return None
        value = int(self.client.incr(gen_key))
        if value == 1:
            # The counter had vanished: jump to the clock so old numbers never return.
            value = int(self.clock() * 1000)
            self.client.set(gen_key, value)
        return value
