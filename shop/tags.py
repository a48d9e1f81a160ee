"""Product tags as Redis sets: all-of, any-of, exclusion, paginated; "featured" at random (course 2.4).

Pattern
    One set per tag (member = product id).  "Tagged eco *and* gift" is
    ``SINTER``, "eco *or* gift" is ``SUNION``, "but not sale" is ``SDIFF``.
    Sets are unordered and a page needs a stable result, so the combination
    is stored once (``SINTERSTORE``/``SUNIONSTORE``, then ``SDIFFSTORE``) with
    a 60 s TTL, and pages are read from it with ``SORT ... LIMIT``: one
    script, one round trip per page (``shop/lua/tags_query.lua``).
    "Featured" is ``SRANDMEMBER bestseller-set 4``: a fair random pick, O(4).

Where the sets come from
    The database is the source of truth (``Product.tags``).  The sets of one
    catalog generation share the hash tag ``{tags:g<gen>}`` (the set
    algebra needs one slot on a Cluster), and are built from the database by
    the first read of that generation: one query, then one ``MULTI`` of
    ``SADD``s with their TTLs.  A product or tag write bumps the generation
    (``shop.services``), so the next read builds a new index; the old one
    simply expires.  Nothing is ever maintained member by member, so an
    index cannot drift from the table.

Cost
    ``SINTER`` is O(N*M) with N the smallest set; ``SUNION``/``SDIFF`` O(total
    members).  Building the index: one pass over the product-tag table
    (~2,000 rows for the demo catalog).

Failure policy
    Redis down: the API answers 503.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from config.api import ApiError
from config.redis import get_redis
from redis_patterns.scripts import loader
from shop import keys, selectors
from shop.models import Product, Tag

PAGE_SIZE = 24
MAX_TAGS = 5
QUERY_TTL = 60
FEATURED_TAG = "bestseller"
_TAG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


@dataclass(frozen=True)
class TagQuery:
    tags: tuple[str, ...]
    mode: str
    exclude: tuple[str, ...]
    page: int

    @property
    def canonical(self) -> str:
        """The query as a string that is the same however the client ordered it (the stored result's name)."""
        return f"{self.mode}:{','.join(self.tags)}-{','.join(self.exclude)}"


def _tag_list(raw: str | None, name: str) -> tuple[str, ...]:
    if not raw:
        return ()
    items = sorted({t.strip().lower() for t in raw.split(",") if t.strip()})
    if len(items) > MAX_TAGS:
        raise ApiError(f"{name}: at most {MAX_TAGS} tags", code="invalid_parameter")
    for item in items:
        if not _TAG.match(item):
            raise ApiError(f"{name}: {item[:40]!r} is not a tag name (lowercase letters, digits, '-')",
                           code="invalid_parameter")
    return tuple(items)


def tags_params(query: Any) -> TagQuery:
    """A ``TagQuery`` from ``?tags=a,b&mode=all|any&exclude=c&page=``, or ``ApiError`` (400)."""
    tags = _tag_list(query.get("tags"), "tags")
    exclude = _tag_list(query.get("exclude"), "exclude")
    mode = query.get("mode") or "all"
    if mode not in ("all", "any"):
        raise ApiError("mode must be all or any", code="invalid_parameter")
    raw_page = query.get("page") or "1"
    if not raw_page.isascii() or not raw_page.isdigit() or len(raw_page) > 6 or int(raw_page) < 1:
        raise ApiError("page must be a positive integer", code="invalid_parameter")
    if set(tags) & set(exclude):
        raise ApiError("a tag cannot be both required and excluded", code="invalid_parameter")
    return TagQuery(tags, mode, exclude, int(raw_page))


def _generation() -> int:
    generation = selectors.catalog_generation()
    if generation is None:
        raise ApiError("Redis is unavailable; try again shortly", code="redis_unavailable", status=503)
    return generation


def tags_index_build(*, generation: int, client: Any = None) -> int:
    """Build one generation's tag sets from the database (one query, one ``MULTI``). Returns the product count."""
    client = client or get_redis()
    members: dict[str, set[int]] = defaultdict(set)
    for product_id, tag in Product.tags.through.objects.values_list("product_id", "tag__name"):
        members[tag].add(product_id)
    names = list(Tag.objects.values_list("name", flat=True))
    product_ids = list(Product.objects.values_list("pk", flat=True))
    ttl = keys.TAG_INDEX_TTL
    pipe = client.pipeline(transaction=True)
    for tag, ids in members.items():
        if _TAG.match(tag):
            pipe.sadd(keys.tag_members(generation, tag), *ids)
            pipe.expire(keys.tag_members(generation, tag), ttl + 60)
    if product_ids:
        pipe.sadd(keys.tag_all_products(generation), *product_ids)
        pipe.expire(keys.tag_all_products(generation), ttl + 60)
    # Written last and expiring first: while it exists, every set above exists too.
    pipe.sadd(keys.tag_names(generation), *(names or ["-"]))
    pipe.expire(keys.tag_names(generation), ttl)
    pipe.execute()
    return len(product_ids)


def tags_query(query: TagQuery, *, client: Any = None) -> dict[str, Any]:
    """One page of the products matching ``query``: ids from Redis, their rows from one query by primary key."""
    client = client or get_redis()
    generation = _generation()
    ks = [keys.tag_query(generation, query.canonical), keys.tag_names(generation), keys.tag_all_products(generation),
          *(keys.tag_members(generation, t) for t in query.tags),
          *(keys.tag_members(generation, t) for t in query.exclude)]
    args = [query.mode, QUERY_TTL, len(query.tags), (query.page - 1) * PAGE_SIZE, PAGE_SIZE,
            *query.tags, *query.exclude]
    scripts = loader("shop")
    reply = scripts.call(client, "tags_query", keys=ks, args=args)
    if reply is None:
        tags_index_build(generation=generation, client=client)
        reply = scripts.call(client, "tags_query", keys=ks, args=args)
    if reply and reply[0] == "unknown":
        raise ApiError(f"unknown tag {reply[1]!r}; see GET /api/products?tags= with one of the shop's tags",
                       code="unknown_tag")
    count, ids = int(reply[0]), [int(i) for i in reply[1:]]
    num_pages = max(1, math.ceil(count / PAGE_SIZE))
    if query.page > num_pages:
        raise ApiError(f"page {query.page} is past the last page ({num_pages})", code="out_of_range")
    rows = {p["id"]: p for p in Product.objects.filter(pk__in=ids).values("id", "name", "price", "slug")}
    tag_rows: dict[int, list[str]] = defaultdict(list)
    for pid, tag in Product.tags.through.objects.filter(product_id__in=ids).values_list("product_id", "tag__name"):
        tag_rows[pid].append(tag)
    products = [{"id": i, "name": rows[i]["name"], "price": str(rows[i]["price"]), "tags": sorted(tag_rows[i])}
                for i in ids if i in rows]
    return {"tags": list(query.tags), "mode": query.mode, "exclude": list(query.exclude), "page": query.page,
            "page_size": PAGE_SIZE, "count": count, "num_pages": num_pages, "products": products}


def featured(*, count: int = 4, client: Any = None) -> list[dict[str, Any]]:
    """``SRANDMEMBER`` of the bestseller set (every product if there is no such tag): a fresh pick per call."""
    client = client or get_redis()
    generation = _generation()
    pipe = client.pipeline(transaction=False)
    pipe.exists(keys.tag_names(generation))
    pipe.srandmember(keys.tag_members(generation, FEATURED_TAG), count)
    pipe.srandmember(keys.tag_all_products(generation), count)
    built, picked, fallback = pipe.execute()
    if not built:
        tags_index_build(generation=generation, client=client)
        picked = client.srandmember(keys.tag_members(generation, FEATURED_TAG), count)
        fallback = client.srandmember(keys.tag_all_products(generation), count) if not picked else []
    ids = [int(i) for i in (picked or fallback)]
    names = dict(Product.objects.filter(pk__in=ids).values_list("pk", "name"))
    return [{"id": i, "name": names[i]} for i in ids if i in names]


def tag_counts(*, client: Any = None) -> list[dict[str, Any]]:
    """Every tag with its product count (``SCARD`` each, one pipelined round trip), for the page's picker."""
    client = client or get_redis()
    generation = _generation()
    if not client.exists(keys.tag_names(generation)):
        tags_index_build(generation=generation, client=client)
    names = sorted(Tag.objects.values_list("name", flat=True))
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.scard(keys.tag_members(generation, name))
    return [{"name": n, "count": c} for n, c in zip(names, pipe.execute(), strict=True)]


def tag_demo_keys() -> list[str]:
    """The current generation's tag-set keys shown on the page's encodings table."""
    generation = _generation()
    return [keys.tag_members(generation, FEATURED_TAG), keys.tag_all_products(generation)]
