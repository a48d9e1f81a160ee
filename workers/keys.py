"""Every Redis key of ``workers/``: the stream consumers, locks, queues and task deduplication.

One function per key, each declared in the key registry.  Every name goes
through ``config.redis.key`` (the deployment's prefix).  Names passed in come
from code (``NAME_RE``); job ids from users are hashed.

The orders stream itself belongs to the shop (``shop.keys.orders_stream``:
the shop publishes, it does not know who consumes); its dead letters and the
workers' stats share its ``{orders}`` hash tag, because dead-lettering is
``XADD`` + ``XACK`` in one ``MULTI``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from config.keyspace import family
from config.redis import key
from shop.keys import ORDERS_TAG, orders_stream

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise ValueError(f"bad name {name!r}: use [a-z0-9_-], at most 64 characters")
    return name


def _hashed(value: str) -> str:
    return hashlib.sha1(value.encode(), usedforsecurity=False).hexdigest()


# --- the orders stream's consumers ---------------------------------------------------------------


@family("{orders}:lab:<run>:stream", type="stream", expires=False,
        ttl="no TTL: the lab deletes it at the end (--keep leaves it to look at)",
        writer="lab_streams (a private stream for one run)")
def orders_lab_stream(run: str) -> str:
    """A private orders stream for one ``lab_streams`` run."""
    return key(ORDERS_TAG, "lab", _name(run), "stream")


def orders_stream_for(lab: str | None = None) -> str:
    """The orders stream, or a lab run's private one (the workers consume either)."""
    return orders_lab_stream(lab) if lab else orders_stream()


@family("{orders}:dead", type="stream", ttl="permanent, capped at ~10k entries (XADD MAXLEN ~)",
        expires=False, writer="redis_patterns.streams (run_stream_worker); replayed from the streams page")
@family("{orders}:lab:<run>:dead", type="stream", expires=False, ttl="no TTL: the lab deletes it at the end",
        writer="lab_streams workers")
def orders_dead_letter(lab: str | None = None) -> str:
    """Entries that failed ``max_deliveries`` times."""
    return key(ORDERS_TAG, "lab", _name(lab), "dead") if lab else key(ORDERS_TAG, "dead")


@family("{orders}:stats:<group>", type="hash", ttl="7 days, refreshed by each write",
        writer="redis_patterns.streams (in the same pipeline as the XACK)")
@family("{orders}:lab:<run>:stats:<group>", type="hash", ttl="7 days; the lab deletes it", writer="lab_streams workers")
def orders_stats(group: str, lab: str | None = None) -> str:
    """A consumer group's counters (acked, dead_lettered, duplicates_absorbed)."""
    if lab:
        return key(ORDERS_TAG, "lab", _name(lab), "stats", _name(group))
    return key(ORDERS_TAG, "stats", _name(group))


# --- locks ---------------------------------------------------------------------------------------


@family("lock:{<name>}", type="string", ttl="the lock TTL (SET NX PX)", writer="redis_patterns.lock")
def lock_key(name: str) -> str:
    """The lock: holds the holder's random token."""
    return key("lock", f"{{{_name(name)}}}")


@family("lock:{<name>}:fence", type="string", expires=False,
        ttl="permanent by design: a fence must never go backwards", writer="lua/lock_acquire.lua (INCR)")
def fence_key(name: str) -> str:
    """The last fencing token issued for the lock (an integer)."""
    return key("lock", f"{{{_name(name)}}}", "fence")


# --- queues --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueKeys:
    """The keys of one queue; all share the ``{<queue>}`` tag (the promote and reap scripts use several)."""

    priority: str
    delayed: str
    ready: str
    processing: str
    deadlines: str


@family("q:{<queue>}:priority", type="zset", ttl="demo queue: 1 day, refreshed by each push",
        writer="redis_patterns.queues.PriorityQueue (member=job JSON, score=priority*10^13+enqueue ms)")
@family("q:{<queue>}:delayed", type="zset", ttl="as the queue's",
        writer="DelayedQueue.schedule; lua/queue_promote_due.lua (score=run-at ms)")
@family("q:{<queue>}:ready", type="list", ttl="as the queue's",
        writer="ReliableQueue.push, queue_promote_due.lua, queue_reap.lua (LPUSH in, taken from the right)")
@family("q:{<queue>}:processing", type="list", ttl="as the queue's",
        writer="ReliableQueue.take (BLMOVE), ack (LREM), queue_reap.lua")
@family("q:{<queue>}:deadlines", type="zset", ttl="as the queue's",
        writer="ReliableQueue.take/extend/ack, queue_reap.lua (member=job, score=lease deadline ms)")
def queue_keys(queue: str) -> QueueKeys:
    """A queue's keys: priority jobs (``BZPOPMIN``), delayed jobs scored by due time, the ready list, jobs
    taken and not yet acknowledged, and the lease deadline of each job in processing."""
    base = key("q", f"{{{_name(queue)}}}")
    return QueueKeys(priority=f"{base}:priority", delayed=f"{base}:delayed", ready=f"{base}:ready",
                     processing=f"{base}:processing", deadlines=f"{base}:deadlines")


@family("q:{<queue>}:dedup:<sha1(job id)>", type="string", ttl="the dedup window (SET NX EX)",
        writer="redis_patterns.queues.Deduplicator")
def dedup_key(queue: str, job_id: str) -> str:
    """A job id seen within the window (value "1")."""
    return key("q", f"{{{_name(queue)}}}", "dedup", _hashed(job_id))


@family("task:once:<sha256(task, key)>", type="hash", ttl="the lease while running, then the done window",
        writer="workers.queues.run_once (redis_patterns.idempotency)")
def task_once_key(task_name: str, idempotency_key: str) -> str:
    """A Celery task's idempotency record: at most one delivery runs it (see ``workers.queues.run_once``)."""
    digest = hashlib.sha256(f"{task_name}\x00{idempotency_key}".encode()).hexdigest()[:40]
    return key("task", "once", digest)
