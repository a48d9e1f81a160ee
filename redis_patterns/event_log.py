"""Event log: pub/sub for speed, a capped stream for the events a subscriber missed.

Pattern
    Pub/sub (and anything built on it, such as a Channels group) delivers a
    message to whoever is connected at that instant and forgets it: a client
    that is reconnecting, a tab being reloaded, a server restarting, all miss
    it.  So every user-facing event is written first to a per-audience
    **stream** (the durable log), and only then fanned out live.  The stream
    entry id is the event id.  A client remembers the last id it saw; when it
    (re)connects it reads every entry after that id (``XRANGE (<id> +``) before
    it takes live events again.

    Each append also returns the id of the entry *before* it.  A live reader
    that has sent up to id ``c`` and receives event ``e`` whose predecessor is
    ``p``:

    - ``e <= c``: a duplicate (it was already replayed); drop it;
    - ``p <= c``: nothing is missing; deliver ``e``;
    - otherwise a live message was lost or overtaken: read ``(c, e]`` from the
      stream and deliver that, in order.

    So a reader never skips an entry of a stream it follows, never repeats one
    and delivers them in stream order, whatever the live path does.

Guarantees
    Per stream: at-least-once storage (the ``XADD`` succeeded before the call
    returns), exactly-once in-order delivery to a reader that follows the
    rules above, within the retention window: the stream is capped with
    ``XADD MAXLEN ~`` (approximate trimming, O(1) amortised) and expires
    ``ttl`` seconds after its last append.  A reader away for longer than that
    misses what was trimmed; nothing else is lost.
    Across streams: a client keeps one "last id" for several streams (its
    own, ``public``, boards), so ids must be comparable across streams.
    ``XADD *`` would give ``<ms>-0`` to two streams written in the same
    millisecond; the append script instead takes the sequence part from the
    server's microsecond clock (``TIME``), so appends on one server get
    distinct ids in the order they ran, whichever stream they went to.  Left
    open, and documented rather than hidden: two publishers racing so that
    the later append's live copy arrives first, with the socket dropping in
    between (the earlier one is then below the client's last id); and on a
    Cluster, streams on different shards compare by different clocks.
    The heartbeat catch-up covers the live path, not these two.

Commands
    `XADD <https://redis.io/docs/latest/commands/xadd/>`_ (with ``MAXLEN ~``),
    `XREVRANGE <https://redis.io/docs/latest/commands/xrevrange/>`_ and
    `EXPIRE <https://redis.io/docs/latest/commands/expire/>`_ in one script
    (``lua/append_event.lua``);
    `XRANGE <https://redis.io/docs/latest/commands/xrange/>`_ with an
    exclusive start (``(id``, Redis 6.2+) to replay.

Round trips
    ``append``: 1.  ``append_many``: 1 for any number of events and streams
    (pipelined; on a Cluster one per node touched).  ``read_after`` / ``tails``: 1 for any number of streams
    (pipelined; on a Cluster one per node touched).  Replay pages by
    ``page_size`` entries, one more round trip per full page.

Failure policy
    ``append`` raises when Redis is unreachable: the caller decides (an order
    worker retries).  Readers raise too; the WebSocket consumer closes the
    socket and the browser reconnects with its last id, so nothing is lost
    while the stream retains it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from redis.exceptions import ResponseError

_ID = re.compile(r"^\d{1,20}(-\d{1,20})?$")

Entry = tuple[str, str, dict[str, Any]]  # (stream key, entry id, event)


def is_event_id(value: str) -> bool:
    """True for a stream entry id such as ``"1732590000000-0"`` (or bare ``"1732590000000"``)."""
    return bool(_ID.match(value))


def parse_id(entry_id: str) -> tuple[int, int]:
    """``"1732590000000-3"`` -> ``(1732590000000, 3)``, comparable with ``<``."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def id_le(a: str, b: str) -> bool:
    """``a <= b`` as stream ids (string comparison would put ``"9-0"`` after ``"10-0"``)."""
    return parse_id(a) <= parse_id(b)


def to_event(entry_id: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """A stream entry as the JSON event clients get: ``{"id", "type", **data}``."""
    event = dict(json.loads(fields.get("data") or "{}"))
    event["id"] = entry_id
    event["type"] = fields.get("type", "")
    return event


# --- writes -----------------------------------------------------------------------------


def append(client: Any, scripts: Any, stream: str, event_type: str, data_json: str, *,
           maxlen: int, ttl_seconds: int) -> tuple[str, str]:
    """Append an event; returns ``(id, previous id or "")``.  1 round trip."""
    new_id, prev = scripts.call(client, "append_event", keys=[stream],
                                args=[maxlen, ttl_seconds, event_type, data_json])
    return _s(new_id), _s(prev)


def append_many(client: Any, scripts: Any, events: Sequence[tuple[str, str, str]], *,
                maxlen: int, ttl_seconds: int) -> list[tuple[str, str] | Exception]:
    """Append several ``(stream, event_type, data_json)`` events in one pipelined round trip.

    One slot per event, in order: ``(id, previous id or "")``, or the error
    that append met (a connection error is raised).  Each append is atomic
    and the pipeline runs them in order, so two events of one stream get
    ids in the order given and the second's previous id is the first's.
    Not a transaction: an append that failed does not undo the others.
    """
    if len(events) == 1:  # no pipeline object for one (what a single publish costs)
        stream, event_type, data_json = events[0]
        try:
            return [append(client, scripts, stream, event_type, data_json, maxlen=maxlen, ttl_seconds=ttl_seconds)]
        except ResponseError as exc:
            return [exc]
    pipe = client.pipeline(transaction=False)
    for stream, event_type, data_json in events:
        scripts.queue(client, pipe, "append_event", keys=[stream], args=[maxlen, ttl_seconds, event_type, data_json])
    return [reply if isinstance(reply, Exception) else (_s(reply[0]), _s(reply[1]))
            for reply in scripts.execute(client, pipe, raise_on_error=False)]


async def aappend(client: Any, scripts: Any, stream: str, event_type: str, data_json: str, *,
                  maxlen: int, ttl_seconds: int) -> tuple[str, str]:
    """``append`` for ``redis.asyncio``."""
    new_id, prev = await scripts.acall(client, "append_event", keys=[stream],
                                       args=[maxlen, ttl_seconds, event_type, data_json])
    return _s(new_id), _s(prev)


def _s(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


# --- reads ------------------------------------------------------------------------------


async def aread_after(client: Any, streams: Mapping[str, str], *, upto: str = "+",
                      page_size: int = 500) -> list[Entry]:
    """Every entry after each stream's cursor, merged in id order.

    Args:
        streams: stream key -> the last id the reader has (exclusive start).
        upto: last id to include (``"+"``: the newest).
        page_size: entries per ``XRANGE``; a full page triggers another round trip.

    Returns:
        ``[(stream key, id, event), ...]`` sorted by id (ties: by stream key, so
        the order is the same on every replay).
    """
    out: list[Entry] = []
    pending = dict(streams)
    while pending:
        pipe = client.pipeline(transaction=False)
        order = list(pending)
        for stream in order:
            pipe.xrange(stream, min=f"({pending[stream]}", max=upto, count=page_size)
        replies = await pipe.execute()
        nxt: dict[str, str] = {}
        for stream, entries in zip(order, replies, strict=True):
            for entry_id, fields in entries:
                out.append((stream, _s(entry_id), to_event(_s(entry_id), _decoded(fields))))
            if len(entries) == page_size:
                nxt[stream] = _s(entries[-1][0])
        pending = nxt
    out.sort(key=lambda e: (parse_id(e[1]), e[0]))
    return out


async def atails(client: Any, streams: Sequence[str]) -> dict[str, str]:
    """The newest id of each stream (``"0-0"`` for an empty or missing one).  1 round trip."""
    if not streams:
        return {}
    pipe = client.pipeline(transaction=False)
    for stream in streams:
        pipe.xrevrange(stream, max="+", min="-", count=1)
    replies = await pipe.execute()
    return {s: (_s(r[0][0]) if r else "0-0") for s, r in zip(streams, replies, strict=True)}


def recent(client: Any, stream: str, count: int = 20) -> list[dict[str, Any]]:
    """The newest ``count`` events of a stream, newest first (for pages).  1 round trip."""
    return [to_event(_s(i), _decoded(f)) for i, f in client.xrevrange(stream, count=count)]


def _decoded(fields: Mapping[Any, Any]) -> dict[str, str]:
    return {_s(k): _s(v) for k, v in fields.items()}


def merge_cursor(cursor: str, ids: Iterable[str]) -> str:
    """The largest of ``cursor`` and ``ids``."""
    best = cursor
    for entry_id in ids:
        if not id_le(entry_id, best):
            best = entry_id
    return best
