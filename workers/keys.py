"""Every Redis key of the order pipeline: one function per key.

Keys used together by one multi-key command, transaction or script share a
``{hash tag}`` so the app runs unchanged on Redis Cluster: the orders stream,
its dead-letter stream and the worker stats (dead-lettering is ``XADD`` +
``XACK`` in one ``MULTI``).
"""

from __future__ import annotations

import hashlib

from config.redis import key

ORDERS = "orders"


def orders_stream(lab: str | None = None) -> str:
    """{orders}:stream -- STREAM of placed orders (fields order_id, outbox_id); permanent.

    Written by the outbox relay (``XADD``, never with ``MAXLEN``: capping at
    write time could drop entries still pending); trimmed by the workers
    (``XTRIM MINID`` below the oldest entry any group still needs).
    ``lab``: ``{orders}:lab:<run>:stream``, a private stream for one ``lab_streams`` run.
    """
    return key("{orders}", "lab", lab, "stream") if lab else key("{orders}", "stream")


def orders_dead_letter(lab: str | None = None) -> str:
    """{orders}:dead -- STREAM of entries that failed ``max_deliveries`` times; capped ~10k, permanent.

    Written by the stream workers; read and replayed from the staff streams page.
    """
    return key("{orders}", "lab", lab, "dead") if lab else key("{orders}", "dead")


def orders_stats(group: str, lab: str | None = None) -> str:
    """{orders}:stats:<group> -- HASH of counters (acked, dead_lettered); TTL 7 days, refreshed by each write.

    Written by the stream workers in the same pipeline as their ``XACK``.
    """
    return key("{orders}", "lab", lab, "stats", group) if lab else key("{orders}", "stats", group)


def stock() -> str:
    """stock:{available} -- HASH field=product id, value=units not yet reserved; TTL 1 hour, refreshed.

    Written by ``reserve_stock.lua`` / ``init_stock.lua`` / ``release_stock.lua``.
    One hash for the whole shop, so an order for several products is reserved
    by one script on one key (on a Cluster: one slot).  The trade-off: every
    checkout hits the one shard that owns it; a shop past one shard's budget
    (tens of thousands of reservations a second) would shard stock by
    product and reserve multi-shard orders line by line with compensation.
    """
    return key("stock", "{available}")


def idempotency_record(owner: str, idempotency_key: str) -> str:
    """idem:<sha256(owner, key)> -- HASH (state, fingerprint, token, result); TTL 30 s pending, 24 h done.

    Written by ``redis_patterns.idempotency`` during checkout.  The owner and
    the client's key are hashed: user input never becomes part of a key name.
    """
    digest = hashlib.sha256(f"{owner}\x00{idempotency_key}".encode()).hexdigest()[:40]
    return key("idem", digest)


def wallet_demo(approach: str) -> str:
    """demo:{wallet}:<approach> -- STRING integer balance for the check-and-set page; TTL 10 minutes."""
    return key("demo", "{wallet}", approach)


def cart(owner: str) -> str:
    """cart:<sha256(owner)> -- HASH field=product id, value=quantity; TTL 7 days, refreshed by each write.

    Written by ``workers.services.cart_add`` (``HINCRBY``), read by ``cart_get``.
    """
    return key("cart", hashlib.sha256(owner.encode()).hexdigest()[:40])
