"""A distributed lock with fencing tokens (and Redlock as an option).

Algorithm
    **Acquire**: one script (``lua/lock_acquire.lua``) runs
    ``SET lock <random token> NX PX <ttl>`` and, only if that succeeded,
    ``INCR fence``: the holder gets its random token (proof of ownership for
    release/extend) and a **fencing token**, a number strictly greater than
    any issued before for this lock.  **Release** and **extend** are Lua
    compare-and-act (``lua/compare_and_delete.lua``, ``lua/lock_extend.lua``):
    ``GET`` the lock, and ``DEL`` / ``PEXPIRE`` it only if it still holds the
    caller's token, so an expired holder never frees or prolongs someone
    else's lock.  **Blocking acquire** retries with jitter
    until a deadline, waiting at most the lock's remaining TTL each time.

Guarantee, and its limit
    Mutual exclusion holds *while the holder's TTL has not run out*.  A
    holder can be paused past its TTL (a GC pause, a SIGSTOP, a swapped-out
    VM, a slow network) without knowing it: the lock expires, someone else
    takes it, and the first holder wakes up believing it still holds it.  No
    lock service can prevent that on its own.  The **fencing token** makes it
    safe: the protected resource remembers the highest token it has accepted
    and refuses writes carrying a lower one.  Here the resource is a database
    row written with ``UPDATE ... SET value = :v, fence = :token WHERE id = :id
    AND fence < :token`` (0 rows updated = rejected, a stale holder), see
    ``workers/locks.py``.  Use the lock for efficiency (don't do the work
    twice) and the fence for correctness (never let a stale holder win).

Redlock (``Redlock``)
    The same acquire script on N independent servers (no replication between
    them).  The lock is held when a majority (N//2 + 1) said yes and the time
    spent acquiring left some validity: ``validity = ttl - elapsed -
    (ttl * drift_factor + 2 ms)``.  Otherwise it is released everywhere.  It
    survives the loss of a minority of servers.  **Caveat** (Martin
    Kleppmann, "How to do distributed locking", 2016): Redlock's safety rests
    on timing assumptions (bounded pauses, bounded clock drift, bounded
    network delay) that real systems break, and it has no fencing token of
    its own.  The fence returned here is the maximum of the quorum's
    per-server counters: it increases across holders only while those timing
    assumptions hold, so it is *not* a proof of order.  If correctness
    matters, fence against the resource (a single Redis counter with
    persistence, or a sequence in the database itself) and treat Redlock as
    an availability improvement, not a safety one.

Commands
    `SET NX PX <https://redis.io/docs/latest/commands/set/>`_,
    `INCR <https://redis.io/docs/latest/commands/incr/>`_,
    `PTTL <https://redis.io/docs/latest/commands/pttl/>`_,
    `GET <https://redis.io/docs/latest/commands/get/>`_,
    `DEL <https://redis.io/docs/latest/commands/del/>`_,
    `PEXPIRE <https://redis.io/docs/latest/commands/pexpire/>`_, all inside
    `FCALL <https://redis.io/docs/latest/commands/fcall/>`_ /
    `EVALSHA <https://redis.io/docs/latest/commands/evalsha/>`_.

Round trips
    ``try_acquire``, ``release``, ``extend``: 1.  ``acquire(timeout=...)``: 1
    per attempt.  Redlock: 1 per server per operation, sent one server at a
    time (so its latency is about N single-server calls; see
    ``bench/locks.py``).

Failure policy: fail closed
    When Redis cannot be reached, ``try_acquire``/``acquire`` raise
    ``LockUnavailable``: the caller must not enter the critical section (a
    lock that "fails open" is no lock).  ``release`` raises too; the context
    manager logs it and lets the TTL free the lock.  Redlock counts an
    unreachable server as a "no" and still acquires with a quorum.

Cluster
    The lock key and its fence counter are used together by one script, so
    they must share a ``{hash tag}``: e.g. ``lock:{report}`` and
    ``lock:{report}:fence``.  The caller names both (see ``workers/keys.py``).

Persistence
    The fence counter must survive restarts (AOF or RDB).  If a server loses
    it, new tokens restart low and the resource rejects every write until
    the counter passes the highest accepted fence: safe (fail closed), but a
    stall; the resource's own ``fence`` column tells you what to set it to.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from redis_patterns.scripts import Scripts, loader

log = logging.getLogger(__name__)


class LockError(RuntimeError):
    """Base class for lock failures."""


class LockNotAcquired(LockError):
    """The lock stayed busy until the timeout (raised by the context manager)."""


class LockUnavailable(LockError):
    """Redis could not be reached: fail closed, do not enter the critical section."""


@dataclass(frozen=True)
class Lease:
    """Proof of one acquisition.

    Attributes:
        token: the random value stored in the lock key (release/extend need it).
        fence: the fencing token; pass it to every write the lock protects.
        ttl_ms: the TTL the lock was taken (or last extended) with.
        acquired_at: ``time.monotonic()`` when the acquire reply arrived.
        validity_ms: how long, from ``acquired_at``, the holder may assume it
            still holds the lock (``ttl_ms`` for a single server; less for Redlock).
    """

    token: str
    fence: int
    ttl_ms: int
    acquired_at: float
    validity_ms: int

    def remaining_ms(self, now: float | None = None) -> float:
        """Milliseconds of validity left by the local monotonic clock (may be negative)."""
        now = time.monotonic() if now is None else now
        return self.validity_ms - (now - self.acquired_at) * 1000


def new_token() -> str:
    """128 random bits: unguessable, so no other client can release our lock by accident."""
    return secrets.token_hex(16)


# --- what every lock here shares ------------------------------------------------------------


class _Retry:
    """When a blocking acquire tries again: the one schedule of ``Lock``, ``AsyncLock`` and ``Redlock``.

    "Full jitter" backoff (a random wait up to ``base * 2**attempt``, capped):
    waiters that collided spread out instead of retrying in lockstep.  A wait
    never outlasts the deadline, nor the current holder's remaining TTL when
    the attempt reported it (the lock is free by then at the latest).
    """

    def __init__(self, timeout: float, base_ms: float, cap_ms: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.base_ms, self.cap_ms = base_ms, cap_ms
        self.attempt = 0

    def wait_s(self, holder_pttl_ms: int = 0) -> float | None:
        """Seconds to sleep before the next attempt; ``None`` once the deadline has passed."""
        left_ms = (self.deadline - time.monotonic()) * 1000
        if left_ms <= 0:
            return None
        wait_ms = random.uniform(0, min(self.cap_ms, self.base_ms * (2 ** min(self.attempt, 10))))
        if holder_pttl_ms > 0:
            wait_ms = min(wait_ms, holder_pttl_ms)
        self.attempt += 1
        return max(1.0, min(wait_ms, left_ms)) / 1000


def _acquire(attempt: Callable[[], tuple[Lease | None, int]], retry: _Retry,
             sleep: Callable[[float], None]) -> Lease | None:
    """The blocking acquire of ``Lock`` and ``Redlock`` (``AsyncLock.acquire`` is its async twin).

    ``attempt()`` returns ``(lease, 0)`` on success, or ``(None, the holder's
    remaining TTL in ms, 0 if unknown)``.
    """
    lease, holder_pttl_ms = attempt()
    while lease is None and (wait := retry.wait_s(holder_pttl_ms)) is not None:
        sleep(wait)
        lease, holder_pttl_ms = attempt()
    return lease


class _FailClosed:
    """A Redis error becomes ``LockUnavailable``: the caller must not enter the critical section.

    A class rather than ``@contextmanager``: it is on every call's path, and costs a quarter as much.
    """

    __slots__ = ("action", "key")

    def __init__(self, action: str, key: str) -> None:
        self.action, self.key = action, key

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, RedisError):
            raise LockUnavailable(f"cannot reach Redis to {self.action} {self.key}: {exc}") from exc


class _Holding:
    """``with lock.hold(...) as lease`` (``async with`` for ``AsyncLock``): acquire or raise, release on exit."""

    def __init__(self, lock: Lock | AsyncLock | Redlock, timeout: float, ttl_ms: int | None) -> None:
        self.lock, self.timeout, self.ttl_ms = lock, timeout, ttl_ms
        self.lease: Lease | None = None

    def _got(self, lease: Lease | None) -> Lease:
        if lease is None:
            raise LockNotAcquired(f"{self.lock.key}{self.lock.busy}")
        self.lease = lease
        return lease

    def _released(self, released: int) -> None:
        # int: Redlock counts the servers that still held our token.
        if not released:
            log.warning("lock %s had expired before release (fence %s)", self.lock.key, self.lease.fence)

    def _unreachable(self) -> None:
        # The TTL frees it; the fence keeps a later holder safe meanwhile.
        log.warning("could not release %s: Redis unavailable; it expires by its TTL", self.lock.key)

    def __enter__(self) -> Lease:
        return self._got(self.lock.acquire(timeout=self.timeout, ttl_ms=self.ttl_ms))

    def __exit__(self, *exc: object) -> None:
        try:
            self._released(self.lock.release(self.lease))
        except LockUnavailable:
            self._unreachable()

    async def __aenter__(self) -> Lease:
        return self._got(await self.lock.acquire(timeout=self.timeout, ttl_ms=self.ttl_ms))

    async def __aexit__(self, *exc: object) -> None:
        try:
            self._released(await self.lock.release(self.lease))
        except LockUnavailable:
            self._unreachable()


class _SingleServerLock:
    """What ``Lock`` and ``AsyncLock`` share: the keys, the TTL, the backoff, reading the scripts' replies."""

    busy = " is held by someone else"  # what LockNotAcquired says after the key

    def __init__(self, client: Any, key: str, fence_key: str, *, ttl_ms: int = 10_000,
                 retry_base_ms: float = 10, retry_cap_ms: float = 200, scripts: Scripts | None = None) -> None:
        if ttl_ms <= 0:
            raise ValueError("ttl_ms must be positive")
        self.client = client
        self.key = key
        self.fence_key = fence_key
        self.ttl_ms = int(ttl_ms)
        self.retry_base_ms = retry_base_ms
        self.retry_cap_ms = retry_cap_ms
        self.scripts = scripts or loader("redis_patterns")

    def _acquired(self, reply: Sequence[Any], token: str, ttl_ms: int) -> tuple[Lease | None, int]:
        """``lock_acquire`` answers ``{fence, 0}`` when we got it, ``{0, holder's PTTL}`` when busy."""
        fence, pttl = int(reply[0]), int(reply[1])
        if fence:
            return Lease(token, fence, ttl_ms, time.monotonic(), ttl_ms), 0
        return None, pttl

    @staticmethod
    def _extended(ok: Any, lease: Lease, ttl_ms: int) -> Lease | None:
        # The fence does not change: an extension is the same tenure.
        return Lease(lease.token, lease.fence, ttl_ms, time.monotonic(), ttl_ms) if ok else None

    def hold(self, *, timeout: float = 0.0, ttl_ms: int | None = None) -> _Holding:
        """Context manager: ``with lock.hold(timeout=5) as lease: ...``.

        Raises ``LockNotAcquired`` when busy until the timeout and
        ``LockUnavailable`` when Redis is down; releases on exit.
        """
        return _Holding(self, timeout, ttl_ms)


# --- one server ---------------------------------------------------------------------------


class Lock(_SingleServerLock):
    """A lock on one Redis server (or a Sentinel-managed primary), with a fencing token.

    Args:
        client: a redis-py client (``decode_responses`` either way).
        key: the lock key, e.g. ``"lock:{report}"``.
        fence_key: the fencing counter, same hash tag, e.g. ``"lock:{report}:fence"``.
        ttl_ms: how long the lock lives if its holder never releases it.
        retry_base_ms, retry_cap_ms: jittered backoff between blocking attempts.
        scripts: the script loader (defaults to ``redis_patterns/lua``).
        sleep: injected for tests; ``time.sleep`` by default.

    Example::

        lock = Lock(r, "lock:{report}", "lock:{report}:fence", ttl_ms=30_000)
        with lock.hold(timeout=5) as lease:
            write_report(fence=lease.fence)   # the resource checks the fence
    """

    def __init__(self, client: Any, key: str, fence_key: str, *, ttl_ms: int = 10_000,
                 retry_base_ms: float = 10, retry_cap_ms: float = 200, scripts: Scripts | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(client, key, fence_key, ttl_ms=ttl_ms, retry_base_ms=retry_base_ms,
                         retry_cap_ms=retry_cap_ms, scripts=scripts)
        self._sleep = sleep

    def try_acquire(self, *, ttl_ms: int | None = None, token: str | None = None) -> Lease | None:
        """One attempt (1 round trip).  ``None`` if someone else holds it.

        Raises:
            LockUnavailable: Redis could not be reached (fail closed).
        """
        lease, _ = self._attempt(ttl_ms or self.ttl_ms, token or new_token())
        return lease

    def _attempt(self, ttl_ms: int, token: str) -> tuple[Lease | None, int]:
        with _FailClosed("acquire", self.key):
            reply = self.scripts.call(self.client, "lock_acquire", keys=[self.key, self.fence_key],
                                      args=[token, ttl_ms])
        return self._acquired(reply, token, ttl_ms)

    def acquire(self, *, timeout: float = 0.0, ttl_ms: int | None = None) -> Lease | None:
        """Try until ``timeout`` seconds have passed; ``None`` if the lock stayed busy.

        Between attempts it sleeps a jittered backoff, never longer than the
        current holder's remaining TTL nor past the deadline.

        Raises:
            LockUnavailable: Redis could not be reached (fail closed).
        """
        ttl_ms = ttl_ms or self.ttl_ms
        token = new_token()  # one token for every attempt of this call
        retry = _Retry(timeout, self.retry_base_ms, self.retry_cap_ms)
        return _acquire(lambda: self._attempt(ttl_ms, token), retry, self._sleep)

    def release(self, lease: Lease) -> bool:
        """Release if we still hold it (1 round trip).  ``False``: it had expired or was taken."""
        with _FailClosed("release", self.key):
            return bool(self.scripts.call(self.client, "compare_and_delete", keys=[self.key],
                                          args=[lease.token]))

    def extend(self, lease: Lease, ttl_ms: int | None = None) -> Lease | None:
        """Reset the TTL if we still hold it (1 round trip); the new lease, or ``None`` if lost.

        The fence does not change: an extension is the same tenure.
        """
        ttl_ms = ttl_ms or lease.ttl_ms
        with _FailClosed("extend", self.key):
            ok = self.scripts.call(self.client, "lock_extend", keys=[self.key], args=[lease.token, ttl_ms])
        return self._extended(ok, lease, ttl_ms)


# --- async twin ----------------------------------------------------------------------------


class AsyncLock(_SingleServerLock):
    """``Lock`` for ``redis.asyncio`` clients: ``await lock.acquire(...)``, ``async with lock.hold()``."""

    async def try_acquire(self, *, ttl_ms: int | None = None, token: str | None = None) -> Lease | None:
        lease, _ = await self._attempt(ttl_ms or self.ttl_ms, token or new_token())
        return lease

    async def _attempt(self, ttl_ms: int, token: str) -> tuple[Lease | None, int]:
        with _FailClosed("acquire", self.key):
            reply = await self.scripts.acall(self.client, "lock_acquire", keys=[self.key, self.fence_key],
                                             args=[token, ttl_ms])
        return self._acquired(reply, token, ttl_ms)

    async def acquire(self, *, timeout: float = 0.0, ttl_ms: int | None = None) -> Lease | None:
        # The same loop as ``_acquire``, awaiting each attempt and each wait.
        ttl_ms = ttl_ms or self.ttl_ms
        token = new_token()
        retry = _Retry(timeout, self.retry_base_ms, self.retry_cap_ms)
        lease, holder_pttl_ms = await self._attempt(ttl_ms, token)
        while lease is None and (wait := retry.wait_s(holder_pttl_ms)) is not None:
            await asyncio.sleep(wait)
            lease, holder_pttl_ms = await self._attempt(ttl_ms, token)
        return lease

    async def release(self, lease: Lease) -> bool:
        with _FailClosed("release", self.key):
            return bool(await self.scripts.acall(self.client, "compare_and_delete", keys=[self.key],
                                                 args=[lease.token]))

    async def extend(self, lease: Lease, ttl_ms: int | None = None) -> Lease | None:
        ttl_ms = ttl_ms or lease.ttl_ms
        with _FailClosed("extend", self.key):
            ok = await self.scripts.acall(self.client, "lock_extend", keys=[self.key],
                                          args=[lease.token, ttl_ms])
        return self._extended(ok, lease, ttl_ms)


# --- Redlock -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedlockResult:
    """What one Redlock attempt saw: per-server answers, for the demo page and tests."""

    lease: Lease | None
    votes: int
    quorum: int
    errors: int
    elapsed_ms: float


class Redlock:
    """The Redlock algorithm over N independent servers (see the module docstring's caveat).

    Args:
        clients: one client per independent server (N >= 3, odd is best).
        key, fence_key: as for ``Lock``; the same names on every server.
        ttl_ms: lock TTL on each server.
        drift_factor: clock drift allowance as a fraction of the TTL (Redis's
            reference uses 0.01), plus 2 ms for timer granularity.
    """

    busy = ": no quorum"  # what LockNotAcquired says after the key

    def __init__(self, clients: Sequence[Any], key: str, fence_key: str, *, ttl_ms: int = 10_000,
                 drift_factor: float = 0.01, retry_base_ms: float = 10, retry_cap_ms: float = 200,
                 scripts: Scripts | None = None) -> None:
        if len(clients) < 1:
            raise ValueError("Redlock needs at least one server")
        self.clients = list(clients)
        self.key, self.fence_key, self.ttl_ms = key, fence_key, int(ttl_ms)
        self.drift_factor = drift_factor
        self.retry_base_ms, self.retry_cap_ms = retry_base_ms, retry_cap_ms
        self.scripts = scripts or loader("redis_patterns")
        self.quorum = len(self.clients) // 2 + 1

    def attempt(self, *, ttl_ms: int | None = None) -> RedlockResult:
        """One round over all servers: acquire on each; keep it only with a quorum and validity left."""
        ttl_ms = ttl_ms or self.ttl_ms
        token = new_token()
        start = time.monotonic()
        votes, errors, fences = 0, 0, []
        for client in self.clients:
            try:
                fence, _ = self.scripts.call(client, "lock_acquire", keys=[self.key, self.fence_key],
                                             args=[token, ttl_ms])
            except RedisError:
                errors += 1  # an unreachable server is a "no"
                continue
            if int(fence):
                votes += 1
                fences.append(int(fence))
        elapsed_ms = (time.monotonic() - start) * 1000
        drift_ms = ttl_ms * self.drift_factor + 2
        validity = ttl_ms - elapsed_ms - drift_ms
        if votes >= self.quorum and validity > 0:
            lease = Lease(token, max(fences), ttl_ms, start, int(validity))
            return RedlockResult(lease, votes, self.quorum, errors, elapsed_ms)
        # Failed: undo the partial acquisitions (including on servers whose
        # reply we never saw: the SET may have landed there).
        self._release_token(token)
        return RedlockResult(None, votes, self.quorum, errors, elapsed_ms)

    def _attempt_or_fail(self, ttl_ms: int | None) -> tuple[Lease | None, int]:
        result = self.attempt(ttl_ms=ttl_ms)
        if result.lease is None and len(self.clients) - result.errors < self.quorum:
            raise LockUnavailable(f"only {len(self.clients) - result.errors} of {len(self.clients)} "
                                  f"servers reachable; Redlock needs {self.quorum}")
        return result.lease, 0  # N holders, N TTLs: back off without a hint

    def acquire(self, *, timeout: float = 0.0, ttl_ms: int | None = None) -> Lease | None:
        """Retry ``attempt`` with jitter until ``timeout``; ``None`` if no quorum was reached.

        Raises:
            LockUnavailable: fewer than a quorum of servers is reachable (fail closed).
        """
        retry = _Retry(timeout, self.retry_base_ms, self.retry_cap_ms)
        return _acquire(lambda: self._attempt_or_fail(ttl_ms), retry, time.sleep)

    def release(self, lease: Lease) -> int:
        """Release on every server (compare-and-delete); returns how many held our token."""
        return self._release_token(lease.token)

    def _release_token(self, token: str) -> int:
        released = 0
        for client in self.clients:
            try:
                released += int(self.scripts.call(client, "compare_and_delete", keys=[self.key], args=[token]))
            except RedisError:
                continue  # its TTL frees it
        return released

    def hold(self, *, timeout: float = 0.0, ttl_ms: int | None = None) -> _Holding:
        """``with redlock.hold(timeout=5) as lease: ...``; ``LockNotAcquired`` without a quorum."""
        return _Holding(self, timeout, ttl_ms)
