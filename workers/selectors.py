"""Reads of ``workers/``: the streams page (groups, pending, dead letters) and the lock and queue demos."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count
from django.utils import timezone

from config.redis import get_redis
from redis_patterns import streams
from shop.keys import orders_stream
from shop.models import Fulfilment, Order, OutboxMessage
from workers import keys, locks
from workers.models import FencedResource, FencedWriteAttempt

# --- streams --------------------------------------------------------------------------------


def stream_overview() -> list[dict[str, Any]]:
    """``XINFO`` of the orders stream and its dead-letter stream, each group with its workers' counters."""
    client = get_redis()
    overview = streams.group_overview(client, [orders_stream(), keys.orders_dead_letter()])
    for stream in overview:
        for group in stream["groups"]:
            group["stats"] = (streams.read_stats(client, keys.orders_stats(group["name"]))
                              if stream["stream"] == orders_stream() else {})
    return overview


def stream_trim_floor() -> str | None:
    """The id below which ``XTRIM MINID`` may cut without dropping an entry any group still needs."""
    return streams.safe_trim_id(get_redis(), orders_stream())


def dead_letters(limit: int = 50) -> list[dict[str, Any]]:
    """The newest dead-lettered entries (``XREVRANGE ... COUNT``)."""
    rows = get_redis().xrevrange(keys.orders_dead_letter(), count=limit)
    return [{"id": entry_id, "fields": fields} for entry_id, fields in rows]


def outbox_backlog() -> dict[str, int]:
    """Messages not yet published, published, and published more than once (Redis lost them; the reconciler)."""
    return {
        "unpublished": OutboxMessage.objects.filter(published_at__isnull=True).count(),
        "published": OutboxMessage.objects.filter(published_at__isnull=False).count(),
        "republished": OutboxMessage.objects.filter(attempts__gt=1).count(),
    }


def orders_not_done(*, older_than: timedelta = timedelta(seconds=60), limit: int = 20) -> dict[str, Any]:
    """Accepted orders still pending or processing ``older_than`` after their last change: the count and the oldest.

    Normally zero (an order completes in milliseconds): anything here means no
    worker is running, a message is dead-lettered, or the reconciler is about
    to publish a lost one again.
    """
    qs = Order.objects.filter(status__in=(Order.Status.PENDING, Order.Status.PROCESSING),
                              updated_at__lte=timezone.now() - older_than)
    return {"count": qs.count(), "oldest": list(qs.order_by("id").values("id", "status", "updated_at")[:limit]),
            "older_than_s": int(older_than.total_seconds())}


def order_status_counts() -> dict[str, int]:
    return dict(Order.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))


def duplicate_fulfilments() -> int:
    """Orders fulfilled more than once (should always be 0)."""
    return Fulfilment.objects.values("order_id").annotate(n=Count("id")).filter(n__gt=1).count()


# --- the lock demo ------------------------------------------------------------------------------


def demo_lock_state() -> dict[str, Any]:
    """Whether the demo lock is held, for how long, and the last fencing token issued (one round trip)."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.pttl(keys.lock_key(locks.DEMO_LOCK))
    pipe.get(keys.fence_key(locks.DEMO_LOCK))
    pttl, fence = pipe.execute()
    return {"held": pttl > 0 or pttl == -1, "pttl_ms": pttl if pttl > 0 else None, "last_fence": int(fence or 0)}


def fenced_resource(resource: str) -> FencedResource | None:
    """The resource row (value, highest fence accepted, last writer), or ``None`` before any write."""
    return locks.resource_state(resource)


def fenced_attempts(resource: str, limit: int = 8) -> list[FencedWriteAttempt]:
    """The latest write attempts on ``resource``, newest first."""
    return locks.recent_attempts(resource, limit)


def redlock_servers() -> int:
    return len(locks.redlock_urls())
