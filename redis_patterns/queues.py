"""Job queues on core data structures: priority, delayed, reliable, deduplicated.

Four small classes, each one pattern.  Jobs are strings (JSON is typical)
and must be unique within a queue (carry an id): sorted sets and ``LREM``
identify a job by its value.

``PriorityQueue`` (sorted set)
    ``ZADD key score job`` with ``score = priority * 10**13 + enqueue-ms``:
    lower priority numbers first, first-in first-out within one priority
    (ties in a sorted set are ordered by member bytes, not arrival, so the
    arrival time goes into the score; 10**13 ms is ~300 years, and scores up
    to 9 * 10**13 stay exact in a double).  ``BZPOPMIN`` blocks until a job
    is there and hands it to exactly one waiting consumer.  Guarantee: at
    most once; a consumer that dies after the pop loses the job (combine
    with the reliable queue when that matters).
    1 round trip per push (2 commands in ``MULTI`` when a TTL is kept) and per pop.

``DelayedQueue`` (sorted set -> list)
    ``ZADD delayed run_at_ms job``; ``promote()`` runs ``lua/queue_promote_due.lua``,
    which moves every job whose run-at time has come (up to a batch) to a
    ready list in one atomic step, so two promoters never move a job twice.
    "Now" is passed in (a clock you can control in tests) or read from the
    server's ``TIME``.  Run ``promote`` periodically (a Celery beat task here)
    or before each take.  1 round trip per schedule and per promote.

``ReliableQueue`` (list + processing list + deadlines)
    ``push``: ``LPUSH ready job``.  ``take``: ``BLMOVE ready processing RIGHT
    LEFT`` moves the job atomically into a processing list, so a job is never
    only in the worker's memory, then ``ZADD deadlines now+lease job`` records
    when the worker must be done (2 round trips).  ``ack``: ``LREM processing``
    + ``ZREM deadlines`` in one ``MULTI`` (1 round trip).  ``reap``
    (``lua/queue_reap.lua``) puts jobs whose deadline passed back on the
    ready list, and gives a deadline to any processing job that has none (a
    worker that died between ``BLMOVE`` and ``ZADD``).  Guarantee: at least
    once; a job can run twice if its worker was merely slow, so handlers
    must be idempotent (use ``Deduplicator`` or a fence).

``Deduplicator`` (string per job)
    ``SET dedup:<job id> 1 NX EX ttl``: the first claim wins, later claims
    within ``ttl`` are refused (1 round trip).  The TTL bounds memory; use a
    ``SET`` (``SADD`` returns 0 for a member already there) instead when the
    window is "forever" and the id space is small.

Commands
    `ZADD <https://redis.io/docs/latest/commands/zadd/>`_,
    `BZPOPMIN <https://redis.io/docs/latest/commands/bzpopmin/>`_,
    `ZPOPMIN <https://redis.io/docs/latest/commands/zpopmin/>`_,
    `ZRANGE BYSCORE <https://redis.io/docs/latest/commands/zrange/>`_,
    `ZREM <https://redis.io/docs/latest/commands/zrem/>`_,
    `LPUSH <https://redis.io/docs/latest/commands/lpush/>`_,
    `BLMOVE <https://redis.io/docs/latest/commands/blmove/>`_,
    `LMOVE <https://redis.io/docs/latest/commands/lmove/>`_,
    `LREM <https://redis.io/docs/latest/commands/lrem/>`_,
    `SET NX EX <https://redis.io/docs/latest/commands/set/>`_.

Failure policy
    Redis errors propagate (``redis.RedisError``): a queue that silently
    drops a push is worse than an error the caller can retry or report.

Cluster
    The keys of one queue are used together (``BLMOVE``, the scripts), so
    they share a ``{hash tag}``: ``q:{emails}:ready``, ``q:{emails}:processing``, ...

Blocking calls
    ``pop(timeout=...)`` and ``take(timeout=...)`` block on the connection:
    use a client whose ``socket_timeout`` is longer than the block
    (``config.redis.build_client(socket_timeout=...)``), not the shared one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis_patterns.scripts import Scripts, loader

PRIORITY_SPAN = 10**13  # ms: keeps arrival order within one priority
MAX_PRIORITY = 9


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch (run-at times and deadlines are absolute)."""
    return time.time_ns() // 1_000_000


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _write(client: Any, key: str, ttl_ms: int | None, write: Callable[[Any], Any]) -> None:
    """Run ``write(client_or_pipe)`` on ``key``; with ``ttl_ms``, refresh the key's TTL in the same
    ``MULTI`` (one round trip, and never a write without its TTL)."""
    if not ttl_ms:
        write(client)
        return
    pipe = client.pipeline(transaction=True)
    write(pipe)
    pipe.pexpire(key, ttl_ms)
    pipe.execute()


class PriorityQueue:
    """Jobs by priority (0 = most urgent), FIFO within a priority.

    Args:
        client: a redis-py client (for ``pop(timeout>0)`` one with a long enough socket timeout).
        key: the sorted set, e.g. ``"q:{mail}:priority"``.
        ttl_ms: if set, the key's TTL is refreshed with every push (demo queues); ``None`` = permanent.
        clock: milliseconds since the epoch; injected in tests.
    """

    def __init__(self, client: Any, key: str, *, ttl_ms: int | None = None,
                 clock: Callable[[], int] = now_ms) -> None:
        self.client, self.key, self.ttl_ms, self.clock = client, key, ttl_ms, clock

    @staticmethod
    def score(priority: int, enqueued_ms: int) -> int:
        if not 0 <= priority <= MAX_PRIORITY:
            raise ValueError(f"priority must be 0..{MAX_PRIORITY}")
        return priority * PRIORITY_SPAN + enqueued_ms % PRIORITY_SPAN

    def push(self, job: str, priority: int) -> None:
        """Enqueue (1 round trip)."""
        score = self.score(priority, self.clock())
        _write(self.client, self.key, self.ttl_ms, lambda c: c.zadd(self.key, {job: score}))

    def pop(self, timeout: float = 0) -> tuple[str, int] | None:
        """Take the most urgent job: ``(job, priority)``, or ``None``.

        ``timeout=0`` does not block (``ZPOPMIN``); ``timeout>0`` blocks up to
        that many seconds (``BZPOPMIN``).
        """
        if timeout > 0:
            reply = self.client.bzpopmin(self.key, timeout=timeout)
            if not reply:
                return None
            _, job, score = reply
        else:
            reply = self.client.zpopmin(self.key)
            if not reply:
                return None
            job, score = reply[0]
        return _text(job), int(score) // PRIORITY_SPAN

    def peek(self, count: int = 20) -> list[tuple[str, int]]:
        """The next ``count`` jobs without taking them: ``[(job, priority), ...]``."""
        rows = self.client.zrange(self.key, 0, count - 1, withscores=True)
        return [(_text(job), int(score) // PRIORITY_SPAN) for job, score in rows]

    def __len__(self) -> int:
        return int(self.client.zcard(self.key))


class DelayedQueue:
    """Jobs that become ready at a given time.

    Args:
        client: a redis-py client.
        key: the sorted set of waiting jobs, e.g. ``"q:{mail}:delayed"``.
        ready_key: the list due jobs move to (e.g. a ``ReliableQueue``'s ``ready_key``); same hash tag.
        ttl_ms: if set, refreshed on both keys with every write (demo queues).
        clock: milliseconds since the epoch; injected in tests.
    """

    def __init__(self, client: Any, key: str, ready_key: str, *, ttl_ms: int | None = None,
                 clock: Callable[[], int] = now_ms, scripts: Scripts | None = None) -> None:
        self.client, self.key, self.ready_key, self.ttl_ms = client, key, ready_key, ttl_ms
        self.clock = clock
        self.scripts = scripts or loader("redis_patterns")

    def schedule(self, job: str, *, run_at_ms: int | None = None, delay_ms: int | None = None) -> int:
        """Schedule ``job`` at ``run_at_ms`` or ``delay_ms`` from now (1 round trip); returns run-at."""
        if run_at_ms is None:
            if delay_ms is None or delay_ms < 0:
                raise ValueError("give run_at_ms, or a delay_ms >= 0")
            run_at_ms = self.clock() + delay_ms
        _write(self.client, self.key, self.ttl_ms, lambda c: c.zadd(self.key, {job: run_at_ms}))
        return run_at_ms

    def promote(self, *, now: int | None = None, server_clock: bool = False, limit: int = 100) -> int:
        """Move due jobs to the ready list (1 round trip); returns how many moved.

        Args:
            now: ms since the epoch; default: this queue's ``clock``.
            server_clock: ignore ``now`` and let the script read Redis's ``TIME``
                (one clock for every promoter, whatever their own clocks say).
            limit: most jobs moved per call.
        """
        if not 1 <= limit <= 1000:
            raise ValueError("limit must be 1..1000 (the script unpacks the batch into one ZREM/LPUSH)")
        now = self.clock() if now is None else now
        return int(self.scripts.call(self.client, "queue_promote_due", keys=[self.key, self.ready_key],
                                     args=["" if server_clock else now, limit, self.ttl_ms or 0]))

    def pending(self, count: int = 20) -> list[tuple[str, int]]:
        """Waiting jobs, soonest first: ``[(job, run_at_ms), ...]``."""
        rows = self.client.zrange(self.key, 0, count - 1, withscores=True)
        return [(_text(job), int(score)) for job, score in rows]

    def __len__(self) -> int:
        return int(self.client.zcard(self.key))


@dataclass(frozen=True)
class ReapResult:
    requeued: int
    adopted: int


class ReliableQueue:
    """An at-least-once list queue: ``BLMOVE`` to a processing list, deadlines, and a reaper.

    Args:
        client: a redis-py client (for ``take(timeout>0)`` one with a long enough socket timeout).
        ready_key, processing_key, deadlines_key: the three keys, sharing a hash tag.
        lease_ms: how long a worker may hold a job before the reaper gives it to another.
        ttl_ms: if set, refreshed on the ready list with every push (demo queues).
        clock: milliseconds since the epoch; injected in tests.
    """

    def __init__(self, client: Any, ready_key: str, processing_key: str, deadlines_key: str, *,
                 lease_ms: int = 30_000, ttl_ms: int | None = None, clock: Callable[[], int] = now_ms,
                 scripts: Scripts | None = None) -> None:
        self.client = client
        self.ready_key, self.processing_key, self.deadlines_key = ready_key, processing_key, deadlines_key
        self.lease_ms, self.ttl_ms, self.clock = lease_ms, ttl_ms, clock
        self.scripts = scripts or loader("redis_patterns")

    def push(self, job: str) -> None:
        """Enqueue (1 round trip)."""
        _write(self.client, self.ready_key, self.ttl_ms, lambda c: c.lpush(self.ready_key, job))

    def take(self, timeout: float = 0, *, lease_ms: int | None = None) -> str | None:
        """Move the oldest job to processing and start its lease (2 round trips); ``None`` if empty.

        ``timeout=0`` does not block (``LMOVE``); ``timeout>0`` blocks up to that
        many seconds (``BLMOVE``).
        """
        if timeout > 0:
            job = self.client.blmove(self.ready_key, self.processing_key, timeout, "RIGHT", "LEFT")
        else:
            job = self.client.lmove(self.ready_key, self.processing_key, "RIGHT", "LEFT")
        if job is None:
            return None
        # If we die right here the job sits in processing without a deadline:
        # the reaper adopts it (gives it one) and requeues it later.
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(self.deadlines_key, {job: self.clock() + (lease_ms or self.lease_ms)})
        if self.ttl_ms:
            for k in (self.processing_key, self.deadlines_key):
                pipe.pexpire(k, self.ttl_ms)
        pipe.execute()
        return _text(job)

    def extend(self, job: str, *, lease_ms: int | None = None) -> bool:
        """Push the job's deadline out (a heartbeat for long jobs); ``False`` if it was reaped."""
        return bool(self.client.zadd(self.deadlines_key, {job: self.clock() + (lease_ms or self.lease_ms)},
                                     xx=True, ch=True))

    def ack(self, job: str) -> bool:
        """Done: drop the job from processing (1 round trip).

        Returns ``False`` when the job was no longer ours (the reaper had
        requeued it, so it may run again: the handler must be idempotent).
        """
        pipe = self.client.pipeline(transaction=True)
        pipe.lrem(self.processing_key, 1, job)
        pipe.zrem(self.deadlines_key, job)
        removed, _ = pipe.execute()
        return bool(removed)

    def reap(self, *, now: int | None = None, limit: int = 100, grace_ms: int | None = None,
             scan: int = 100) -> ReapResult:
        """Requeue jobs whose lease ran out; adopt deadline-less ones (1 round trip)."""
        now = self.clock() if now is None else now
        requeued, adopted = self.scripts.call(
            self.client, "queue_reap", keys=[self.ready_key, self.processing_key, self.deadlines_key],
            args=[now, limit, grace_ms if grace_ms is not None else self.lease_ms, scan, self.ttl_ms or 0])
        return ReapResult(int(requeued), int(adopted))

    def counts(self) -> tuple[int, int]:
        """``(waiting, processing)`` job counts: 1 pipelined round trip."""
        pipe = self.client.pipeline(transaction=False)
        pipe.llen(self.ready_key)
        pipe.llen(self.processing_key)
        ready, processing = pipe.execute()
        return int(ready), int(processing)

    def ready(self, count: int = 20) -> list[str]:
        """Jobs waiting, next first."""
        return [_text(j) for j in reversed(self.client.lrange(self.ready_key, -count, -1))]

    def processing(self) -> list[tuple[str, int | None]]:
        """Jobs being worked on with their deadlines (ms since epoch): 1 pipelined round trip."""
        pipe = self.client.pipeline(transaction=False)
        pipe.lrange(self.processing_key, 0, 99)
        pipe.zrange(self.deadlines_key, 0, -1, withscores=True)
        jobs, deadlines = pipe.execute()
        by_job = {_text(j): int(s) for j, s in deadlines}
        return [(_text(j), by_job.get(_text(j))) for j in jobs]


class Deduplicator:
    """First claim of a job id wins for ``ttl_s`` seconds.

    Args:
        client: a redis-py client.
        key_for: maps a job id to its key (the app's ``keys.py`` hashes or
            delimits the id, e.g. ``lambda job_id: f"q:{{mail}}:dedup:{sha1(job_id)}"``).
        ttl_s: how long a claim is remembered.
    """

    def __init__(self, client: Any, key_for: Callable[[str], str], *, ttl_s: int = 86_400) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive (a dedup key without a TTL grows forever)")
        self.client, self.key_for, self.ttl_s = client, key_for, ttl_s

    def claim(self, job_id: str, *, value: str = "1") -> bool:
        """``True`` for the first caller (1 round trip), ``False`` for every later one within the TTL."""
        return bool(self.client.set(self.key_for(job_id), value, nx=True, ex=self.ttl_s))

    def forget(self, job_id: str) -> None:
        """Let the id be claimed again (e.g. the work failed and should be retried)."""
        self.client.delete(self.key_for(job_id))
