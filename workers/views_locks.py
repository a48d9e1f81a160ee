"""Demo pages: a lock with fencing tokens (and Redlock), and four kinds of queue.

Thin adapters: forms post an ``action``; the work is in ``workers/locks.py``,
``workers/queues.py`` and the ``redis_patterns`` modules they use.  A bad
action or bad input re-renders the page with a 400 and changes nothing.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from redis.exceptions import RedisError

from config.context_processors import cached_redis_health
from config.redis import get_redis
from redis_patterns.lock import Lease, LockUnavailable
from redis_patterns.queues import MAX_PRIORITY, now_ms
from redis_patterns.tracing import tracing
from workers import keys_locks, locks, queues

DEMO_LOCK = "demo"
DEMO_RESOURCE = "demo-report"
PAUSE_TTL_MS = 150  # the paused holder's lock TTL in the scripted scenario
SESSION_LEASE = "workers_demo_lease"
LABEL_MAX = 40


class BadInput(ValueError):
    """Form input the page refuses (400)."""


def _lease_from_session(request: HttpRequest) -> Lease | None:
    data = request.session.get(SESSION_LEASE)
    if not data:
        return None
    return Lease(token=data["token"], fence=data["fence"], ttl_ms=data["ttl_ms"], acquired_at=0.0,
                 validity_ms=data["ttl_ms"])


def _int(request: HttpRequest, name: str, low: int, high: int, default: int | None = None) -> int:
    raw = request.POST.get(name, "")
    if raw == "" and default is not None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadInput(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise BadInput(f"{name} must be between {low} and {high}")
    return value


def _label(request: HttpRequest, name: str = "label") -> str:
    value = request.POST.get(name, "").strip()
    if not value or len(value) > LABEL_MAX or not value.isprintable():
        raise BadInput(f"{name}: 1 to {LABEL_MAX} printable characters")
    return value


# --- locks ---------------------------------------------------------------------------------


def _lock_state() -> dict[str, Any]:
    client = get_redis()
    pipe = client.pipeline(transaction=False)
    pipe.pttl(keys_locks.lock_key(DEMO_LOCK))
    pipe.get(keys_locks.fence_key(DEMO_LOCK))
    pttl, fence = pipe.execute()
    return {"held": pttl > 0 or pttl == -1, "pttl_ms": pttl if pttl > 0 else None, "last_fence": int(fence or 0)}


def _paused_holder_scenario() -> list[dict[str, Any]]:
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
    steps.append({"who": "A", "what": f"acquires the lock with a {PAUSE_TTL_MS} ms TTL", "fence": a.fence, "ok": True})
    steps.append({"who": "A", "what": "pauses (a GC pause, a SIGSTOP, a swapped-out VM)...", "fence": a.fence,
                  "ok": None})
    client = get_redis()
    deadline = time.monotonic() + 2.0
    # Until the key is gone: PTTL says 0 in its last millisecond, while it still exists.
    while client.exists(keys_locks.lock_key(DEMO_LOCK)) and time.monotonic() < deadline:
        time.sleep(0.01)  # a demo request waits out the 150 ms TTL
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


def _redlock_demo() -> dict[str, Any]:
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


@require_http_methods(["GET", "POST"])
def locks_page(request: HttpRequest) -> HttpResponse:
    """The lock demo: acquire/hold/release, a fenced write, the paused-holder scenario, Redlock."""
    context: dict[str, Any] = {"lock_name": DEMO_LOCK, "resource": DEMO_RESOURCE, "pause_ttl_ms": PAUSE_TTL_MS,
                               "redlock_servers": len(locks.redlock_urls())}
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if not cached_redis_health()[0]:
                raise LockUnavailable("Redis is unavailable")
            if action == "acquire":
                ttl_s = _int(request, "ttl_s", 1, 120, default=20)
                with tracing("acquire"):
                    lease = locks.job_lock(DEMO_LOCK, ttl_ms=ttl_s * 1000).try_acquire()
                if lease is None:
                    messages.warning(request, "Busy: someone else holds the lock.")
                else:
                    request.session[SESSION_LEASE] = {"token": lease.token, "fence": lease.fence,
                                                      "ttl_ms": lease.ttl_ms}
                    messages.success(request, f"Acquired with fencing token {lease.fence} for {ttl_s} s.")
            elif action in {"release", "write"}:
                lease = _lease_from_session(request)
                if lease is None:
                    raise BadInput("you hold no lease: acquire first")
                if action == "release":
                    released = locks.job_lock(DEMO_LOCK).release(lease)
                    request.session.pop(SESSION_LEASE, None)
                    messages.info(request, "Released." if released else
                                  "Not released: your lock had expired (and may be someone else's now).")
                else:
                    ok = locks.fenced_write(resource=DEMO_RESOURCE, value={"by": "you", "at": now_ms()},
                                            fence=lease.fence, writer=f"you (fence {lease.fence})")
                    if ok:
                        messages.success(request, f"Write with fence {lease.fence} accepted.")
                    else:
                        messages.error(request, f"Write with fence {lease.fence} rejected: a newer holder wrote.")
            elif action == "pause":
                context["steps"] = _paused_holder_scenario()
            elif action == "redlock":
                context["redlock"] = _redlock_demo()
            else:
                raise BadInput("unknown action")
            if action in {"acquire", "release", "write"}:
                return redirect("workers_locks:locks")
        except BadInput as exc:
            context["bad_input"] = str(exc)
            status = 400
        except (LockUnavailable, RedisError) as exc:
            context["error"] = f"{exc} (the lock fails closed: nothing was done)"
            status = 503
    if cached_redis_health()[0]:
        try:
            context["state"] = _lock_state()
        except RedisError as exc:
            context["error"] = str(exc)
    context["lease"] = request.session.get(SESSION_LEASE)
    context["row"] = row = locks.resource_state(DEMO_RESOURCE)
    context["row_value"] = json.dumps(row.value) if row else ""
    context["attempts"] = locks.recent_attempts(DEMO_RESOURCE, 8)
    return render(request, "workers/locks.html", context, status=status)


# --- queues --------------------------------------------------------------------------------


def _job(label: str) -> str:
    return json.dumps({"id": secrets.token_hex(4), "label": label}, separators=(",", ":"))


def _show(job: str) -> dict[str, Any]:
    try:
        data = json.loads(job)
    except ValueError:
        data = {"id": "?", "label": job}
    return data


def _queue_state() -> dict[str, Any]:
    # One round trip: the promote script (reloading the page is also a
    # promoter: due jobs appear as soon as they are due) and every read.
    snap = queues.demo_snapshot(queues.demo_queues())
    now = snap["now_ms"]
    return {
        "promoted": snap["promoted"],
        "priority": [{**_show(j), "priority": p} for j, p in snap["priority"]],
        "delayed": [{**_show(j), "due_in_s": max(0.0, (at - now) / 1000)} for j, at in snap["delayed"]],
        "ready": [_show(j) for j in snap["ready"]],
        "processing": [{**_show(j), "deadline_in_s": None if d is None else (d - now) / 1000}
                       for j, d in snap["processing"]],
    }


@require_http_methods(["GET", "POST"])
def queues_page(request: HttpRequest) -> HttpResponse:
    """The queues demo: priorities, delayed jobs, a reliable queue with a reaper, deduplication."""
    context: dict[str, Any] = {"max_priority": MAX_PRIORITY, "lease_s": queues.DEMO_LEASE_MS // 1000,
                               "dedup_ttl_s": queues.DEMO_DEDUP_TTL_S}
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if not cached_redis_health()[0]:
                raise RedisError("Redis is unavailable")
            q = queues.demo_queues()
            if action == "push_priority":
                label, priority = _label(request), _int(request, "priority", 0, MAX_PRIORITY)
                q.priority.push(_job(label), priority)
                messages.success(request, f"Queued {label!r} with priority {priority}.")
            elif action == "pop_priority":
                got = q.priority.pop()
                messages.info(request, "The priority queue is empty." if got is None else
                              f"A worker took {_show(got[0])['label']!r} (priority {got[1]}).")
            elif action == "schedule":
                label, delay = _label(request), _int(request, "delay_s", 1, 300)
                q.delayed.schedule(_job(label), delay_ms=delay * 1000)
                messages.success(request, f"{label!r} will be ready in {delay} s.")
            elif action == "push_reliable":
                label = _label(request)
                q.reliable.push(_job(label))
                messages.success(request, f"Queued {label!r}.")
            elif action in {"take_ack", "take_die"}:
                job = q.reliable.take()
                if job is None:
                    messages.info(request, "The reliable queue is empty.")
                elif action == "take_ack":
                    q.reliable.ack(job)
                    messages.success(request, f"A worker took {_show(job)['label']!r}, did it, and acked it.")
                else:
                    messages.warning(request, f"A worker took {_show(job)['label']!r} and died before acking: "
                                              f"it stays in processing until its {context['lease_s']} s lease "
                                              "runs out and the reaper requeues it.")
            elif action == "reap":
                result = q.reliable.reap()
                messages.info(request, f"Reaper: {result.requeued} job(s) requeued, {result.adopted} adopted.")
            elif action == "dedup":
                job_id = _label(request, "job_id")
                if q.dedup.claim(job_id):
                    q.reliable.push(_job(f"dedup:{job_id}"))
                    messages.success(request, f"Job id {job_id!r} is new: queued.")
                else:
                    messages.warning(request, f"Job id {job_id!r} was seen in the last "
                                              f"{queues.DEMO_DEDUP_TTL_S} s: dropped as a duplicate.")
            else:
                raise BadInput("unknown action")
            return redirect("workers_locks:queues")
        except BadInput as exc:
            context["bad_input"] = str(exc)
            status = 400
        except RedisError as exc:
            context["error"] = str(exc)
            status = 503
    if cached_redis_health()[0]:
        try:
            context.update(_queue_state())
        except RedisError as exc:
            context["error"] = str(exc)
    return render(request, "workers/queues.html", context, status=status)
