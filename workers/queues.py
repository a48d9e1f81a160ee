"""Queues and task idempotency, put to work: the Django side of ``redis_patterns.queues``.

- ``demo_queues()``: the priority, delayed and reliable queues of the queues
  page (and of the Celery beat tasks that promote and reap them).
- ``run_once(...)``: what makes a Celery task with ``acks_late`` safe to
  deliver twice.  With ``acks_late`` a message is acknowledged after the task
  returns; if the task outlives the broker's ``visibility_timeout`` (or its
  worker dies), the message is delivered again and the task body runs twice.
  ``run_once`` is the checkout's idempotency-key pattern
  (``redis_patterns.idempotency``) applied to a task: per idempotency key a
  "pending" claim with a lease, then "done", so a second delivery skips work
  that is done, and waits (retries later) while the first is still running.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from config.redis import get_redis
from redis_patterns import idempotency
from redis_patterns.queues import (
    PRIORITY_SPAN,
    Deduplicator,
    DelayedQueue,
    PriorityQueue,
    ReliableQueue,
    now_ms,
)
from workers import keys

DEMO_QUEUE = "demo"
DEMO_TTL_MS = 24 * 3600 * 1000  # demo keys live a day after their last write
DEMO_LEASE_MS = 10_000  # a demo worker has 10 s before the reaper takes its job back
DEMO_DEDUP_TTL_S = 600


@dataclass
class Queues:
    priority: PriorityQueue
    delayed: DelayedQueue
    reliable: ReliableQueue
    dedup: Deduplicator


def demo_queues(client: Any = None, queue: str = DEMO_QUEUE) -> Queues:
    """The demo page's queues; delayed jobs become ready in the reliable queue's ready list."""
    client = client or get_redis()
    k = keys.queue_keys(queue)
    return Queues(
        priority=PriorityQueue(client, k.priority, ttl_ms=DEMO_TTL_MS),
        delayed=DelayedQueue(client, k.delayed, k.ready, ttl_ms=DEMO_TTL_MS),
        reliable=ReliableQueue(client, k.ready, k.processing, k.deadlines,
                               lease_ms=DEMO_LEASE_MS, ttl_ms=DEMO_TTL_MS),
        dedup=Deduplicator(client, lambda job_id: keys.dedup_key(queue, job_id), ttl_s=DEMO_DEDUP_TTL_S),
    )


def job_label(job: str) -> dict[str, Any]:
    """A demo job's JSON as a dict (``{"id", "label"}``), tolerant of anything else found in a queue."""
    try:
        data = json.loads(job)
    except ValueError:
        data = None
    return data if isinstance(data, dict) else {"id": "?", "label": job}


def demo_snapshot(q: Queues, *, count: int = 20, promote: bool = True) -> dict[str, Any]:
    """What the queues page shows, in one pipelined round trip.

    With ``promote`` the pipeline first runs the promote script, so a page
    load moves due delayed jobs before reading (the page is a promoter too).
    Returns ``promoted`` (int), ``priority`` ``[(job, priority)]``, ``delayed``
    ``[(job, run_at_ms)]``, ``ready`` (next first), ``processing``
    ``[(job, deadline_ms or None)]`` and ``now_ms``.
    """
    client = q.reliable.client
    pipe = client.pipeline(transaction=False)
    if promote:
        q.delayed.scripts.queue(client, pipe, "queue_promote_due", keys=[q.delayed.key, q.delayed.ready_key],
                                args=[now_ms(), 100, q.delayed.ttl_ms or 0])
    pipe.zrange(q.priority.key, 0, count - 1, withscores=True)
    pipe.zrange(q.delayed.key, 0, count - 1, withscores=True)
    pipe.lrange(q.reliable.ready_key, -count, -1)
    pipe.lrange(q.reliable.processing_key, 0, 99)
    pipe.zrange(q.reliable.deadlines_key, 0, -1, withscores=True)
    # execute() re-runs the promote script alone if the server forgot it.
    replies = q.delayed.scripts.execute(client, pipe)
    promoted = int(replies.pop(0)) if promote else 0
    priority, delayed, ready, processing, deadlines = replies
    by_job = {job: int(score) for job, score in deadlines}
    return {
        "promoted": promoted,
        "priority": [(job, int(score) // PRIORITY_SPAN) for job, score in priority],
        "delayed": [(job, int(score)) for job, score in delayed],
        "ready": list(reversed(ready)),
        "processing": [(job, by_job.get(job)) for job in processing],
        "now_ms": now_ms(),
    }


class AlreadyRunning(Exception):
    """Another delivery of the same task is running now; retry after ``retry_in`` seconds."""

    def __init__(self, retry_in: int) -> None:
        super().__init__(f"another delivery is running; retry in {retry_in}s")
        self.retry_in = retry_in


class AlreadyDone(Exception):
    """This idempotency key's work is done: skip it."""


@contextlib.contextmanager
def run_once(task_name: str, idempotency_key: str, *, lease_s: int = 600, done_ttl_s: int = 7 * 86_400,
             client: Any = None) -> Iterator[None]:
    """Run the block at most once per ``(task_name, idempotency_key)`` among concurrent deliveries.

    ``idempotency.begin`` claims the work with a lease (1 round trip).  On
    success the block runs and the record becomes ``done`` for ``done_ttl_s``;
    on an exception the claim is released (compare-and-act on our token, so
    only our own claim), letting a retry run it again.

    Raises:
        AlreadyDone: the work was completed by an earlier delivery.
        AlreadyRunning: another delivery holds the claim; retry after its lease.

    The lease must exceed the task's hard time limit, so a claim never lapses
    while its task can still be running.
    """
    client = client or get_redis()
    record = keys.task_once_key(task_name, idempotency_key)
    claim = idempotency.begin(client, record, task_name, pending_ttl_ms=lease_s * 1000)
    if claim.state == "done":
        raise AlreadyDone(idempotency_key)
    if not claim.acquired:
        ttl_ms = client.pttl(record)
        raise AlreadyRunning(max(1, -(-ttl_ms // 1000) if ttl_ms and ttl_ms > 0 else 1))
    try:
        yield
    except BaseException:
        idempotency.release(client, claim)
        raise
    idempotency.complete(client, claim, "done", ttl_ms=done_ttl_s * 1000)
