"""Reads of ``realtime/``: replay an audience's events, presence counts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from redis.exceptions import RedisError

from config.redis import get_async_redis, get_redis
from realtime import keys
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
