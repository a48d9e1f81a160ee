"""Writes of ``workers/``: the lock and queue demos, and replaying a dead letter.

The stream consumers themselves are in ``handlers.py`` (what to do with an
entry) and ``management/commands/run_stream_worker.py`` (the process); the
pattern modules are ``redis_patterns.lock``, ``redis_patterns.queues`` and
``redis_patterns.streams``; ``locks.py`` and ``queues.py`` bind them to the
app's Redis and database.  The functions here are what the demo pages'
buttons do.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from config.redis import get_redis
from redis_patterns import streams
from redis_patterns.lock import Lease
from redis_patterns.queues import now_ms
from shop.keys import orders_stream
from workers import keys, locks, queues

DEMO_LOCK, DEMO_RESOURCE = locks.DEMO_LOCK, locks.DEMO_RESOURCE
PAUSE_TTL_MS = 150  # the paused holder's lock TTL in the scripted scenario


# --- dead letters ----------------------------------------------------------------------------


def dead_letter_replay(*, entry_id: str) -> str | None:
    """Put one dead-lettered entry back on the orders stream (``XADD`` + ``XDEL`` in ``MULTI``).

    Returns the new entry id, or ``None`` when there is no such dead letter
    (already replayed).  ``entry_id`` must be a stream id (``<ms>-<seq>``).
    """
    parts = entry_id.split("-")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() and len(p) <= 20 for p in parts):
        raise ValueError("not a stream id")
    return streams.replay_dead_letter(get_redis(), orders_stream(), keys.orders_dead_letter(), entry_id)


# --- the lock demo ------------------------------------------------------------------------------


def demo_lock_acquire(*, ttl_s: int) -> Lease | None:
    """Try once to take the demo lock for ``ttl_s`` seconds (``None``: someone holds it)."""
    return locks.job_lock(DEMO_LOCK, ttl_ms=ttl_s * 1000).try_acquire()


def demo_lock_release(lease: Lease) -> bool:
    """Release the demo lock if ``lease`` still holds it (compare-and-delete)."""
    return locks.job_lock(DEMO_LOCK).release(lease)


def demo_fenced_write(lease: Lease, *, writer: str) -> bool:
    """Write the demo resource row with the lease's fencing token; ``False``: a newer holder wrote."""
    return locks.fenced_write(resource=DEMO_RESOURCE, value={"by": writer, "at": now_ms()}, fence=lease.fence,
                              writer=writer)


def demo_paused_holder() -> list[dict[str, Any]]:
    """A holder pauses past its TTL; another takes the lock and writes; the first wakes up and writes.

    Runs for real against Redis and the database: the only simulated part is
    the pause (we simply wait for the first lease to expire).
    """
    steps: list[dict[str, Any]] = []
    lock = locks.job_lock(DEMO_LOCK, ttl_ms=PAUSE_TTL_MS)
    a = lock.acquire(timeout=2.0)
    if a is None:
        return [{"who": "A", "what": "could not take the lock: someone holds it (release yours first)",
                 "ok": False}]
    steps.append({"who": "A", "what": f"acquires the lock with a {PAUSE_TTL_MS} ms TTL", "fence": a.fence,
                  "ok": True})
    steps.append({"who": "A", "what": "pauses (a GC pause, a SIGSTOP, a swapped-out VM)...", "fence": a.fence,
                  "ok": None})
    client = get_redis()
    deadline = time.monotonic() + 2.0
    # Until the key is gone: PTTL says 0 in its last millisecond, while it still exists.
    while client.exists(keys.lock_key(DEMO_LOCK)) and time.monotonic() < deadline:
        time.sleep(0.01)  # the demo waits out the 150 ms TTL
    steps.append({"who": "Redis", "what": "A's lock expires; A does not know", "fence": None, "ok": None})
    b_lock = locks.job_lock(DEMO_LOCK, ttl_ms=10_000)
    b = b_lock.try_acquire()
    if b is None:
        return [*steps, {"who": "B", "what": "someone else took the lock first; try again", "ok": False}]
    steps.append({"who": "B", "what": "acquires the lock", "fence": b.fence, "ok": True})
    ok_b = locks.fenced_write(resource=DEMO_RESOURCE, value={"by": "B", "at": now_ms()}, fence=b.fence,
                              writer="B (current holder)")
    steps.append({"who": "B", "what": "writes the report row", "fence": b.fence, "ok": ok_b,
                  "verdict": "accepted" if ok_b else "rejected"})
    ok_a = locks.fenced_write(resource=DEMO_RESOURCE, value={"by": "A", "at": now_ms()}, fence=a.fence,
                              writer="A (paused holder)")
    steps.append({"who": "A", "what": "wakes up, still believing it holds the lock, and writes", "fence": a.fence,
                  "ok": ok_a, "verdict": "accepted" if ok_a else "rejected by the fence"})
    released_a = lock.release(a)
    steps.append({"who": "A", "what": "tries to release", "fence": a.fence, "ok": released_a,
                  "verdict": "released" if released_a else "refused: the lock is B's (compare-and-delete)"})
    b_lock.release(b)
    steps.append({"who": "B", "what": "releases", "fence": b.fence, "ok": True, "verdict": "released"})
    return steps


def demo_redlock() -> dict[str, Any]:
    """One Redlock attempt over ``REDLOCK_URLS`` (released at once); what each server said."""
    urls = locks.redlock_urls()
    if len(urls) < 3:
        return {"configured": False, "servers": len(urls)}
    rl = locks.redlock(DEMO_LOCK + "-redlock", ttl_ms=5_000)
    result = rl.attempt()
    if result.lease is not None:
        rl.release(result.lease)
    return {"configured": True, "servers": len(urls), "votes": result.votes, "quorum": result.quorum,
            "errors": result.errors, "elapsed_ms": result.elapsed_ms, "acquired": result.lease is not None,
            "validity_ms": result.lease.validity_ms if result.lease else None}


# --- the queue demo -------------------------------------------------------------------------------


def demo_queues_refresh() -> dict[str, Any]:
    """Promote due delayed jobs and read what the queues page shows, in one round trip.

    A page load is a promoter too: due jobs appear as soon as they are due,
    even when no beat task runs.
    """
    snap = queues.demo_snapshot(queues.demo_queues())
    now = snap["now_ms"]
    label = queues.job_label
    return {
        "promoted": snap["promoted"],
        "priority": [{**label(j), "priority": p} for j, p in snap["priority"]],
        "delayed": [{**label(j), "due_in_s": max(0.0, (at - now) / 1000)} for j, at in snap["delayed"]],
        "ready": [label(j) for j in snap["ready"]],
        "processing": [{**label(j), "deadline_in_s": None if d is None else (d - now) / 1000}
                       for j, d in snap["processing"]],
    }


def _job(label: str) -> str:
    return json.dumps({"id": secrets.token_hex(4), "label": label}, separators=(",", ":"))


def demo_priority_push(*, label: str, priority: int) -> None:
    queues.demo_queues().priority.push(_job(label), priority)


def demo_priority_pop() -> tuple[str, int] | None:
    """The most urgent job and its priority, or ``None`` when the queue is empty."""
    return queues.demo_queues().priority.pop()


def demo_schedule(*, label: str, delay_s: int) -> None:
    queues.demo_queues().delayed.schedule(_job(label), delay_ms=delay_s * 1000)


def demo_reliable_push(*, label: str) -> None:
    queues.demo_queues().reliable.push(_job(label))


def demo_reliable_take(*, ack: bool) -> str | None:
    """A worker takes the next job and acks it (``ack``) or dies before acking; ``None``: empty."""
    q = queues.demo_queues()
    job = q.reliable.take()
    if job is not None and ack:
        q.reliable.ack(job)
    return job


def demo_reap() -> tuple[int, int]:
    """Run the reaper once: ``(requeued, adopted)``."""
    result = queues.demo_queues().reliable.reap()
    return result.requeued, result.adopted


def demo_dedup_push(*, job_id: str) -> bool:
    """Queue a job unless its id was seen within the dedup window; ``True`` if queued."""
    q = queues.demo_queues()
    if not q.dedup.claim(job_id):
        return False
    q.reliable.push(_job(f"dedup:{job_id}"))
    return True
