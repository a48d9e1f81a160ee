"""Writes of ``realtime/``: publish events, record presence.

``notify`` is the one way any other app (the shop's order statuses, the
leaderboard's changes) tells a browser something; it is ``publish_event``
that never raises, because a notification must never undo or block the write
it announces.  ``publish_event`` (used directly where the caller wants the
error, e.g. the staff broadcast form):

1. append the event to the audience's capped, expiring stream (the durable
   log; the stream entry id is the event id);
2. fan it out live through the channel-layer group of that audience.

Step 1 failing raises (nothing was published).  Step 2 failing is logged and
swallowed: the event is already stored, and every socket following that
audience picks it up from the stream at its next heartbeat or reconnect.
See ``redis_patterns.event_log`` for the delivery rules.  ``notify_many`` and
``publish_events`` do the same for several events: their appends in one round
trip, their fan-out in one hop to the send loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import threading
from collections.abc import Coroutine, Sequence
from typing import Any

from channels.layers import get_channel_layer

from config.redis import get_async_redis, get_redis
from realtime import audiences, keys, selectors
from redis_patterns import event_log, presence, pubsub_vs_streams
from redis_patterns.scripts import loader

log = logging.getLogger(__name__)

EVENT_TYPES = frozenset({"order.status", "leaderboard.changed", "broadcast"})
RESERVED_FIELDS = frozenset({"id", "type"})
#: Retention of each audience's log: enough for a reconnect, a reload, a laptop lid closed for a day.
EVENT_MAXLEN = 500
EVENT_TTL_SECONDS = 24 * 3600
#: The channel-layer message type; ``NotificationsConsumer.rt_event`` handles it.
LIVE_MESSAGE_TYPE = "rt.event"

class _SendLoop:
    """One background event loop per process for sync callers' channel-layer sends.

    ``async_to_sync(layer.group_send)`` from plain sync code (a stream worker,
    a Celery task) starts a new event loop per call, and channels-redis keeps
    its connections per loop: every event would open, and then close, a new
    connection to Redis (a few ms each, and a connection churn that grows with
    the event rate).  A long-lived loop in a daemon thread keeps one pool.
    A forked child (Celery prefork) does not inherit the thread, so it makes
    its own loop on first use.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="realtime-send-loop", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


_send_loop = _SendLoop()


def _prepare(audience: str, type: str, data: dict[str, Any]) -> str:
    audiences.check(audience)
    if type not in EVENT_TYPES:
        raise ValueError(f"bad event type {type!r}: one of {sorted(EVENT_TYPES)}")
    if not isinstance(data, dict):
        raise ValueError("data must be a dict")
    clash = RESERVED_FIELDS & data.keys()
    if clash:
        raise ValueError(f"data may not contain {sorted(clash)}: the event's own id and type use them")
    if type == "broadcast":
        broadcast_check(data)
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


BROADCAST_LEVELS = ("info", "sale", "warning")
#: How long a broadcast stays on every page (the banner) unless it says otherwise (``duration_s``).
BROADCAST_DEFAULT_SECONDS = 3600
BROADCAST_MAX_MESSAGE = 200


def broadcast_check(data: dict[str, Any]) -> None:
    """A broadcast's data: ``message`` (1-200 characters), optional ``level`` and ``duration_s``.

    ``duration_s`` (10 s to 24 h, the event log's retention; default 1 hour):
    how long the banner stays on every page, including pages opened later.
    Raises ``ValueError``.
    """
    message = data.get("message")
    if not isinstance(message, str) or not 1 <= len(message.strip()) <= BROADCAST_MAX_MESSAGE:
        raise ValueError(f"a broadcast needs a message of 1 to {BROADCAST_MAX_MESSAGE} characters")
    if "level" in data and data["level"] not in BROADCAST_LEVELS:
        raise ValueError(f"level: one of {', '.join(BROADCAST_LEVELS)}")
    if "duration_s" in data:
        duration = data["duration_s"]
        if isinstance(duration, bool) or not isinstance(duration, int) or not 10 <= duration <= EVENT_TTL_SECONDS:
            raise ValueError(f"duration_s: whole seconds from 10 to {EVENT_TTL_SECONDS}")


def _live_item(type: str, data_json: str, event_id: str, prev: str) -> dict[str, Any]:
    """One event of a live message, with the id before it in its stream (``NotificationsConsumer._live``)."""
    return {"prev": prev or "0-0", "event": event_log.to_event(event_id, {"type": type, "data": data_json})}


def _live_message(audience: str, type: str, data_json: str, event_id: str, prev: str) -> dict[str, Any]:
    return {
        "type": LIVE_MESSAGE_TYPE,
        # Channel-layer messages sit in Redis until delivered: the audience's Redis name, never a session key.
        "audience": audiences.redis_name(audience),
        **_live_item(type, data_json, event_id, prev),
    }


def publish_event(audience: str, type: str, data: dict[str, Any]) -> str:  # noqa: A002 - the documented API
    """Store an event for ``audience`` and push it to its live sockets; returns the event id.

    Sync: call it from views, stream workers, Celery tasks.  Inside a running
    event loop use ``apublish_event``.  Several events: ``publish_events``.

    Raises:
        ValueError: bad audience, type or data (nothing is written).
        redis.RedisError: the event could not be stored.
    """
    (result,) = publish_events([(audience, type, data)])
    if isinstance(result, Exception):
        raise result
    return result


def publish_events(events: Sequence[tuple[str, str, dict[str, Any]]]) -> list[str | Exception]:
    """``publish_event`` for several ``(audience, type, data)`` events at once: one slot per event, in order.

    Each slot is the event id, or the error its append met (that event was
    not stored).  Every event is checked before anything is written (a
    ``ValueError`` writes nothing); the appends go out in one pipelined round
    trip (one per node on a Cluster), then the live fan-out of the stored ones
    in one hop to the send loop: one channel-layer message per audience, its
    events in order (the first as ``event``, the rest in ``then``, each with
    its ``prev``: a socket delivers them in stream order without a catch-up
    read), the audiences concurrently.  What a stream worker uses for a
    batch's order statuses, where one call per event cost three round trips.

    Raises:
        ValueError: a bad audience, type or data (nothing is written).
        redis.ConnectionError: Redis could not be reached (nothing, or not all, was stored).
    """
    prepared = [(audience, type_, _prepare(audience, type_, data)) for audience, type_, data in events]
    if not prepared:
        return []
    appended = event_log.append_many(get_redis(), loader("redis_patterns"),
                                     [(keys.events_stream(audience), type_, data_json)
                                      for audience, type_, data_json in prepared],
                                     maxlen=EVENT_MAXLEN, ttl_seconds=EVENT_TTL_SECONDS)
    results: list[str | Exception] = []
    live: dict[str, dict[str, Any]] = {}  # group -> its one live message
    for (audience, type_, data_json), stored in zip(prepared, appended, strict=True):
        if isinstance(stored, Exception):
            results.append(stored)
            continue
        event_id, prev = stored
        results.append(event_id)
        if type_ == "broadcast":
            selectors.forget_current_broadcast()  # this process's pages show it from the next request
        group = audiences.group_name(audience)
        if group in live:  # the audience's later events ride in its first message, in order
            live[group].setdefault("then", []).append(_live_item(type_, data_json, event_id, prev))
        else:
            live[group] = _live_message(audience, type_, data_json, event_id, prev)
    if live:
        try:
            _send_loop.run(_fan_out(live))
        except Exception:  # the events are stored; live delivery is best effort
            log.warning("live fan-out to %s failed; sockets catch up from the stream", ", ".join(live), exc_info=True)
    return results


async def _fan_out(live: dict[str, dict[str, Any]]) -> None:
    """Each group's message, the groups concurrently; a failure is logged, never raised.

    The core layer's ``group_send_many`` (``realtime.layers``) first asks all
    the groups for members in one round trip and sends only to those that
    have some; another layer gets one ``group_send`` per group.  The events are
    stored: a socket that misses a live copy picks it up from the stream at its
    next heartbeat or reconnect.
    """
    layer = get_channel_layer()
    send_many = getattr(layer, "group_send_many", None)
    if send_many is not None:
        failed = await send_many(live)
    else:
        groups = list(live)
        outcomes = await asyncio.gather(*(layer.group_send(group, live[group]) for group in groups),
                                        return_exceptions=True)
        failed = {group: outcome for group, outcome in zip(groups, outcomes, strict=True)
                  if isinstance(outcome, BaseException)}
    for group, error in failed.items():
        log.warning("live fan-out to %s failed; sockets catch up from the stream", group, exc_info=error)


def notify(audience: str, type: str, data: dict[str, Any]) -> str | None:  # noqa: A002
    """Publish an event for ``audience``, best effort: the event id, or ``None`` (logged) if it failed."""
    return notify_many([(audience, type, data)])[0]


def _publish_or_error(event: tuple[str, str, dict[str, Any]]) -> str | Exception:
    try:
        return publish_events([event])[0]
    except Exception as exc:  # noqa: BLE001
        return exc


def notify_many(events: Sequence[tuple[str, str, dict[str, Any]]]) -> list[str | None]:
    """``notify`` for several events (``publish_events``): per event its id, or ``None`` (logged)."""
    results: list[str | Exception]
    try:
        results = publish_events(events)
    except ValueError as exc:  # a bad event (a caller's bug) refuses the whole batch: publish the others one by one
        results = [_publish_or_error(event) for event in events] if len(events) > 1 else [exc]
    except Exception as exc:  # noqa: BLE001 - a notification must never break its caller's committed write
        results = [exc] * len(events)
    out: list[str | None] = []
    for (audience, type_, _data), result in zip(events, results, strict=True):
        if isinstance(result, Exception):
            log.warning("could not notify %s of %s: %s", audiences.label(audience) if audiences.is_valid(audience)
                        else "an invalid audience", type_, result)
            out.append(None)
        else:
            out.append(result)
    return out


async def apublish_event(audience: str, type: str, data: dict[str, Any]) -> str:  # noqa: A002
    """``publish_event`` for async code (consumers, async views)."""
    data_json = _prepare(audience, type, data)
    event_id, prev = await event_log.aappend(get_async_redis(), loader("redis_patterns"), keys.events_stream(audience), type,
                                             data_json, maxlen=EVENT_MAXLEN, ttl_seconds=EVENT_TTL_SECONDS)
    if type == "broadcast":
        selectors.forget_current_broadcast()
    message = _live_message(audience, type, data_json, event_id, prev)
    try:
        await get_channel_layer().group_send(audiences.group_name(audience), message)
    except Exception:
        log.warning("live fan-out of %s to %s failed; sockets catch up from the stream", event_id,
                    audiences.group_name(audience), exc_info=True)
    return event_id


def broadcast_announcement(*, message: str, level: str, sent_by: str,
                           duration_s: int = BROADCAST_DEFAULT_SECONDS) -> str:
    """A site-wide banner (e.g. a flash sale) from a staff user, shown for ``duration_s``; returns the event id."""
    message = message.strip()
    if not 1 <= len(message) <= BROADCAST_MAX_MESSAGE:
        raise ValueError(f"message: 1 to {BROADCAST_MAX_MESSAGE} characters")
    if level not in BROADCAST_LEVELS:
        raise ValueError(f"level: one of {', '.join(BROADCAST_LEVELS)}")
    return publish_event(audiences.PUBLIC, "broadcast",
                         {"message": message, "level": level, "by": sent_by, "duration_s": duration_s})


async def apresence_heartbeat(*, member: str, page: str | None, now: int | None = None) -> dict[str, int]:
    """Mark ``member`` online on the site (and on ``page``); returns ``{"online": n, "here": m}``."""
    rooms = [keys.presence_room("site")]
    if page:
        rooms.append(keys.presence_room(keys.page_room(page)))
    counts = await presence.aheartbeat(get_async_redis(), loader("redis_patterns"), rooms, member, now=now)
    out = {"online": counts[0]}
    if page:
        out["here"] = counts[1]
    return out


def pubsub_vs_streams_runs(*, total: int, offline_from: int, offline_to: int) -> tuple[list[Any], bool]:
    """The offline-subscriber demo with ``PUBLISH``, then with ``SPUBLISH`` where the server has it.

    Returns the runs and whether sharded pub/sub was available.
    """
    client = get_redis()
    # SPUBLISH exists from Redis 7.0 (Valkey reports a 7.x ``redis_version`` too): ask the server.
    sharded_ok = int(str(client.info("server").get("redis_version", "0")).split(".")[0]) >= 7
    runs = []
    for sharded in (False, True) if sharded_ok else (False,):
        run_id = secrets.token_hex(6)
        runs.append(pubsub_vs_streams.run(
            client, channel=keys.demo_channel(run_id), stream=keys.demo_stream(run_id), total=total,
            offline_from=offline_from, offline_to=offline_to, sharded=sharded))
    return runs, sharded_ok
