"""Presence: who is online now, from heartbeats in a sorted set scored by time.

Pattern
    Each room (the whole site, one page) is a sorted set: member = who,
    score = when they were last seen, in milliseconds.  A client sends a
    heartbeat every ``interval``; the heartbeat ``ZADD``s the member with the
    current time, prunes members not seen within the stale window
    (``ZREMRANGEBYSCORE -inf (now-stale``) and returns the count.  Nobody has
    to say goodbye: a closed tab, a crashed browser or a lost network simply
    stops heartbeating and ages out.  Re-adding a member only moves its score,
    so one person with three tabs counts once when the member is the person.

Guarantees
    A member counts as online for at most ``stale`` ms after its last
    heartbeat, and a live client (heartbeating every ``interval < stale``)
    never drops out.  Reads (``count``, ``members``) filter by score, so they
    are exact even if no heartbeat pruned recently.  Rooms expire when nobody
    heartbeats for ``ttl``: no key is left behind.

Commands
    `ZADD <https://redis.io/docs/latest/commands/zadd/>`_,
    `ZREMRANGEBYSCORE <https://redis.io/docs/latest/commands/zremrangebyscore/>`_,
    `PEXPIRE <https://redis.io/docs/latest/commands/pexpire/>`_,
    `ZCARD <https://redis.io/docs/latest/commands/zcard/>`_ in one script
    (``lua/presence_heartbeat.lua``, which reads ``TIME`` unless given ``now``);
    `ZCOUNT <https://redis.io/docs/latest/commands/zcount/>`_ and
    `ZRANGE ... BYSCORE <https://redis.io/docs/latest/commands/zrange/>`_ to read.

Round trips
    ``aheartbeat``: 1 for all rooms (their keys share a ``{hash tag}``).
    ``count``/``members``: 1.

Failure policy
    Presence is best effort: callers catch ``RedisError`` and show "unknown"
    rather than fail a page or close a socket over it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

INTERVAL_MS = 15_000
STALE_MS = 45_000  # three missed heartbeats
TTL_MS = 10 * 60_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def aheartbeat(client: Any, scripts: Any, rooms: Sequence[str], member: str, *,
                     now: int | None = None, stale_ms: int = STALE_MS, ttl_ms: int = TTL_MS) -> list[int]:
    """Mark ``member`` present in ``rooms``; returns each room's count after pruning."""
    counts = await scripts.acall(client, "presence_heartbeat", keys=list(rooms),
                                 args=[member, "" if now is None else now, stale_ms, ttl_ms])
    return [int(c) for c in counts]


def heartbeat(client: Any, scripts: Any, rooms: Sequence[str], member: str, *,
              now: int | None = None, stale_ms: int = STALE_MS, ttl_ms: int = TTL_MS) -> list[int]:
    """``aheartbeat`` for a sync client (labs, tests, management commands)."""
    counts = scripts.call(client, "presence_heartbeat", keys=list(rooms),
                          args=[member, "" if now is None else now, stale_ms, ttl_ms])
    return [int(c) for c in counts]


def count(client: Any, room: str, *, now: int | None = None, stale_ms: int = STALE_MS) -> int:
    """Members seen within the stale window."""
    now = now_ms() if now is None else now
    return int(client.zcount(room, now - stale_ms, "+inf"))


def members(client: Any, room: str, *, now: int | None = None, stale_ms: int = STALE_MS,
            limit: int = 50) -> list[tuple[str, float]]:
    """``[(member, last seen ms), ...]``, most recent first, at most ``limit``."""
    now = now_ms() if now is None else now
    rows = client.zrange(room, "+inf", now - stale_ms, byscore=True, desc=True, offset=0, num=limit,
                         withscores=True)
    return [(m.decode() if isinstance(m, bytes) else m, s) for m, s in rows]
