"""Key names for the locks, queues and task deduplication of ``workers/``.

Kept apart from ``workers/keys.py`` (the stream keys) only so two branches
could be written in parallel; each function is one key.  Every name goes
through ``config.redis.key`` (the deployment's prefix).  Names passed in
come from code (``NAME_RE``); job ids from users are hashed.
"""

from __future__ import annotations

import hashlib
import re

from config.redis import key

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _name(name: str) -> str:
    if not NAME_RE.match(name):
        raise ValueError(f"bad name {name!r}: use [a-z0-9_-], at most 64 characters")
    return name


def _hashed(value: str) -> str:
    return hashlib.sha1(value.encode(), usedforsecurity=False).hexdigest()


def lock_key(name: str) -> str:
    """lock:{<name>} -- STRING holding the holder's random token; TTL = the lock TTL (PX); writer: redis_patterns.lock."""
    return key("lock", f"{{{_name(name)}}}")


def fence_key(name: str) -> str:
    """lock:{<name>}:fence -- STRING integer, the last fencing token issued; no TTL (permanent by design:
    a fence must never go backwards); writer: lua/lock_acquire.lua (INCR)."""
    return key("lock", f"{{{_name(name)}}}", "fence")


def priority_queue_key(queue: str) -> str:
    """q:{<queue>}:priority -- ZSET member=job JSON, score=priority*10^13+enqueue ms; TTL: demo queues
    refresh 1 day on each push, app queues none; writer: redis_patterns.queues.PriorityQueue."""
    return key("q", f"{{{_name(queue)}}}", "priority")


def delayed_key(queue: str) -> str:
    """q:{<queue>}:delayed -- ZSET member=job JSON, score=run-at ms since epoch; TTL as the queue's;
    writer: DelayedQueue.schedule, lua/queue_promote_due.lua."""
    return key("q", f"{{{_name(queue)}}}", "delayed")


def ready_key(queue: str) -> str:
    """q:{<queue>}:ready -- LIST of job JSON (LPUSH in, taken from the right); TTL as the queue's;
    writer: ReliableQueue.push, queue_promote_due.lua, queue_reap.lua."""
    return key("q", f"{{{_name(queue)}}}", "ready")


def processing_key(queue: str) -> str:
    """q:{<queue>}:processing -- LIST of jobs taken and not yet acked; TTL as the queue's;
    writer: ReliableQueue.take (BLMOVE), ack (LREM), queue_reap.lua."""
    return key("q", f"{{{_name(queue)}}}", "processing")


def deadlines_key(queue: str) -> str:
    """q:{<queue>}:deadlines -- ZSET member=job in processing, score=lease deadline ms; TTL as the queue's;
    writer: ReliableQueue.take/extend/ack, queue_reap.lua."""
    return key("q", f"{{{_name(queue)}}}", "deadlines")


def dedup_key(queue: str, job_id: str) -> str:
    """q:{<queue>}:dedup:<sha1(job id)> -- STRING "1"; TTL = the dedup window (SET NX EX);
    writer: redis_patterns.queues.Deduplicator."""
    return key("q", f"{{{_name(queue)}}}", "dedup", _hashed(job_id))


def task_once_key(task_name: str, idempotency_key: str) -> str:
    """task:once:<sha1(task name + key)> -- STRING "running:<token>" (TTL = lease) then "done"
    (TTL = done window); writer: workers.queues.run_once (Celery task idempotency)."""
    return key("task", "once", _hashed(f"{task_name}\x00{idempotency_key}"))
