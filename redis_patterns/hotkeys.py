"""Hot keys: an in-process tier with pub/sub invalidation, and key replicas.

The problem
    One key read by every request (the product on the home page, a flash
    sale) lands on one Redis thread, and on a Cluster on one node, whatever
    the size of the cluster.  Two remedies, usable separately or together:

In-process tier (``LocalTier`` + ``InvalidationBus``)
    A small dict in each app process in front of Redis, entries kept for a
    short TTL (about a second).  A hot key then costs Redis one read per
    process per TTL instead of one per request.  Writers ``PUBLISH`` the keys
    they changed; every process runs one listener thread subscribed to the
    channel and drops those keys, so the staleness window is the pub/sub
    delivery time (well under a millisecond on a LAN), bounded by the TTL
    when a message is lost.  Pub/sub is fire-and-forget: a listener that was
    disconnected missed messages, so on every (re)subscribe it clears its tier.

    Guarantee: eventual.  A read in process B right after a write in process A
    may still see the old value until the message arrives (or the TTL passes);
    use the tier only where that is acceptable, never for stock or prices at
    checkout.

Key replicas (``replica_keys``, ``pick_replica``)
    The value is written to N keys (``...:r0`` .. ``...:rN-1``), each with its
    own hash tag so a Cluster spreads them over slots and nodes; a reader picks
    one at random.  Load on one key drops to 1/N; writes and invalidations
    cost N commands (one pipelined round trip per node).

Commands
    `PUBLISH <https://redis.io/docs/latest/commands/publish/>`_,
    `SUBSCRIBE <https://redis.io/docs/latest/commands/subscribe/>`_,
    `GET <https://redis.io/docs/latest/commands/get/>`_,
    `SET ... PX <https://redis.io/docs/latest/commands/set/>`_,
    `DEL <https://redis.io/docs/latest/commands/del/>`_.

Round trips
    Local hit: 0.  Replica read: 1.  Publish: 1 (or 0 extra when queued on the
    writer's pipeline).  Replica write/invalidate: 1 pipelined round trip.

Failure policy
    The tier never talks to Redis itself.  The listener thread reconnects
    with backoff when Redis goes away and clears the tier when it comes back;
    while it is disconnected, entries still expire after the TTL.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_MISSING = object()


def approx_size(value: Any) -> int:
    """Approximate bytes a value holds in this process (``sys.getsizeof``, containers walked)."""
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(approx_size(k) + approx_size(v) for k, v in value.items())
    elif isinstance(value, list | tuple | set | frozenset):
        size += sum(approx_size(v) for v in value)
    return size


class LocalTier:
    """A thread-safe, size-bounded, TTL'd dict (LRU eviction)."""

    def __init__(self, *, ttl: float = 1.0, max_items: int = 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self.clock = clock
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.invalidations = 0
        #: Moves on every drop and clear: a reader that fetched a value from Redis
        #: stores it with ``put(..., since=epoch_before_the_read)`` and the value is
        #: kept only if no invalidation arrived while it was reading.
        self.epoch = 0

    def get(self, key: str) -> Any:
        """The value, or ``LocalTier.MISSING``."""
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] <= self.clock():
                if item is not None:
                    del self._items[key]
                self.misses += 1
                return _MISSING
            self._items.move_to_end(key)
            self.hits += 1
            return item[1]

    def put(self, key: str, value: Any, *, since: int | None = None) -> bool:
        """Keep ``value`` for the TTL; with ``since``, only if nothing was invalidated after that epoch."""
        with self._lock:
            if since is not None and since != self.epoch:
                return False  # an invalidation overtook this read: the value may be old
            self._items[key] = (self.clock() + self.ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
            return True

    def drop(self, keys: Iterable[str]) -> None:
        with self._lock:
            self.epoch += 1
            for key in keys:
                if self._items.pop(key, None) is not None:
                    self.invalidations += 1

    def clear(self) -> None:
        with self._lock:
            self.epoch += 1
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def memory_bytes(self) -> int:
        """Approximate bytes held by the tier (keys, values, per-entry overhead)."""
        with self._lock:
            items = [(k, v) for k, (_, v) in self._items.items()]
        return sum(approx_size(k) + approx_size(v) + 100 for k, v in items)

    MISSING = _MISSING


def publish_invalidation(client_or_pipe: Any, channel: str, keys: Sequence[str]) -> None:
    """Tell every process to drop ``keys`` from its tier (``PUBLISH``; queue it on a pipeline to save a round trip)."""
    client_or_pipe.publish(channel, json.dumps(list(keys)))


class InvalidationBus:
    """One listener thread per process: ``SUBSCRIBE channel``, drop the named keys from ``tier``.

    Args:
        client_factory: builds a dedicated client for the subscription (a
            pub/sub connection cannot run other commands).
        channel: the channel name.
        tier: the tier to invalidate.
    """

    def __init__(self, client_factory: Callable[[], Any], channel: str, tier: LocalTier) -> None:
        self.client_factory = client_factory
        self.channel = channel
        self.tier = tier
        self.subscribed = threading.Event()
        self.messages = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def start(self) -> InvalidationBus:
        """Start the listener if it is not running (idempotent, thread-safe)."""
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name=f"invalidation:{self.channel}",
                                                daemon=True)
                self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            client = pubsub = None
            try:
                client = self.client_factory()
                pubsub = client.pubsub()
                pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        # Anything published while we were away is lost: start clean.
                        self.tier.clear()
                        self.subscribed.set()
                        backoff = 0.05
                    elif message["type"] == "message":
                        self.messages += 1
                        try:
                            keys = json.loads(message["data"])
                        except ValueError:
                            continue
                        if isinstance(keys, list):
                            self.tier.drop(str(k) for k in keys)
            except (RedisError, OSError) as exc:
                if self.subscribed.is_set():
                    log.warning("invalidation listener on %s lost Redis (%s); local tier cleared, reconnecting",
                                self.channel, type(exc).__name__)
                self.subscribed.clear()
                self.tier.clear()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                for closable in (pubsub, client):
                    try:
                        if closable is not None:
                            closable.close()
                    except Exception:  # noqa: S110 - closing a dead connection must not kill the loop
                        pass


def replica_keys(make_key: Callable[[int], str], replicas: int) -> list[str]:
    """The N replica key names, from a function that builds replica ``i``'s name."""
    return [make_key(i) for i in range(replicas)]


def pick_replica(keys: Sequence[str], rng: Callable[[], float] = random.random) -> str:
    """A replica chosen uniformly at random: spreads reads over keys (and Cluster nodes)."""
    return keys[min(int(rng() * len(keys)), len(keys) - 1)]


def write_replicas(client: Any, keys: Sequence[str], payload: str, px: int) -> None:
    """``SET`` every replica with its TTL (one pipeline; per node on a Cluster)."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.set(key, payload, px=px)
    pipe.execute()
