"""Celery tasks of ``workers/``: queue maintenance and a singleton job behind a fenced lock.

Thin adapters: the work is in ``workers/queues.py`` and ``workers/locks.py``.
All three are safe to deliver twice (``acks_late``): promoting and reaping
are single atomic scripts that act only on what is due, and the snapshot
writes through a fence, so a stale duplicate is rejected by the database.
Scheduled by ``CELERY_BEAT_SCHEDULE`` in ``config/settings.py``.
"""

from __future__ import annotations

import logging
import os
import socket

from celery import shared_task

from redis_patterns.lock import LockUnavailable
from workers import locks, queues

log = logging.getLogger(__name__)

SNAPSHOT_LOCK = "queue-snapshot"
SNAPSHOT_RESOURCE = "queue-depths"
SNAPSHOT_TTL_MS = 60_000  # longer than the job ever takes; the fence covers a pause beyond it


@shared_task(name="workers.tasks.promote_delayed_jobs")
def promote_delayed_jobs() -> int:
    """Move the demo queue's due delayed jobs to its ready list; returns how many moved."""
    return queues.demo_queues().delayed.promote()


@shared_task(name="workers.tasks.reap_reliable_queue")
def reap_reliable_queue() -> dict[str, int]:
    """Give jobs whose worker's lease ran out back to the demo reliable queue."""
    result = queues.demo_queues().reliable.reap()
    if result.requeued:
        log.info("reaper requeued %d job(s) from dead or slow workers", result.requeued)
    return {"requeued": result.requeued, "adopted": result.adopted}


def snapshot_queue_depths_once(*, writer: str | None = None) -> dict[str, object]:
    """The singleton job: one runner at a time, and its write fenced.

    Takes the lock without waiting (another worker running it is fine: skip),
    reads the demo queues' depths, and records them in the ``queue-depths``
    row through ``fenced_write``.  Returns what happened.
    """
    writer = writer or f"{socket.gethostname()}:{os.getpid()}"
    lock = locks.job_lock(SNAPSHOT_LOCK, ttl_ms=SNAPSHOT_TTL_MS)
    try:
        lease = lock.try_acquire()
    except LockUnavailable:
        return {"ran": False, "reason": "redis unavailable (lock fails closed)"}
    if lease is None:
        return {"ran": False, "reason": "another worker holds the lock"}
    try:
        q = queues.demo_queues()
        ready, processing = q.reliable.counts()
        depths = {"priority": len(q.priority), "delayed": len(q.delayed), "ready": ready,
                  "processing": processing}
        accepted = locks.fenced_write(resource=SNAPSHOT_RESOURCE, value=depths, fence=lease.fence, writer=writer)
        return {"ran": True, "fence": lease.fence, "accepted": accepted, "depths": depths}
    finally:
        try:
            lock.release(lease)
        except LockUnavailable:
            pass  # expires by its TTL


@shared_task(name="workers.tasks.snapshot_queue_depths")
def snapshot_queue_depths() -> dict[str, object]:
    """Beat task: see ``snapshot_queue_depths_once``."""
    return snapshot_queue_depths_once()
