"""Reads of ``realtime/``: replay an audience's events, presence counts, the current broadcast."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from redis.exceptions import RedisError

from config.redis import get_async_redis, get_redis
from realtime import audiences, keys
from redis_patterns import event_log, presence


async def aevents_after(cursors: dict[str, str], *, upto: str = "+") -> list[tuple[str, dict[str, Any]]]:
    """Events after each audience's cursor (``{audience: last id}``), merged in id order.

    Returns ``[(audience, event), ...]``.  1 round trip (plus one per full page).
    """
    by_stream = {keys.events_stream(a): a for a in cursors}
    entries = await event_log.aread_after(get_async_redis(), {keys.events_stream(a): c for a, c in cursors.items()},
                                          upto=upto)
    return [(by_stream[stream], event) for stream, _id, event in entries]


async def aevent_tails(audience_list: Sequence[str]) -> dict[str, str]:
    """The newest event id of each audience (``"0-0"`` when it has none).  1 round trip."""
    streams = {keys.events_stream(a): a for a in audience_list}
    tails = await event_log.atails(get_async_redis(), list(streams))
    return {streams[s]: t for s, t in tails.items()}


def recent_events(audience_list: Iterable[str], count: int = 10) -> list[dict[str, Any]]:
    """The newest events of some audiences, newest first, for a page.  One pipelined round trip."""
    audience_list = list(audience_list)
    client = get_redis()
    pipe = client.pipeline(transaction=False)
    for audience in audience_list:
        pipe.xrevrange(keys.events_stream(audience), count=count)
    out = []
    for audience, entries in zip(audience_list, pipe.execute(), strict=True):
        for entry_id, fields in entries:
            out.append({**event_log.to_event(entry_id, fields), "audience": audience})
    out.sort(key=lambda e: event_log.parse_id(e["id"]), reverse=True)
    return out[:count]


def online_count(room: str = "site") -> int | None:
    """How many are online in ``room`` now; ``None`` when Redis cannot say (best effort)."""
    try:
        return presence.count(get_redis(), keys.presence_room(room))
    except RedisError:
        return None


def online_members(room: str = "site", limit: int = 50) -> list[tuple[str, float]]:
    """``[(member, last seen ms), ...]`` for ``room``; empty when Redis is down."""
    try:
        return presence.members(get_redis(), keys.presence_room(room), limit=limit)
    except RedisError:
        return []


# --- the current broadcast (the banner on every page) -------------------------------------------

#: Each process reads the public stream for the banner at most this often: a page view costs
#: no extra round trip in the common case; a new broadcast reaches open pages live anyway.
BROADCAST_MEMO_SECONDS = 2.0
_broadcast_memo: dict[str, tuple[float, dict[str, Any] | None]] = {}
_broadcast_lock = threading.Lock()


def forget_current_broadcast() -> None:
    """Re-read the banner on the next page (after this process published a broadcast; tests)."""
    with _broadcast_lock:
        _broadcast_memo.clear()


def broadcast_current(*, now_ms: int | None = None) -> dict[str, Any] | None:
    """The newest broadcast if it is still current, else ``None``: what the banner on every page shows.

    A broadcast is current for its ``duration_s`` (default one hour) after its
    event id's time (stream ids start with the server's clock in ms), so a page
    opened or reloaded while it runs shows it without waiting for the socket.
    Reads ``XREVRANGE`` of the ``public`` stream (the newest few entries), at
    most every ``BROADCAST_MEMO_SECONDS`` per process.  Best effort: ``None``
    when Redis is unavailable.  Returns ``{"id", "message", "level", "expires_ms"}``.
    """
    from realtime.services import BROADCAST_DEFAULT_SECONDS  # services imports this module


    now = time.monotonic()
    with _broadcast_lock:
        memo = _broadcast_memo.get("public")
    if memo is None or now - memo[0] >= BROADCAST_MEMO_SECONDS:
        try:
            entries = get_redis().xrevrange(keys.events_stream(audiences.PUBLIC), count=5)
        except RedisError:
            entries = []
        newest = None
        for entry_id, fields in entries:
            if fields.get("type") == "broadcast":
                try:
                    event = event_log.to_event(entry_id, fields)
                except ValueError:
                    continue
                duration = event.get("duration_s", BROADCAST_DEFAULT_SECONDS)
                if isinstance(duration, bool) or not isinstance(duration, int):
                    duration = BROADCAST_DEFAULT_SECONDS
                newest = {"id": entry_id, "message": str(event.get("message", "")),
                          "level": str(event.get("level", "info")),
                          "expires_ms": event_log.parse_id(entry_id)[0] + duration * 1000}
                break
        memo = (now, newest)
        with _broadcast_lock:
            _broadcast_memo["public"] = memo
    current = memo[1]
    now_ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    if current is None or not current["message"] or current["expires_ms"] <= now_ms:
        return None
    return current
