"""Locks with fencing tokens, put to work: the Django side of ``redis_patterns.lock``.

- ``job_lock(name)``: a ``Lock`` on the app's Redis with keys from ``workers.keys``.
- ``fenced_write(...)``: the protected resource's side of the bargain: a
  database row that accepts a write only with a fencing token higher than
  any it has accepted, in one conditional ``UPDATE``.
- ``redlock(name)``: a ``Redlock`` over ``REDLOCK_URLS`` (independent servers), when configured.

The fence check is a single statement, so the database itself arbitrates:
two writers racing with tokens 7 and 8 cannot both win, whatever order their
statements arrive in, and token 7 arriving after 8 matches 0 rows.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.redis import build_client, get_redis, redis_config
from redis_patterns.lock import Lock, Redlock
from workers import keys
from workers.models import FencedResource, FencedWriteAttempt

#: The lock and the fenced row of the demo page.
DEMO_LOCK = "demo"
DEMO_RESOURCE = "demo-report"


def job_lock(name: str, *, ttl_ms: int = 10_000, client: Any = None) -> Lock:
    """The lock named ``name`` (``lock:{name}`` + its fence counter) on the app's Redis."""
    return Lock(client or get_redis(), keys.lock_key(name), keys.fence_key(name), ttl_ms=ttl_ms)


def fenced_write(*, resource: str, value: Any, fence: int, writer: str) -> bool:
    """Write ``value`` to the resource row only if ``fence`` beats every fence it accepted.

    Runs ``UPDATE workers_fencedresource SET value=%s, fence=%s, writer=%s,
    updated_at=%s WHERE name=%s AND fence < %s``: 1 row updated = accepted,
    0 rows = rejected (a stale holder, whose lock had expired and been taken
    by a holder with a higher token).  Every attempt is logged.

    Returns:
        ``True`` if the write was accepted.
    """
    if fence < 1:
        raise ValueError("fencing tokens start at 1")
    with transaction.atomic():
        try:
            FencedResource.objects.get_or_create(name=resource)
        except IntegrityError:
            pass  # created by a concurrent writer: the row exists, which is all we need
        updated = FencedResource.objects.filter(name=resource, fence__lt=fence).update(
            value=value, fence=fence, writer=writer[:100], updated_at=timezone.now())
        FencedWriteAttempt.objects.create(resource=resource, fence=fence, writer=writer[:100],
                                          accepted=bool(updated))
    return bool(updated)


def resource_state(resource: str) -> FencedResource | None:
    """The resource row (value, highest fence accepted, last writer), or ``None`` before any write."""
    return FencedResource.objects.filter(name=resource).first()


def recent_attempts(resource: str, limit: int = 10) -> list[FencedWriteAttempt]:
    """The latest write attempts on ``resource``, newest first."""
    return list(FencedWriteAttempt.objects.filter(resource=resource)[:limit])


def redlock_urls() -> list[str]:
    """``REDLOCK_URLS`` from settings: independent servers for Redlock (empty = not configured)."""
    return list(getattr(settings, "REDLOCK_URLS", []) or [])


def redlock_clients(urls: list[str] | None = None, *, timeout: float = 0.2) -> list[Any]:
    """One client per Redlock server, with short timeouts and no retries.

    A Redlock attempt must finish well inside the lock TTL: a slow or dead
    server should cost one short timeout and count as a "no", not stall the
    whole attempt with retries.
    """
    base = redis_config()
    clients = []
    for url in urls if urls is not None else redlock_urls():
        cfg = dataclasses.replace(base, url=url, sentinels=[], cluster_nodes=[], retries=0,
                                  socket_timeout=timeout, connect_timeout=timeout)
        clients.append(build_client(config=cfg))
    return clients


def redlock(name: str, *, ttl_ms: int = 10_000, clients: list[Any] | None = None) -> Redlock:
    """A ``Redlock`` named ``name`` over the configured independent servers."""
    return Redlock(clients if clients is not None else redlock_clients(), keys.lock_key(name),
                   keys.fence_key(name), ttl_ms=ttl_ms)
