"""Catalog reads: the database behind Redis (cache-aside), as the pages and the API use them.

Every read returns the data *and* how it was served (``CacheState``), which
the views send as ``X-Cache`` and show on the page.

- Product detail: one key per product (``shop.keys.product_key``); a hit is
  one round trip, the page's view counter riding in the same pipeline.
- Lists (categories, a category's pages): keys embed the catalog generation
  (``shop.keys.catalog_generation_key``); writers ``INCR`` it and old lists are
  simply never read again.  Two round trips: the generation, then the list.
- Hot keys: ``tier=ReadTier.LOCAL`` puts the in-process tier in front,
  ``ReadTier.REPLICAS`` spreads reads over ``HOT_REPLICAS`` copies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F
from redis.exceptions import RedisError

from redis_patterns import hotkeys, writebehind
from redis_patterns.cache import CachePolicy, CacheState, Lookup, decode
from shop import caching, keys
from shop.caching import ReadTier
from shop.models import Category, Product

PAGE_SIZE = 24


@dataclass
class Read:
    """A value and how it was served."""

    value: Any
    state: CacheState
    tier: str = "redis"              # "redis", "local", "replica", or "database"
    pending_views: int | None = None  # views counted in Redis, not yet flushed (product pages)
    loaded: bool = False             # this read ran the database query


# --- the database side (the loaders) ---------------------------------------------------------


def product_payload(product: Product) -> dict[str, Any]:
    """The product as cached and as the API returns it (JSON-safe)."""
    return {
        "id": product.pk,
        "name": product.name,
        "slug": product.slug,
        "description": product.description,
        "price": str(product.price),
        "stock": product.stock,
        "category": {"id": product.category_id, "name": product.category.name, "slug": product.category.slug},
        "tags": sorted(t.name for t in product.tags.all()),
        "image_hue": product.image_hue,
        "view_count": product.view_count,
        "updated_at": product.updated_at.isoformat(),
    }


def product_load(product_id: int) -> dict[str, Any] | None:
    """The product from the database, or ``None`` (2 queries: row + tags)."""
    product = (Product.objects.select_related("category").prefetch_related("tags")
               .filter(pk=product_id).first())
    return None if product is None else product_payload(product)


def category_list_load() -> list[dict[str, Any]]:
    rows = Category.objects.annotate(product_count=Count("products")).order_by("name")
    return [{"id": c.pk, "name": c.name, "slug": c.slug, "product_count": c.product_count} for c in rows]


def product_page_load(category_slug: str, page: int) -> dict[str, Any] | None:
    """One page of a category, or ``None`` for an unknown category or a page past the end."""
    category = Category.objects.filter(slug=category_slug).first()
    if category is None:
        return None
    count = Product.objects.filter(category=category).count()
    num_pages = max(1, math.ceil(count / PAGE_SIZE))
    if page < 1 or page > num_pages:
        return None
    rows = (Product.objects.filter(category=category).order_by("id")
            .values("id", "name", "slug", "price", "stock", "image_hue")[(page - 1) * PAGE_SIZE: page * PAGE_SIZE])
    return {
        "category": {"id": category.pk, "name": category.name, "slug": category.slug},
        "products": [{**row, "price": str(row["price"])} for row in rows],
        "page": page,
        "num_pages": num_pages,
        "count": count,
    }


# --- cached reads ------------------------------------------------------------------------------


def _count_view_in_db(product_id: int) -> None:
    # Redis is down: the view still counts, written straight to the database.
    Product.objects.filter(pk=product_id).update(view_count=F("view_count") + 1)


def product_get(product_id: int, *, count_view: bool = False, tier: ReadTier = ReadTier.REDIS,
                policy: CachePolicy | None = None) -> Read:
    """A product (or ``None`` if there is none), through the cache.

    Args:
        product_id: the id (already validated as an int by the caller).
        count_view: also count a page view (write-behind ``HINCRBY``, in the
            same round trip as the cache read).
        tier: where to look first (see ``ReadTier``).
        policy: override the cache policy (demos).
    """
    policy = policy or caching.product_policy()
    loader = lambda: product_load(product_id)  # noqa: E731
    if count_view and caching.switches().view_counting == caching.ViewCounting.DIRECT:
        # The comparison path: a database UPDATE per view instead of write-behind.
        read = product_get(product_id, tier=tier, policy=policy)
        if read.value is not None:
            _count_view_in_db(product_id)
        return read
    if not caching.enabled():
        read = Read(loader(), CacheState.BYPASS, tier="database", loaded=True)
        if count_view and read.value is not None:
            _count_view_in_db(product_id)
        return read
    if tier == ReadTier.LOCAL:
        tier_cache = caching.local_tier()
        value = tier_cache.get(keys.product_key(product_id))
        if value is not tier_cache.MISSING:
            return Read(value, CacheState.HIT, tier="local")
        read = _product_from_redis(product_id, loader, policy, count_view=False)
        if read.state != CacheState.BYPASS:
            tier_cache.put(keys.product_key(product_id), read.value)
        return read
    if tier == ReadTier.REPLICAS:
        return _product_from_replica(product_id, loader, policy)
    return _product_from_redis(product_id, loader, policy, count_view=count_view)


def _product_from_redis(product_id: int, loader: Any, policy: CachePolicy, *, count_view: bool) -> Read:
    counters = keys.view_counter_keys()
    also = (lambda pipe: writebehind.record(pipe, counters, product_id)) if count_view else None
    lookup: Lookup = caching.cache().get(keys.product_key(product_id), keys.product_lease_key(product_id),
                                         loader, policy, also=also)
    read = Read(lookup.value, lookup.state, loaded=lookup.loaded,
                tier="database" if lookup.state == CacheState.BYPASS else "redis")
    if count_view and lookup.value is not None:
        if lookup.state == CacheState.BYPASS:
            _count_view_in_db(product_id)
        elif lookup.extra:
            read.pending_views = int(lookup.extra[0])
    return read


def _product_from_replica(product_id: int, loader: Any, policy: CachePolicy) -> Read:
    """Read one replica at random; on a miss, read through the main key and refill the replicas."""
    cache = caching.cache()
    replica_keys = hotkeys.replica_keys(lambda i: keys.product_replica_key(product_id, i), caching.HOT_REPLICAS)
    chosen = hotkeys.pick_replica(replica_keys)
    if cache.breaker.allow():
        try:
            entry = decode(cache.client.get(chosen))
            if entry is not None and entry["x"] > cache.clock():
                cache.breaker.success()
                return Read(entry["v"], CacheState.HIT, tier="replica")
        except RedisError as exc:
            cache.breaker.failure(exc)
    read = _product_from_redis(product_id, loader, policy, count_view=False)
    if read.state != CacheState.BYPASS and read.value is not None:
        payload, px = cache.envelope(read.value, 0.0, policy)
        try:
            hotkeys.write_replicas(cache.client, replica_keys, payload, px)
        except RedisError as exc:
            cache.breaker.failure(exc)
    return read


def catalog_generation() -> int | None:
    """The catalog generation, or ``None`` when Redis is unavailable."""
    cache = caching.cache()
    if not cache.breaker.allow():
        return None
    try:
        generation = cache.generation(keys.catalog_generation_key())
    except RedisError as exc:
        cache.breaker.failure(exc)
        return None
    cache.breaker.success()
    return generation


def category_list() -> Read:
    """All categories with their product counts, cached under the catalog generation."""
    generation = catalog_generation() if caching.enabled() else None
    if generation is None:
        return Read(category_list_load(), CacheState.BYPASS, tier="database", loaded=True)
    lookup = caching.cache().get(keys.category_list_key(generation), keys.category_list_lease_key(generation),
                                 category_list_load, caching.list_policy())
    return Read(lookup.value, lookup.state, loaded=lookup.loaded)


def product_page(category_slug: str, page: int) -> Read:
    """One page of a category's products (``value`` is ``None`` past the end or for an unknown slug)."""
    loader = lambda: product_page_load(category_slug, page)  # noqa: E731
    generation = catalog_generation() if caching.enabled() else None
    if generation is None:
        return Read(loader(), CacheState.BYPASS, tier="database", loaded=True)
    lookup = caching.cache().get(keys.product_page_key(generation, category_slug, page),
                                 keys.product_page_lease_key(generation, category_slug, page),
                                 loader, caching.list_policy())
    return Read(lookup.value, lookup.state, loaded=lookup.loaded)


def pending_views(product_id: int) -> int | None:
    """Views of a product counted in Redis and not yet flushed (``None`` if Redis is down)."""
    try:
        return writebehind.pending(caching.cache().client, keys.view_counter_keys(), product_id)
    except RedisError:
        return None


def write_strategy() -> caching.WriteStrategy:
    """The write strategy in force (the demo page's switch, else ``SHOP_WRITE_STRATEGY``)."""
    return caching.switches().write_strategy
