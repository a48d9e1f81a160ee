"""Pub/sub vs streams: what a subscriber that was offline for a while gets back.

Pattern
    One publisher sends numbered messages 1..N two ways at once: ``PUBLISH``
    on a channel and ``XADD`` to a stream.  Two readers follow along: a pub/sub
    subscriber and a stream reader that remembers the last id it read.  For
    messages ``offline_from..offline_to`` both readers are offline (the
    subscriber's connection is closed; the stream reader just doesn't read).
    Then both come back.

    - Pub/sub is fire-and-forget: ``PUBLISH`` returns how many subscribers got
      the message *right now*, and that count is 0 while ours is away.  Those
      messages are gone.  The course's anti-pattern "Pub/Sub for critical
      messages" is exactly this.
    - The stream keeps the messages: on its return the reader asks for
      everything after its last id (``XREAD STREAMS key <last id>``) and
      replays them, in order, then carries on.

    With ``sharded=True`` the same is done with ``SPUBLISH``/``SSUBSCRIBE``
    (Redis 7.0+).  On one server they behave like ``PUBLISH``/``SUBSCRIBE``.
    On a Cluster the difference is where a message travels: a classic
    ``PUBLISH`` is broadcast over the cluster bus to *every* node (so pub/sub
    traffic grows with the cluster, not with the subscribers), while a shard
    channel is hashed to a slot like a key, and ``SPUBLISH`` only reaches the
    primary and replicas of the shard that owns that slot; subscribers must
    connect to that shard.  Delivery is still at-most-once: when the slot
    moves or the shard fails over, subscribers are unsubscribed (``SUNSUBSCRIBE``
    is pushed) and must resubscribe; what was sent in between is lost.

Guarantees
    None for pub/sub beyond "delivered to whoever is connected".  The stream
    reader gets every message exactly once and in order as long as the stream
    retains it (``MAXLEN ~`` and the key's TTL bound that).

Commands
    `PUBLISH <https://redis.io/docs/latest/commands/publish/>`_,
    `SUBSCRIBE <https://redis.io/docs/latest/commands/subscribe/>`_,
    `SPUBLISH <https://redis.io/docs/latest/commands/spublish/>`_,
    `SSUBSCRIBE <https://redis.io/docs/latest/commands/ssubscribe/>`_,
    `XADD <https://redis.io/docs/latest/commands/xadd/>`_,
    `EXPIRE <https://redis.io/docs/latest/commands/expire/>`_,
    `XREAD <https://redis.io/docs/latest/commands/xread/>`_.

Round trips
    Per message: 1 for the publisher (``PUBLISH`` + ``XADD`` + ``EXPIRE`` in one
    ``MULTI``/``EXEC`` pipeline), 1 for each online reader.  This is a
    teaching demo, sized for tens of messages.

Failure policy
    Errors propagate: the page reports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Delivery:
    """What happened to one numbered message."""

    number: int
    sent_while_offline: bool
    pubsub_receivers: int = 0  # PUBLISH's reply: subscribers that got it at that instant
    pubsub_got: bool = False
    stream_got: str = ""  # "" (missed), "live" or "replayed"
    stream_id: str = ""


@dataclass
class DemoResult:
    total: int
    offline_from: int
    offline_to: int
    sharded: bool
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def pubsub_missed(self) -> list[int]:
        return [d.number for d in self.deliveries if not d.pubsub_got]

    @property
    def stream_missed(self) -> list[int]:
        return [d.number for d in self.deliveries if not d.stream_got]

    @property
    def replayed(self) -> list[int]:
        return [d.number for d in self.deliveries if d.stream_got == "replayed"]


class _Subscriber:
    """A pub/sub subscriber that can go offline (close its connection) and come back."""

    def __init__(self, client: Any, channel: str, sharded: bool) -> None:
        self.client, self.channel, self.sharded = client, channel, sharded
        self.pubsub: Any = None

    def connect(self) -> None:
        self.pubsub = self.client.pubsub()
        if self.sharded:
            self.pubsub.ssubscribe(self.channel)
        else:
            self.pubsub.subscribe(self.channel)
        # Wait for the subscription to be confirmed, so a message published
        # right after cannot race it.
        self._next(kinds={"subscribe", "ssubscribe"})

    def disconnect(self) -> None:
        self.pubsub.close()  # the connection goes away, as a crashed or offline client's would
        self.pubsub = None

    def receive(self) -> str | None:
        message = self._next(kinds={"message", "smessage"})
        return None if message is None else str(message["data"])

    def _next(self, kinds: set[str], timeout: float = 1.0) -> dict | None:
        reader = self.pubsub.get_sharded_message if self.sharded else self.pubsub.get_message
        while True:
            message = reader(timeout=timeout)
            if message is None:
                return None
            if message["type"] in kinds:
                return message


def run(client: Any, *, channel: str, stream: str, total: int = 20, offline_from: int = 8,
        offline_to: int = 14, sharded: bool = False, ttl_seconds: int = 600) -> DemoResult:
    """Publish ``total`` numbered messages; both readers are offline for ``offline_from..offline_to``."""
    if not 1 <= offline_from <= offline_to < total:
        raise ValueError("need 1 <= offline_from <= offline_to < total")
    result = DemoResult(total=total, offline_from=offline_from, offline_to=offline_to, sharded=sharded)
    subscriber = _Subscriber(client, channel, sharded)
    subscriber.connect()
    last_read = "0-0"  # the stream reader's only state: the last id it has seen
    by_id: dict[str, Delivery] = {}
    try:
        for n in range(1, total + 1):
            offline = offline_from <= n <= offline_to
            if n == offline_from:
                subscriber.disconnect()
            if n == offline_to + 1:
                subscriber.connect()
                # The stream reader's return: everything after its last id.
                for entry_id, _fields in _xread(client, stream, last_read):
                    by_id[entry_id].stream_got = "replayed"
                    last_read = entry_id
            delivery = Delivery(number=n, sent_while_offline=offline)
            pipe = client.pipeline(transaction=True)
            (pipe.spublish if sharded else pipe.publish)(channel, str(n))
            pipe.xadd(stream, {"n": n}, maxlen=1000, approximate=True)
            pipe.expire(stream, ttl_seconds)
            receivers, entry_id, _ = pipe.execute()
            delivery.pubsub_receivers = int(receivers)
            delivery.stream_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            by_id[delivery.stream_id] = delivery
            result.deliveries.append(delivery)
            if not offline:
                got = subscriber.receive()
                delivery.pubsub_got = got == str(n)
                for entry_id, _fields in _xread(client, stream, last_read):
                    by_id[entry_id].stream_got = "live"
                    last_read = entry_id
    finally:
        if subscriber.pubsub is not None:
            subscriber.disconnect()
    return result


def _xread(client: Any, stream: str, after: str) -> list[tuple[str, dict]]:
    reply = client.xread({stream: after}, count=1000)
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3 shape
        entries = next(iter(reply.values()))[0]
    else:
        entries = reply[0][1]
    return [(i.decode() if isinstance(i, bytes) else i, f) for i, f in entries]
