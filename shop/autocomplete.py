"""Autocomplete for the search box: ``ZRANGEBYLEX`` over normalized names, ranked by views (course 2.5, 12).

Pattern
    One sorted set holds every product name with score 0.  With equal
    scores, members sort by their bytes, so ``ZRANGEBYLEX key [p [p\\xff``
    returns exactly the members that start with ``p`` in O(log N + M).  A
    member is ``<lowercased name>\\0<id>\\0<name>``: matching is
    case-insensitive, and the answer needs nothing else.  The script
    (``shop/lua/autocomplete.lua``) takes the first ``CANDIDATES`` matches in
    name order, looks their views up with one ``ZMSCORE``
    (``shop.browsing`` counts them) and returns the most viewed: one round
    trip per keystroke, and the page debounces keystrokes (150 ms).

    The alternative the course also names, a sorted set per prefix scored by
    popularity, ranks perfectly but costs one member per prefix of every
    name (tens of members per product) and a write to each on every view.
    Here ranking is exact whenever a prefix matches at most ``CANDIDATES``
    names; for shorter, broader prefixes it ranks the first ``CANDIDATES``
    in name order.  Every result starts with the prefix either way.

Writes
    After each committed product write (``shop.services.product_changed``):
    one script replaces the product's old member (the members hash
    remembers it, so a rename leaves no trace).  A missing index is rebuilt
    from the database by the first read that finds it missing; a rebuild
    fills staging keys and swaps them in with two ``RENAME``s in one
    ``MULTI``, so readers see the old index or the new one, never half.

Failure policy
    Redis down: the API answers 503; the page's box simply offers nothing.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.db import transaction
from redis.exceptions import RedisError

from config.api import ApiError
from config.redis import get_redis
from redis_patterns.scripts import loader
from shop import keys
from shop.models import Product

log = logging.getLogger(__name__)

MAX_PREFIX = 50
MAX_LIMIT = 20
DEFAULT_LIMIT = 8
CANDIDATES = 64  # the window ranked by views; cost grows with it (bench/shop_structures.py)
REBUILD_BATCH = 2000


def normalize(text: str) -> str:
    """How names and prefixes are compared: lowercased (``str.lower``), nothing else."""
    return text.lower()


def member(product_id: int, name: str) -> str:
    """The index member of a product."""
    return f"{normalize(name)}\x00{int(product_id)}\x00{name}"


def autocomplete_params(query: Any) -> tuple[str, int]:
    """``(prefix, limit)`` from ``?q=&limit=``, or ``ApiError`` (400): empty or over-long prefix, bad limit."""
    q = query.get("q", "")
    if not q.strip():
        raise ApiError("q (the prefix) must not be empty", code="invalid_prefix")
    if len(q) > MAX_PREFIX:
        raise ApiError(f"q (the prefix) is at most {MAX_PREFIX} characters", code="invalid_prefix")
    if "\x00" in q:
        raise ApiError("q must not contain NUL characters", code="invalid_prefix")
    raw = query.get("limit") or str(DEFAULT_LIMIT)
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4 or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(f"limit must be an integer from 1 to {MAX_LIMIT}", code="invalid_parameter")
    return q, int(raw)


def autocomplete(*, prefix: str, limit: int = DEFAULT_LIMIT, client: Any = None) -> list[dict[str, Any]]:
    """``[{"id", "name"}]``: names starting with ``prefix`` (case-insensitive), most viewed first. One round trip."""
    client = client or get_redis()
    scripts = loader("shop")
    ks = [keys.autocomplete_index(), keys.autocomplete_popularity()]
    args = [normalize(prefix), limit, CANDIDATES]
    reply = scripts.call(client, "autocomplete", keys=ks, args=args)
    if reply is None:
        autocomplete_rebuild(client=client)
        reply = scripts.call(client, "autocomplete", keys=ks, args=args) or []
    return [{"id": int(reply[i]), "name": reply[i + 1]} for i in range(0, len(reply), 2)]


def autocomplete_rebuild(*, client: Any = None) -> int:
    """Build the index from the database into staging keys, then swap it in (``MULTI``: two ``RENAME``). Count."""
    client = client or get_redis()
    # Staging keys of our own: two rebuilds at once each swap in a complete index.
    staging_index, staging_members = keys.autocomplete_staging(secrets.token_hex(8))
    count = 0
    rows = Product.objects.order_by("pk").values_list("pk", "name")
    batch: list[tuple[int, str]] = []

    def flush() -> None:
        pipe = client.pipeline(transaction=False)
        pipe.zadd(staging_index, {member(pid, name): 0 for pid, name in batch})
        pipe.hset(staging_members, mapping={str(pid): member(pid, name) for pid, name in batch})
        pipe.expire(staging_index, 300)
        pipe.expire(staging_members, 300)
        pipe.execute()

    for row in rows.iterator(chunk_size=REBUILD_BATCH):
        batch.append(row)
        if len(batch) == REBUILD_BATCH:
            flush()
            count += len(batch)
            batch = []
    if batch:
        flush()
        count += len(batch)
    pipe = client.pipeline(transaction=True)
    if count:
        pipe.rename(staging_index, keys.autocomplete_index())
        pipe.rename(staging_members, keys.autocomplete_members())
        pipe.persist(keys.autocomplete_index())
        pipe.persist(keys.autocomplete_members())
    else:
        pipe.delete(keys.autocomplete_index(), keys.autocomplete_members())
    pipe.execute()
    return count


def autocomplete_sync(*, product_id: int, client: Any = None) -> None:
    """Make the index agree with the committed row (one script: replace or remove the product's member)."""
    client = client or get_redis()
    row = Product.objects.filter(pk=product_id).values_list("name", flat=True).first()
    new = member(product_id, row) if row is not None else ""
    loader("shop").call(client, "autocomplete_upsert", keys=[keys.autocomplete_index(), keys.autocomplete_members()],
                        args=[product_id, new])


def product_changed(*, product_id: int) -> None:
    """After a product write: the index follows once the transaction commits (fail open, logged)."""

    def sync() -> None:
        try:
            autocomplete_sync(product_id=product_id)
        except RedisError as exc:
            log.warning("autocomplete index not updated for product %s: %s", product_id, exc)

    transaction.on_commit(sync)
