"""Pages of ``workers/``: the staff streams page, and the lock and queue demos.

Thin adapters: forms post an ``action``; the work is in ``services`` (what a
button does) and ``selectors`` (what the page shows).  A bad action or bad
input re-renders the page with a 400 and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from redis.exceptions import RedisError

from config.redis import cached_redis_health
from redis_patterns.lock import Lease, LockUnavailable
from redis_patterns.queues import MAX_PRIORITY
from redis_patterns.tracing import tracing
from shop.checkout import MAX_REPUBLISH
from shop.keys import orders_stream
from workers import keys, queues, selectors, services

SESSION_LEASE = "workers_demo_lease"
LABEL_MAX = 40


class BadInput(ValueError):
    """Form input the page refuses (400)."""


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


# --- streams (staff) -------------------------------------------------------------------------


@staff_member_required
@require_GET
def streams_page(request: HttpRequest) -> HttpResponse:
    """XINFO STREAM/GROUPS/CONSUMERS, pending and lag, the dead letters with a replay button."""
    context: dict = {"outbox": selectors.outbox_backlog(), "statuses": selectors.order_status_counts(),
                     "not_done": selectors.orders_not_done(), "max_republish": MAX_REPUBLISH,
                     "duplicates": selectors.duplicate_fulfilments(), "stream_key": orders_stream(),
                     "dead_key": keys.orders_dead_letter()}
    if cached_redis_health()[0]:
        try:
            overview = selectors.stream_overview()
            context.update(overview=overview, dead=selectors.dead_letters(),
                           trim_floor=selectors.stream_trim_floor() if overview and overview[0]["exists"] else None)
        except RedisError as exc:
            context["error"] = str(exc)
    return render(request, "workers/streams.html", context)


@staff_member_required
@require_POST
def replay(request: HttpRequest) -> HttpResponse:
    """Put one dead-lettered entry back on the orders stream."""
    entry_id = request.POST.get("id", "")
    try:
        new_id = services.dead_letter_replay(entry_id=entry_id)
    except ValueError:
        messages.error(request, "Not a stream id.")
        return redirect("workers:streams")
    except RedisError as exc:
        messages.error(request, f"Redis error: {exc}")
        return redirect("workers:streams")
    if new_id is None:
        messages.error(request, f"No dead letter {entry_id} (already replayed?).")
    else:
        messages.success(request, f"Replayed {entry_id} as {new_id} on the orders stream.")
    return redirect("workers:streams")


# --- locks ---------------------------------------------------------------------------------


def _lease_from_session(request: HttpRequest) -> Lease | None:
    data = request.session.get(SESSION_LEASE)
    if not data:
        return None
    return Lease(token=data["token"], fence=data["fence"], ttl_ms=data["ttl_ms"], acquired_at=0.0,
                 validity_ms=data["ttl_ms"])


def _lock_action(request: HttpRequest, action: str | None, context: dict[str, Any]) -> bool:
    """Do what the button says; ``True`` when the page should redirect (post/redirect/get)."""
    if action == "acquire":
        held = _lease_from_session(request)
        state = selectors.demo_lock_state()
        if held is not None and state["held"] and state["last_fence"] == held.fence:
            messages.info(request, f"You already hold the lock (fencing token {held.fence}).")
            return True
        ttl_s = _int(request, "ttl_s", 1, 120, default=20)
        with tracing("acquire"):
            lease = services.demo_lock_acquire(ttl_s=ttl_s)
        if lease is None:
            messages.warning(request, "Busy: someone else holds the lock.")
        else:
            request.session[SESSION_LEASE] = {"token": lease.token, "fence": lease.fence, "ttl_ms": lease.ttl_ms}
            messages.success(request, f"Acquired with fencing token {lease.fence} for {ttl_s} s.")
        return True
    if action in {"release", "write"}:
        lease = _lease_from_session(request)
        if lease is None:
            raise BadInput("you hold no lease: acquire first")
        if action == "release":
            released = services.demo_lock_release(lease)
            request.session.pop(SESSION_LEASE, None)
            messages.info(request, "Released." if released else
                          "Not released: your lock had expired (and may be someone else's now).")
        elif services.demo_fenced_write(lease, writer=f"you (fence {lease.fence})"):
            messages.success(request, f"Write with fence {lease.fence} accepted.")
        else:
            messages.error(request, f"Write with fence {lease.fence} rejected: a newer holder wrote.")
        return True
    if action == "pause":
        context["steps"] = services.demo_paused_holder()
    elif action == "redlock":
        context["redlock"] = services.demo_redlock()
    else:
        raise BadInput("unknown action")
    return False


@require_http_methods(["GET", "POST"])
def locks_page(request: HttpRequest) -> HttpResponse:
    """The lock demo: acquire/hold/release, a fenced write, the paused-holder scenario, Redlock."""
    context: dict[str, Any] = {"lock_name": services.DEMO_LOCK, "resource": services.DEMO_RESOURCE,
                               "pause_ttl_ms": services.PAUSE_TTL_MS, "redlock_servers": selectors.redlock_servers()}
    status = 200
    if request.method == "POST":
        try:
            if not cached_redis_health()[0]:
                raise LockUnavailable("Redis is unavailable")
            if _lock_action(request, request.POST.get("action"), context):
                return redirect("workers:locks")
        except BadInput as exc:
            context["bad_input"] = str(exc)
            status = 400
        except (LockUnavailable, RedisError) as exc:
            context["error"] = f"{exc} (the lock fails closed: nothing was done)"
            status = 503
    if cached_redis_health()[0]:
        try:
            context["state"] = selectors.demo_lock_state()
        except RedisError as exc:
            context["error"] = str(exc)
    context["lease"] = request.session.get(SESSION_LEASE)
    context["row"] = row = selectors.fenced_resource(services.DEMO_RESOURCE)
    context["row_value"] = json.dumps(row.value) if row else ""
    context["attempts"] = selectors.fenced_attempts(services.DEMO_RESOURCE)
    return render(request, "workers/locks.html", context, status=status)


# --- queues --------------------------------------------------------------------------------


def _queue_action(request: HttpRequest, action: str | None, lease_s: int) -> None:
    if action == "push_priority":
        label, priority = _label(request), _int(request, "priority", 0, MAX_PRIORITY)
        services.demo_priority_push(label=label, priority=priority)
        messages.success(request, f"Queued {label!r} with priority {priority}.")
    elif action == "pop_priority":
        got = services.demo_priority_pop()
        messages.info(request, "The priority queue is empty." if got is None else
                      f"A worker took {queues.job_label(got[0])['label']!r} (priority {got[1]}).")
    elif action == "schedule":
        label, delay = _label(request), _int(request, "delay_s", 1, 300)
        services.demo_schedule(label=label, delay_s=delay)
        messages.success(request, f"{label!r} will be ready in {delay} s.")
    elif action == "push_reliable":
        label = _label(request)
        services.demo_reliable_push(label=label)
        messages.success(request, f"Queued {label!r}.")
    elif action in {"take_ack", "take_die"}:
        job = services.demo_reliable_take(ack=action == "take_ack")
        if job is None:
            messages.info(request, "The reliable queue is empty.")
        elif action == "take_ack":
            messages.success(request, f"A worker took {queues.job_label(job)['label']!r}, did it, and acked it.")
        else:
            messages.warning(request, f"A worker took {queues.job_label(job)['label']!r} and died before acking: "
                                      f"it stays in processing until its {lease_s} s lease "
                                      "runs out and the reaper requeues it.")
    elif action == "reap":
        requeued, adopted = services.demo_reap()
        messages.info(request, f"Reaper: {requeued} job(s) requeued, {adopted} adopted.")
    elif action == "dedup":
        job_id = _label(request, "job_id")
        if services.demo_dedup_push(job_id=job_id):
            messages.success(request, f"Job id {job_id!r} is new: queued.")
        else:
            messages.warning(request, f"Job id {job_id!r} was seen in the last "
                                      f"{queues.DEMO_DEDUP_TTL_S} s: dropped as a duplicate.")
    else:
        raise BadInput("unknown action")


@require_http_methods(["GET", "POST"])
def queues_page(request: HttpRequest) -> HttpResponse:
    """The queues demo: priorities, delayed jobs, a reliable queue with a reaper, deduplication."""
    context: dict[str, Any] = {"max_priority": MAX_PRIORITY, "lease_s": queues.DEMO_LEASE_MS // 1000,
                               "dedup_ttl_s": queues.DEMO_DEDUP_TTL_S}
    status = 200
    if request.method == "POST":
        try:
            if not cached_redis_health()[0]:
                raise RedisError("Redis is unavailable")
            _queue_action(request, request.POST.get("action"), context["lease_s"])
            return redirect("workers:queues")
        except BadInput as exc:
            context["bad_input"] = str(exc)
            status = 400
        except RedisError as exc:
            context["error"] = str(exc)
            status = 503
    if cached_redis_health()[0]:
        try:
            context.update(services.demo_queues_refresh())
        except RedisError as exc:
            context["error"] = str(exc)
    return render(request, "workers/queues.html", context, status=status)
