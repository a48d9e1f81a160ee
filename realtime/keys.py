"""Every Redis key of ``realtime/``: one function per key.

Event logs carry their audience as a ``{hash tag}`` (each lives on its own
slot on a Cluster; no command touches two of them atomically).  Presence
rooms share the ``{presence}`` tag because one heartbeat script updates
several rooms at once.
"""

from __future__ import annotations

import hashlib

from config.keyspace import family
from config.redis import key
from realtime import audiences


@family("rt:events:{<audience>}", type="stream", ttl="24 h after the last append (same script), capped ~500",
        writer="realtime.services.publish_event (redis_patterns/lua/append_event.lua)")
def events_stream(audience: str) -> str:
    """rt:events:{<audience>} -- STREAM of one audience's events (fields: type, data JSON).

    ``<audience>`` is ``audiences.redis_name``: a session's stream is
    ``rt:events:{visitor:<keyed hash>}``, never the session key itself.
    Capped with ``XADD MAXLEN ~`` and expiring ``EVENT_TTL_SECONDS`` after the
    last append, in the same script.  Writer: ``realtime.services.publish_event``.
    """
    return key("rt", "events", "{" + audiences.redis_name(audience) + "}")


@family("rt:presence:{presence}:<room>", type="zset", ttl="10 minutes, refreshed by each heartbeat",
        writer="realtime.services.apresence_heartbeat (presence_heartbeat.lua)")
def presence_room(room: str) -> str:
    """rt:presence:{presence}:<room> -- ZSET member=who score=last heartbeat (ms); TTL 10 min.

    ``room`` is ``"site"`` or ``"page:<hash>"`` (see ``page_room``).  Writer:
    ``realtime.services.apresence_heartbeat`` (script ``presence_heartbeat``).
    """
    return key("rt", "presence", "{presence}", room)


def page_room(path: str) -> str:
    """The presence room of one page: its URL path, hashed (user input never enters a key raw)."""
    return "page:" + hashlib.sha256(path.encode()).hexdigest()[:16]


@family("rt:demo:{<run>}:channel", type="channel", ttl="no storage",
        writer="realtime.services.pubsub_vs_streams_runs")
def demo_channel(run_id: str) -> str:
    """rt:demo:{<run>}:channel -- pub/sub channel of one pub/sub-vs-streams run (no storage)."""
    return key("rt", "demo", "{" + run_id + "}", "channel")


@family("rt:demo:{<run>}:stream", type="stream", ttl="10 minutes, set with it",
        writer="realtime.services.pubsub_vs_streams_runs")
def demo_stream(run_id: str) -> str:
    """rt:demo:{<run>}:stream -- STREAM of one pub/sub-vs-streams run; TTL 10 min, written with it."""
    return key("rt", "demo", "{" + run_id + "}", "stream")


@family("rt:sockets:{<client address>}", type="zset", ttl="until its last lease ends (PEXPIRE, same script)",
        writer="realtime.consumers (redis_patterns/lua/semaphore_acquire.lua; ZREM on close)")
def socket_slots(client: str) -> str:
    """rt:sockets:{<client address>} -- ZSET member=socket (channel name) score=lease end (ms).

    At most ``REALTIME_MAX_SOCKETS_PER_CLIENT`` open sockets per address
    (``redis_patterns.semaphore``).  ``client`` is ``config.ratelimit.client_address``:
    an IP address or an IPv6 /64, parsed by ``ipaddress`` (never raw input).
    """
    return key("rt", "sockets", "{" + client + "}")
