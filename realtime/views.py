"""Pages of ``realtime/``: notifications, staff broadcast, pub/sub vs streams."""

from __future__ import annotations

import time

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods
from redis.exceptions import RedisError

from config.api import visitor
from config.redis import cached_redis_health
from realtime import audiences, selectors, services


def notifications(request: HttpRequest) -> HttpResponse:
    """What this browser's socket follows, its stored events, and who is online."""
    # An anonymous visitor gets a session here, so its socket has an
    # audience of its own (orders placed without logging in use it too).
    try:
        who = visitor(request, create=True)
    except RedisError:  # sessions live in Redis: without it this visit stays anonymous, the page still renders
        who = visitor(request)
    own = who.owner if who else None
    context: dict = {"audience_label": audiences.label(own), "events": [], "online": None, "members": []}
    if cached_redis_health()[0]:
        try:
            context["events"] = selectors.recent_events([a for a in (own, audiences.PUBLIC) if a], count=10)
        except RedisError as exc:
            context["error"] = str(exc)
        context["online"] = selectors.online_count("site")
        now_ms = time.time_ns() // 1_000_000
        context["members"] = [(m, max(0, round((now_ms - seen) / 1000)))
                              for m, seen in selectors.online_members("site", limit=20)]
    context.update(maxlen=services.EVENT_MAXLEN, ttl_hours=services.EVENT_TTL_SECONDS // 3600)
    return render(request, "realtime/notifications.html", context)


BROADCAST_DURATIONS = [(300, "5 minutes"), (900, "15 minutes"), (3600, "1 hour"), (4 * 3600, "4 hours"),
                       (24 * 3600, "24 hours")]


@staff_member_required
@require_http_methods(["GET", "POST"])
def broadcast(request: HttpRequest) -> HttpResponse:
    """Staff only: send a banner (e.g. a flash sale) to every open page."""
    context: dict = {"levels": services.BROADCAST_LEVELS, "message": "", "level": "sale",
                     "durations": BROADCAST_DURATIONS, "duration": services.BROADCAST_DEFAULT_SECONDS}
    status = 200
    if request.method == "POST":
        message = request.POST.get("message", "")
        level = request.POST.get("level", "")
        raw_duration = request.POST.get("duration_s", str(services.BROADCAST_DEFAULT_SECONDS))
        duration = int(raw_duration) if raw_duration.isascii() and raw_duration.isdigit() else -1
        context.update(message=message, level=level, duration=duration)
        try:
            if duration not in dict(BROADCAST_DURATIONS):
                raise ValueError("show it for: one of the listed durations")
            context["sent_id"] = services.broadcast_announcement(message=message, level=level, duration_s=duration,
                                                                 sent_by=request.user.get_username())
            context["message"] = ""
        except ValueError as exc:
            context["form_error"] = str(exc)
            status = 400
        except RedisError as exc:
            context["form_error"] = f"Redis is unavailable, nothing was sent: {exc}"
            status = 503
    if cached_redis_health()[0]:
        try:
            context["recent"] = [e for e in selectors.recent_events([audiences.PUBLIC], count=5)]
        except RedisError:
            context["recent"] = []
    return render(request, "realtime/broadcast.html", context, status=status)


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value) if value not in (None, "") else default
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number") from None
    if not low <= number <= high:
        raise ValueError(f"{number} is outside {low}..{high}")
    return number


@require_http_methods(["GET", "POST"])
def pubsub_vs_streams_page(request: HttpRequest) -> HttpResponse:
    """Run the offline-subscriber demo with PUBLISH and with SPUBLISH (Redis 7+)."""
    context: dict = {"total": 20, "offline_from": 8, "offline_to": 14, "sharded_ok": None}
    status = 200
    if request.method == "POST" and cached_redis_health()[0]:
        try:
            total = _int(request.POST.get("total"), 20, 3, 60)
            offline_from = _int(request.POST.get("offline_from"), 8, 1, total - 1)
            offline_to = _int(request.POST.get("offline_to"), 14, offline_from, total - 1)
        except ValueError as exc:
            context["form_error"] = str(exc)
            return render(request, "realtime/pubsub_vs_streams.html", context, status=400)
        context.update(total=total, offline_from=offline_from, offline_to=offline_to)
        try:
            context["runs"], context["sharded_ok"] = services.pubsub_vs_streams_runs(
                total=total, offline_from=offline_from, offline_to=offline_to)
        except RedisError as exc:
            context["error"] = str(exc)
            context["runs"] = []
            status = 503
    return render(request, "realtime/pubsub_vs_streams.html", context, status=status)
