"""``WS /ws/notifications/?last_event_id=<id>``: a socket's events, replayed then live.

Protocol (JSON text frames)

Server -> client
    ``{"id": "<stream id>", "type": "order.status"|"leaderboard.changed"|"broadcast", ...data}``
        an event; the client keeps the largest ``id`` it has seen.
    ``{"type": "ready", "audience": ..., "replayed": n, "last_event_id": "<stream id>", "redis": {...}}``
        after connect: the ``n`` missed events have been sent; live events follow.
        ``last_event_id`` is where this socket stands in its streams (the newest
        event it has been sent, or the streams' tails when there was nothing to
        send; ``0-0`` for empty streams): a client that has not seen any event
        yet keeps it too, so reconnecting after an outage replays what was
        published meanwhile instead of starting from then.
    ``{"type": "subscribed"|"unsubscribed", "topic": ..., "replayed": n, "redis": {...}}``
    ``{"type": "presence", "online": n, "here": m, "redis": {...}}`` in reply to a heartbeat.
    ``{"type": "error", "error": "<code>", "detail": "..."}`` for bad input (the socket stays open).

Client -> server
    ``{"action": "subscribe"|"unsubscribe", "topic": "leaderboard:<board>"}``
    ``{"action": "heartbeat", "page": "/current/path"}`` every 15 s (presence + catch-up).

Who gets what
    A socket follows its own audience (``user:<id>`` when logged in, else
    ``session:<key>`` when the visitor has a session), ``public``, and the
    leaderboards it subscribed to.  It can subscribe to leaderboards only, so
    it can never join another user's or session's group.

Delivery (see ``redis_patterns.event_log``)
    On connect the consumer joins its groups *first*, then replays each
    stream after ``last_event_id`` (so nothing published in between falls in
    a gap), then handles live messages, dropping those already replayed and
    filling from the stream when a live one arrives out of order.  Each
    heartbeat also re-reads every followed stream after its cursor: if the
    live path lost something (the channel layer is at-most-once), the client
    has it within one heartbeat.  The same covers a socket open longer than
    channels-redis's ``group_expiry`` (a day), whose group membership lapses.

Async all the way: every Redis call goes through ``redis.asyncio``
(``config.redis.get_async_redis``) or the channel layer; the only sync call,
the session lookup, runs in a worker thread via ``database_sync_to_async``.
Each message is handled inside ``tracing(...)``; control replies carry the
Redis cost of handling it.

Resilience
    If Redis fails while handling a message the socket is closed with code
    1011 (the channel layer's receive loop fails the same way); the browser
    reconnects with backoff and its last id and misses nothing the stream kept.
    Any other failure closes it the same way, after leaving its groups and
    giving back its slot: a crashed socket leaves nothing behind in Redis.

Limits (a socket is cheap to open and costs Redis state: groups, a slot)
    - Frames: at most ``MAX_FRAME_CHARS`` characters and ``MAX_FRAME_DEPTH``
      levels of nesting (checked before parsing); the server itself refuses
      frames above 16 KiB before reading them (``--ws-max-size`` in the Procfile).
    - Sockets: at most ``REALTIME_MAX_SOCKETS_PER_CLIENT`` open at once per client
      address (``redis_patterns.semaphore``: a lease per socket in
      ``rt:sockets:{<address>}``, renewed by each heartbeat); one more is
      accepted, told ``too_many_sockets`` and closed with 1008.
    - Silence: a socket that sends nothing for ``REALTIME_SOCKET_IDLE_SECONDS``
      (browsers heartbeat every 15 s) is closed with 1001, so a slot is never
      held by a socket that stopped talking.
    - Groups: channels-redis memberships expire after ``group_expiry`` (5
      minutes, settings); live sockets re-join on their heartbeats.
    - Origin: the handshake's ``Origin`` must be this site itself, scheme, host
      and port (``config.asgi.SameOriginValidator``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from redis.exceptions import RedisError

from config import api
from config.api import visitor_of
from config.ratelimit import client_address
from config.redis import get_async_redis
from ops import metrics
from realtime import audiences, keys, selectors, services
from redis_patterns import event_log, semaphore
from redis_patterns.scripts import loader
from redis_patterns.tracing import Trace, tracing

log = logging.getLogger(__name__)

MAX_TOPICS = 20
MAX_FRAME_CHARS = 4096
MAX_FRAME_DEPTH = 4  # our frames nest one level: {"action": ..., "topic": ...}
MAX_PAGE_CHARS = 200
FUTURE_SLACK_MS = 60_000
CLOSE_TRY_AGAIN = 1011  # "internal error": the browser reconnects after its backoff
CLOSE_POLICY = 1008  # "policy violation": too many sockets from this address
CLOSE_IDLE = 1001  # "going away": silent longer than REALTIME_SOCKET_IDLE_SECONDS


def _cost(trace: Trace) -> dict[str, Any]:
    return {"commands": trace.command_count, "round_trips": trace.round_trip_count,
            "ms": round(trace.duration_ms, 3)}


async def audience_for_scope(scope: dict[str, Any]) -> str | None:
    """The socket's own audience: its visitor (``config.api.visitor_of``), or ``None`` (public only)."""
    session = scope.get("session")
    who = visitor_of(scope.get("user"), session)
    if who is None or not audiences.is_valid(who.owner):
        return None
    if not who.is_user and not await database_sync_to_async(session.exists)(session.session_key):
        return None  # a cookie can name any key: only a session that exists gives an audience
    return who.owner


class NotificationsConsumer(AsyncWebsocketConsumer):
    """One browser tab's notifications socket."""

    async def __call__(self, scope, receive, send) -> None:
        # The channel layer's receive loop raises when Redis goes away, and a
        # bug raises anywhere; without this the server drops the TCP connection
        # with a traceback (no close frame) and the socket's groups and slot
        # stay in Redis.  Clean up and close properly: the browser reconnects.
        try:
            await super().__call__(scope, receive, send)
        except RedisError as exc:
            log.warning("notifications socket closed, Redis unavailable: %s", exc)
            await self._abandon(send)
        except Exception:
            log.exception("notifications socket failed; closing it")
            await self._abandon(send)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Run the message's handler, without Channels' per-message database cleanup.

        Channels' ``dispatch`` first runs ``close_old_connections`` in a worker
        thread (``aclose_old_connections``) for *every* message, so that
        handlers calling the ORM directly do not use a stale connection.  On a
        broadcast that is one thread hop per socket: profiled with py-spy on
        the fan-out benchmark, it was 37% of the server's time.  This consumer
        reaches the database only through ``database_sync_to_async`` (the
        session check on connect), which closes stale connections itself,
        before and after each call; so the per-message hop is dropped.  A
        handler added here that uses the ORM must go through
        ``database_sync_to_async`` too.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def _abandon(self, send: Any) -> None:
        await self._cleanup()
        try:
            await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN})
        except Exception:  # noqa: S110 - the client may be gone already
            pass

    async def connect(self) -> None:
        self.cursors: dict[str, str] = {}  # audience -> last event id sent on this socket
        self.named: dict[str, str] = {}  # audiences.redis_name(audience) -> audience, for live messages
        self.since: str | None = None
        self.slot: str | None = None  # the key of the slot this socket holds (rt:sockets:{<address>})
        self.last_frame = self.joined_at = time.monotonic()
        self.watchdog: asyncio.Task | None = None
        client = self.scope.get("client") or ("", 0)
        forwarded = dict(self.scope.get("headers") or []).get(b"x-forwarded-for", b"").decode("latin-1")
        self.address = client_address(client[0], forwarded)
        self.own = await audience_for_scope(self.scope)
        raw = (parse_qs(self.scope.get("query_string", b"").decode()).get("last_event_id") or [""])[0]
        await self.accept()
        try:
            if not await self._hold_slot():
                limit = settings.REALTIME_MAX_SOCKETS_PER_CLIENT
                await self._error("too_many_sockets", f"at most {limit} open sockets per address; close one")
                await self.close(code=CLOSE_POLICY)
                return
        except RedisError:
            log.warning("redis unavailable while connecting a notifications socket", exc_info=True)
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        self.watchdog = asyncio.create_task(self._close_when_idle())
        metrics.websocket_opened(self)  # after the slot: a refused socket is never counted
        if raw and not event_log.is_event_id(raw):
            await self._error("bad_last_event_id", "last_event_id must be a stream id like 1732590000000-0; "
                              "starting from now")
        elif raw and event_log.parse_id(raw)[0] > time.time() * 1000 + FUTURE_SLACK_MS:
            # From another deployment or a broken clock: it would hide every event until that time.
            await self._error("bad_last_event_id", "last_event_id is in the future; starting from now")
        elif raw:
            self.since = raw
        follow = [a for a in (self.own, audiences.PUBLIC) if a]
        try:
            with tracing("ws connect") as trace:
                replayed = await self._follow(follow)
        except RedisError:
            log.warning("redis unavailable while connecting a notifications socket", exc_info=True)
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        position = max(self.cursors.values(), key=event_log.parse_id, default="0-0")
        await self._send({"type": "ready", "audience": audiences.label(self.own), "replayed": replayed,
                          "last_event_id": position, "redis": _cost(trace)})

    async def disconnect(self, code: int) -> None:
        await self._cleanup()

    async def _cleanup(self) -> None:
        """Leave every group, give the slot back, stop the watchdog (idempotent, best effort)."""
        watchdog = getattr(self, "watchdog", None)
        if watchdog is not None and watchdog is not asyncio.current_task():
            watchdog.cancel()
        self.watchdog = None
        metrics.websocket_closed(self)
        for audience in list(getattr(self, "cursors", {})):
            try:
                await self.channel_layer.group_discard(audiences.group_name(audience), self.channel_name)
            except RedisError:
                pass  # Redis is down: the membership expires with the group (group_expiry)
        self.cursors = {}
        slot, self.slot = getattr(self, "slot", None), None
        if slot is not None:
            try:
                await semaphore.arelease(get_async_redis(), slot, self.channel_name)
            except RedisError:
                pass  # the lease runs out by itself

    async def _hold_slot(self) -> bool:
        """Take or renew this socket's slot among its address's (one script round trip)."""
        slot = keys.socket_slots(self.address)
        held = await semaphore.aacquire(get_async_redis(), loader("redis_patterns"), slot, self.channel_name,
                                        limit=settings.REALTIME_MAX_SOCKETS_PER_CLIENT,
                                        lease_ms=settings.REALTIME_SOCKET_IDLE_SECONDS * 1000)
        self.slot = slot if held else None
        return held

    async def _close_when_idle(self) -> None:
        """Close the socket once it has been silent for ``REALTIME_SOCKET_IDLE_SECONDS``."""
        idle = float(settings.REALTIME_SOCKET_IDLE_SECONDS)
        while True:
            await asyncio.sleep(max(idle / 4, 0.05))
            if time.monotonic() - self.last_frame > idle:
                log.info("closing a notifications socket silent for %.0f s", idle)
                await self.close(code=CLOSE_IDLE)
                return

    # -- client messages -----------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.last_frame = time.monotonic()
        if text_data is None or len(text_data) > MAX_FRAME_CHARS:
            await self._error("bad_frame", f"send JSON text frames of at most {MAX_FRAME_CHARS} characters")
            return
        try:
            message = api.loads(text_data, max_depth=MAX_FRAME_DEPTH)  # depth checked before parsing
        except ValueError:
            await self._error("bad_json", f"the frame is not JSON nested at most {MAX_FRAME_DEPTH} deep")
            return
        action = message.get("action") if isinstance(message, dict) else None
        handler = {"subscribe": self._subscribe, "unsubscribe": self._unsubscribe,
                   "heartbeat": self._heartbeat}.get(action) if isinstance(action, str) else None
        if handler is None:
            await self._error("unknown_action", "action: subscribe, unsubscribe or heartbeat")
            return
        try:
            with tracing(f"ws {action}") as trace:
                reply = await handler(message)
        except RedisError:
            log.warning("redis unavailable while handling %r; closing so the client reconnects", action,
                        exc_info=True)
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        if reply is not None:
            reply["redis"] = _cost(trace)
            await self._send(reply)
        log.debug("ws %s: %s", action, trace.summary())

    async def _subscribe(self, message: dict[str, Any]) -> dict[str, Any] | None:
        topic = message.get("topic")
        if not audiences.is_topic(topic):
            await self._error("bad_topic", "topic must be 'leaderboard:<board>' (letters, digits, _ . -)")
            return None
        if topic in self.cursors:
            return {"type": "subscribed", "topic": topic, "replayed": 0}
        if sum(audiences.is_topic(a) for a in self.cursors) >= MAX_TOPICS:
            await self._error("too_many_topics", f"at most {MAX_TOPICS} topics per socket")
            return None
        replayed = await self._follow([topic])
        return {"type": "subscribed", "topic": topic, "replayed": replayed}

    async def _unsubscribe(self, message: dict[str, Any]) -> dict[str, Any] | None:
        topic = message.get("topic")
        if not audiences.is_topic(topic):
            await self._error("bad_topic", "topic must be 'leaderboard:<board>'")
            return None
        if self.cursors.pop(topic, None) is not None:
            await self.channel_layer.group_discard(audiences.group_name(topic), self.channel_name)
        return {"type": "unsubscribed", "topic": topic}

    async def _heartbeat(self, message: dict[str, Any]) -> dict[str, Any] | None:
        page = message.get("page")
        if page is not None and not (isinstance(page, str) and page.startswith("/") and len(page) <= MAX_PAGE_CHARS):
            await self._error("bad_page", f"page must be a path starting with / (at most {MAX_PAGE_CHARS})")
            return None
        if not await self._hold_slot():  # its lease lapsed and another socket took the slot
            await self._error("too_many_sockets", "this socket lost its slot; reconnect")
            await self.close(code=CLOSE_POLICY)
            return None
        member = audiences.presence_member(self.own, self.channel_name)
        counts = await services.apresence_heartbeat(member=member, page=page)
        await self._rejoin_if_due()
        await self._catch_up()
        return {"type": "presence", **counts}

    async def _rejoin_if_due(self) -> None:
        """Re-add this socket to its groups before channels-redis's ``group_expiry`` drops it from them."""
        expiry = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("group_expiry", 86400)
        if time.monotonic() - self.joined_at < expiry / 4:
            return
        for audience in list(self.cursors):
            await self.channel_layer.group_add(audiences.group_name(audience), self.channel_name)
        self.joined_at = time.monotonic()

    # -- channel-layer messages ------------------------------------------------------------

    async def rt_event(self, message: dict[str, Any]) -> None:
        """Live events for one of this socket's audiences (``type: "rt.event"``).

        ``event`` with its ``prev``; a batch published together (``publish_events``)
        carries the audience's later events, in order, in ``then``.
        """
        audience = self.named.get(message["audience"])  # the message carries the Redis name
        if audience is None:
            return
        if not await self._live(audience, message.get("prev"), message["event"]):
            return
        for item in message.get("then", ()):
            if not await self._live(audience, item.get("prev"), item["event"]):
                return

    async def _live(self, audience: str, prev: str | None, event: dict[str, Any]) -> bool:
        """Deliver one live event in stream order; ``False`` once the socket is no longer taking them."""
        cursor = self.cursors.get(audience)
        if cursor is None:
            return False  # not (or no longer) following it
        if event_log.id_le(event["id"], cursor):
            return True  # already sent (replayed before this live copy arrived)
        if event_log.id_le(prev or "0-0", cursor):
            await self._deliver(audience, event)  # the common case: no Redis command at all
            return True
        # Its predecessor never reached us (lost or still in flight): take the
        # stream's word for what comes between, in order.
        try:
            with tracing("ws gap fill") as trace:
                missing = await selectors.aevents_after({audience: cursor}, upto=event["id"])
        except RedisError:
            await self.close(code=CLOSE_TRY_AGAIN)
            return False
        log.debug("ws gap fill for %s: %d events, %s", audience, len(missing), trace.summary())
        for aud, ev in missing:
            await self._deliver(aud, ev)
        if not event_log.id_le(event["id"], self.cursors[audience]):
            await self._deliver(audience, event)  # trimmed from the stream meanwhile: still deliver it
        return True

    # -- helpers -----------------------------------------------------------------------------

    async def _follow(self, audience_list: list[str]) -> int:
        """Join the groups, then replay (or take the current tails as the starting point)."""
        for audience in audience_list:
            self.named[audiences.redis_name(audience)] = audience
            await self.channel_layer.group_add(audiences.group_name(audience), self.channel_name)
        if self.since is None:
            self.cursors.update(await selectors.aevent_tails(audience_list))
            return 0
        for audience in audience_list:
            self.cursors[audience] = self.since
        missed = await selectors.aevents_after({a: self.since for a in audience_list})
        for audience, event in missed:
            await self._deliver(audience, event)
        return len(missed)

    async def _catch_up(self) -> None:
        """Re-read every followed stream after its cursor: recovers anything the live path lost."""
        for audience, event in await selectors.aevents_after(dict(self.cursors)):
            if not event_log.id_le(event["id"], self.cursors.get(audience, "0-0")):
                await self._deliver(audience, event)

    async def _deliver(self, audience: str, event: dict[str, Any]) -> None:
        self.cursors[audience] = event["id"]
        await self._send(event)

    async def _error(self, code: str, detail: str) -> None:
        await self._send({"type": "error", "error": code, "detail": detail})

    async def _send(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, separators=(",", ":")))
