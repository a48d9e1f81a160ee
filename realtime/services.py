"""Publishing user-facing events (minimal version for the order pipeline branch).

The realtime issue (#6) owns this module and replaces it with the full
version (per-audience streams for replay, WebSocket fan-out, presence); the
signature below is the contract both sides code against:

    publish_event(audience, type, data) -> event id

``audience`` is ``"user:<id>"``, ``"session:<session_key>"`` (an order's
``owner``), ``"public"`` or ``"leaderboard:<board>"``.
"""

from __future__ import annotations

import hashlib
import json

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from config.redis import get_redis, key

STREAM_MAXLEN = 1000
STREAM_TTL_SECONDS = 24 * 3600


def events_key(audience: str) -> str:
    """events:{<audience>} -- STREAM of the audience's events, capped, expires a day after the last one."""
    return key("events", "{" + audience + "}")


def group_name(audience: str) -> str:
    """A channel-layer group name (ASCII letters, digits, ``-_.`` only) for an audience."""
    return "aud." + hashlib.sha1(audience.encode(), usedforsecurity=False).hexdigest()


def publish_event(audience: str, type: str, data: dict) -> str:  # noqa: A002 - the event's "type" field
    """Append the event to the audience's stream, then send it live; returns the event id."""
    client = get_redis()
    stream = events_key(audience)
    pipe = client.pipeline(transaction=True)
    pipe.xadd(stream, {"event": json.dumps({"type": type, **data})}, maxlen=STREAM_MAXLEN, approximate=True)
    pipe.expire(stream, STREAM_TTL_SECONDS)
    event_id, _ = pipe.execute()
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(
            group_name(audience), {"type": "event.message", "event": {"id": event_id, "type": type, **data}}
        )
    return event_id
