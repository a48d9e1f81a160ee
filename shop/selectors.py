"""Catalog reads: the database behind Redis (cache-aside), as the pages and the API use them.

Every read returns the data *and* how it was served (``CacheState``), which
the views send as ``X-Cache`` and show on the page.

- Product detail: one key per product (``shop.keys.product_key``); a hit is
  one round trip (a page view's counter rides in the same pipeline: see
  ``shop.services.product_view``, the write half).
- Lists (categories, a category's pages): keys embed the catalog generation
  (``shop.keys.catalog_generation_key``); writers ``INCR`` it and old lists are
  simply never read again.  One round trip: the generation comes from the
  process's local tier (kept about a second, dropped by the invalidation
  pub/sub when a writer bumps it), then the list; two when the local copy
  has expired.
- Hot keys: ``tier=ReadTier.LOCAL`` puts the in-process tier in front,
  ``ReadTier.REPLICAS`` spreads reads over ``HOT_REPLICAS`` copies, and
  ``ReadTier.TRACKING`` / ``TRACKING_BCAST`` keep an in-process copy that the
  server itself invalidates (``redis_patterns.tracking``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count
from redis.exceptions import RedisError

from config.redis import get_redis
from ops import metrics
from redis_patterns import hashttl, hotkeys, idempotency, tracking, writebehind
from redis_patterns.cache import CachePolicy, CacheState, Lookup, decode
from shop import caching, keys
from shop.caching import ReadTier
from shop.models import Category, Order, OrderItem, Product, ViewCountFlush
from shop.stock import stock_in_redis

PAGE_SIZE = 24


@dataclass
class Read:
    """A value and how it was served."""

    value: Any
    state: CacheState
    tier: str = "redis"              # "redis", "local", "replica", or "database"
    pending_views: int | None = None  # views counted in Redis, not yet flushed (product pages)
    loaded: bool = False             # this read ran the database query
    extra: list[Any] | None = None   # replies of commands a caller added to the read's pipeline
    recent: list[int] | None = None  # the visitor's recently viewed product ids (product pages)


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


@metrics.counts_cache_reads("product", strategy="redis", strategy_arg="tier")
def product_get(product_id: int, *, tier: ReadTier = ReadTier.REDIS, policy: CachePolicy | None = None,
                also: Callable[[Any], None] | None = None) -> Read:
    """A product (or ``None`` if there is none), through the cache.

    Args:
        product_id: the id (already validated as an int by the caller).
        tier: where to look first (see ``ReadTier``).
        policy: override the cache policy (demos).
        also: queue more commands in the cache read's pipeline (same round
            trip; their replies land in ``Read.extra``): how a page view's
            counter is written without a second round trip (``services.product_view``).
    """
    policy = policy or caching.product_policy()
    loader = lambda: product_load(product_id)  # noqa: E731
    if not caching.enabled():
        return Read(loader(), CacheState.BYPASS, tier="database", loaded=True)
    if tier == ReadTier.LOCAL:
        tier_cache = caching.local_tier()
        value = tier_cache.get(keys.product_key(product_id))
        if value is not tier_cache.MISSING:
            return Read(value, CacheState.HIT, tier="local")
        read = _product_from_redis(product_id, loader, policy)
        if read.state != CacheState.BYPASS:
            tier_cache.put(keys.product_key(product_id), read.value)
        return read
    if tier == ReadTier.REPLICAS:
        return _product_from_replica(product_id, loader, policy)
    if tier in (ReadTier.TRACKING, ReadTier.TRACKING_BCAST):
        return _product_from_tracking(product_id, tier, loader, policy)
    return _product_from_redis(product_id, loader, policy, also=also)


def _product_from_redis(product_id: int, loader: Any, policy: CachePolicy,
                        also: Callable[[Any], None] | None = None) -> Read:
    lookup: Lookup = caching.cache().get(keys.product_key(product_id), keys.product_lease_key(product_id),
                                         loader, policy, also=also)
    return Read(lookup.value, lookup.state, loaded=lookup.loaded, extra=lookup.extra or None,
                tier="database" if lookup.state == CacheState.BYPASS else "redis")


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
    read = _product_from_redis(product_id, loader, policy)
    if read.state != CacheState.BYPASS and read.value is not None:
        payload, px = cache.envelope(read.value, 0.0, policy)
        try:
            hotkeys.write_replicas(cache.client, replica_keys, payload, px)
        except RedisError as exc:
            cache.breaker.failure(exc)
    return read


def _product_from_tracking(product_id: int, tier: ReadTier, loader: Any, policy: CachePolicy) -> Read:
    """The server-invalidated copy; on a miss one tracked ``GET``, and the cache-aside read if Redis has no fresh entry.

    The copy holds the cache envelope as Redis has it, so it is served while
    the envelope is fresh; after that the ordinary path refreshes the entry
    (lease, XFetch), whose ``SET`` invalidates every process's copy.
    """
    tracker = caching.tracking_cache(tier)
    cache = caching.cache()
    if tracker is None or not cache.breaker.allow():
        return _product_from_redis(product_id, loader, policy)
    now = cache.clock()

    def fresh(raw: Any) -> tuple[Any, bool]:
        entry = decode(raw)
        return entry, entry is not None and entry["x"] > now

    try:
        entry, hit = tracker.read(keys.product_key(product_id), accept=fresh)
    except RedisError as exc:
        cache.breaker.failure(exc)
        return _product_from_redis(product_id, loader, policy)
    cache.breaker.success()
    if entry is not None and entry["x"] > cache.clock():
        return Read(entry["v"], CacheState.HIT, tier=tier.value if hit else "redis")
    return _product_from_redis(product_id, loader, policy)


def server_tracking() -> dict[str, int] | None:
    """What client tracking costs the server now (``INFO``: clients, tracked keys, BCAST prefixes)."""
    try:
        return tracking.server_tracking_info(caching.cache().client)
    except RedisError:
        return None


def catalog_generation(*, local: bool = True) -> int | None:
    """The catalog generation, or ``None`` when Redis is unavailable.

    With ``local`` (the list pages), this process keeps the number for the
    local tier's TTL (about a second) in its in-process tier, dropped by the
    invalidation pub/sub as soon as a writer bumps it: a list page is then
    one round trip (the list) instead of two (the generation, then the list).
    The copy is only trusted while the listener is subscribed, and a number
    read from Redis is kept only if no invalidation arrived during the read
    (``LocalTier.put(..., since=)``), so the staleness is the pub/sub delivery
    time, as for the product tier.
    """
    cache = caching.cache()
    if not cache.breaker.allow():
        return None
    gen_key = keys.catalog_generation_key()
    tier = bus = None
    if local:
        tier = caching.local_tier()
        bus = caching.invalidation_bus()
        if bus is not None and bus.subscribed.is_set():
            value = tier.get(gen_key)
            if value is not tier.MISSING:
                return value
    epoch = tier.epoch if tier is not None else 0
    try:
        generation = cache.generation(gen_key)
    except RedisError as exc:
        cache.breaker.failure(exc)
        return None
    cache.breaker.success()
    if tier is not None and bus is not None and bus.subscribed.is_set():
        tier.put(gen_key, generation, since=epoch)
    return generation


@metrics.counts_cache_reads("category_list", strategy="generation")
def category_list(*, also: Callable[[Any], None] | None = None) -> Read:
    """All categories with their product counts, cached under the catalog generation.

    ``also``: as for ``product_get`` (the shop home adds its visitor count
    and today's top products to the list read's round trip).
    """
    generation = catalog_generation() if caching.enabled() else None
    if generation is None:
        return Read(category_list_load(), CacheState.BYPASS, tier="database", loaded=True)
    lookup = caching.cache().get(keys.category_list_key(generation), keys.category_list_lease_key(generation),
                                 category_list_load, caching.list_policy(), also=also)
    return Read(lookup.value, lookup.state, loaded=lookup.loaded, extra=lookup.extra or None)


@metrics.counts_cache_reads("product_page", strategy="generation")
def product_page(category_slug: str, page: int, *, also: Callable[[Any], None] | None = None) -> Read:
    """One page of a category's products (``value`` is ``None`` past the end or for an unknown slug)."""
    loader = lambda: product_page_load(category_slug, page)  # noqa: E731
    generation = catalog_generation() if caching.enabled() else None
    if generation is None:
        return Read(loader(), CacheState.BYPASS, tier="database", loaded=True)
    lookup = caching.cache().get(keys.product_page_key(generation, category_slug, page),
                                 keys.product_page_lease_key(generation, category_slug, page),
                                 loader, caching.list_policy(), also=also)
    return Read(lookup.value, lookup.state, loaded=lookup.loaded, extra=lookup.extra or None)


def pending_views(product_id: int) -> int | None:
    """Views of a product counted in Redis and not yet flushed (``None`` if Redis is down)."""
    try:
        return writebehind.pending(caching.cache().client, keys.view_counter_keys(), product_id)
    except RedisError:
        return None


def switches_expiry() -> FieldExpiry | None:
    """When each stored switch reverts to its setting: per switch (``HTTL``) or all at once (``TTL``)."""
    client, key = caching.cache().client, keys.switches_key()
    try:
        per_field = hashttl.supported(client, key)
        fields = sorted(client.hkeys(key))
        left = hashttl.field_ttls(client, key, fields, per_field=per_field)
    except RedisError:
        return None
    return FieldExpiry("field" if per_field else "key", left)


def write_strategy() -> caching.WriteStrategy:
    """The write strategy in force (the demo page's switch, else ``SHOP_WRITE_STRATEGY``)."""
    return caching.switches().write_strategy


# --- the caching demo page --------------------------------------------------------------------


def cache_entry_state(product_id: int) -> dict[str, Any] | None:
    """What Redis holds for the product now: freshness left, load time, XFetch odds (``None``: Redis down)."""
    cache = caching.cache()
    try:
        pipe = cache.client.pipeline(transaction=False)
        pipe.get(keys.product_key(product_id))
        pipe.pttl(keys.product_key(product_id))
        raw, pttl = pipe.execute()
    except RedisError:
        return None
    entry = decode(raw)
    if entry is None:
        return {"present": False}
    remaining = entry["x"] - cache.clock()
    delta = float(entry.get("d", 0.0))
    beta = caching.product_policy().xfetch_beta
    # P(early refresh) = P(-delta*beta*ln(r) >= remaining) = exp(-remaining / (delta*beta))
    odds = [{"remaining": s, "p": math.exp(-s / (delta * beta)) if delta > 0 and beta > 0 else 0.0}
            for s in (0.0, delta * 0.5, delta, delta * 3, delta * 10)]
    return {"present": True, "negative": bool(entry.get("n")), "fresh_for": remaining, "key_ttl": pttl / 1000,
            "delta_ms": delta * 1000, "p_now": math.exp(-max(remaining, 0) / (delta * beta)) if delta > 0 else 0.0,
            "odds": odds}


def view_counter_state(product_id: int) -> dict[str, int]:
    """The write-behind buffer: views pending in total and for this product, batches in flight."""
    client = caching.cache().client
    counters = keys.view_counter_keys()
    try:
        pending = client.hgetall(counters.pending)
        return {"pending_views": sum(int(v) for v in pending.values()), "pending_products": len(pending),
                "in_flight": client.zcard(counters.batches),
                "pending_this": writebehind.pending(client, counters, product_id)}
    except RedisError:
        return {}


def demo_product_id(raw: str | None) -> int | None:
    """The product a demo page should use: ``raw`` if it names one, else the first product."""
    if raw:
        if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
            return None
        pid = int(raw)
        return pid if Product.objects.filter(pk=pid).exists() else None
    return Product.objects.order_by("id").values_list("id", flat=True).first()


def recent_flushes(limit: int = 5) -> list[ViewCountFlush]:
    return list(ViewCountFlush.objects.all()[:limit])


# --- cart, checkout, orders ----------------------------------------------------------------------


def cart_items(*, owner: str | None) -> list[dict[str, int]]:
    """The visitor's cart (``HGETALL`` of a hash bounded by the cart's line limit), sorted by product id."""
    if not owner:
        return []
    raw = get_redis().hgetall(keys.cart(owner))
    return [{"product_id": int(pid), "quantity": int(qty)} for pid, qty in sorted(raw.items(), key=lambda kv: int(kv[0]))]


#: "Only N left" from this many units down.
LOW_STOCK = 10


@dataclass(frozen=True)
class Shelf:
    """What the product page shows beside a product: units available and how many are in the cart."""

    available: int
    in_cart: int
    source: str  # "reservation hash" (live) or "catalog" (the cached row: the hash has no field for it)

    @property
    def sold_out(self) -> bool:
        return self.available <= 0

    @property
    def low(self) -> bool:
        return 0 < self.available <= LOW_STOCK


def shelf_queue(pipe: Any, *, product_id: int, owner: str | None) -> None:
    """Queue the product page's reads in the cache read's pipeline: ``HGET`` stock (and the cart line)."""
    pipe.hget(keys.stock(), str(product_id))
    if owner:
        pipe.hget(keys.cart(owner), str(product_id))


def shelf_from(replies: list[Any] | None, *, product: dict[str, Any], owner: str | None) -> Shelf:
    """The ``Shelf`` from ``shelf_queue``'s replies (``None``: they were not sent, e.g. Redis down).

    The reservation hash is the live count (units not yet reserved by a
    checkout); a product nobody bought in the last hour has no field there,
    and the cached row's ``stock`` is then current (the entry outlives no
    checkout by more than its TTL).
    """
    stock_reply = replies[0] if replies else None
    cart_reply = replies[1] if replies and owner and len(replies) > 1 else None
    if stock_reply is not None:
        return Shelf(max(0, int(stock_reply)), int(cart_reply or 0), "reservation hash")
    return Shelf(int(product.get("stock", 0)), int(cart_reply or 0), "catalog")


@dataclass(frozen=True)
class CartRow:
    product: Product
    quantity: int
    available: int

    @property
    def line_total(self) -> Decimal:
        return self.product.price * self.quantity

    @property
    def short(self) -> bool:
        """More in the cart than the shop has: checkout would refuse it (409)."""
        return self.quantity > self.available


@dataclass(frozen=True)
class CartView:
    rows: list[CartRow]
    gone: list[int]  # product ids in the cart that no longer exist

    @property
    def total(self) -> Decimal:
        return sum((r.line_total for r in self.rows), Decimal(0))

    @property
    def units(self) -> int:
        return sum(r.quantity for r in self.rows)

    def items(self) -> list[dict[str, int]]:
        """The lines as ``POST /api/orders`` takes them."""
        return [{"product_id": r.product.pk, "quantity": r.quantity} for r in self.rows]


def cart_view(*, owner: str | None) -> CartView:
    """The cart page: each line with its product (one query) and units available (``HMGET`` of the stock hash).

    Two round trips: ``HGETALL`` of the cart, then ``HMGET`` of the stock
    fields it names.  Raises ``RedisError`` when Redis is down (the cart lives there).
    """
    lines = cart_items(owner=owner)
    if not lines:
        return CartView([], [])
    products = Product.objects.in_bulk([line["product_id"] for line in lines])
    present = [line for line in lines if line["product_id"] in products]
    in_redis = stock_in_redis([line["product_id"] for line in present])
    rows = []
    for line in present:
        product = products[line["product_id"]]
        available = in_redis.get(product.pk)
        rows.append(CartRow(product, line["quantity"], product.stock if available is None else max(0, available)))
    return CartView(rows, [line["product_id"] for line in lines if line["product_id"] not in products])


def cart_fingerprint(view: CartView) -> str:
    """The cart's state as the checkout sees it: what one ``Idempotency-Key`` stands for."""
    return idempotency.fingerprint([[r.product.pk, r.quantity] for r in view.rows])


def order_lines(order: Order) -> list[OrderItem]:
    """An order's lines with their products (one query)."""
    return list(order.items.select_related("product__category").order_by("id"))


@dataclass
class FieldExpiry:
    """When the fields of a hash expire, and by which path this server offers (``redis_patterns.hashttl``)."""

    path: str                       # "field": each field its own TTL (HEXPIRE); "key": the hash's TTL for all
    fields: dict[Any, int | None]   # field -> seconds left (None: no expiry)
    key_ttl: int | None = None      # the key's own TTL (the outer bound on both paths)


def cart_expiry(*, owner: str | None) -> FieldExpiry:
    """Seconds left per cart line (``HTTL``) where lines expire on their own, else the cart's ``TTL`` for all.

    Two round trips: ``HKEYS`` + ``TTL``, then ``HTTL`` for those fields (the
    hash-field TTL probe adds one, once per process).
    """
    client = get_redis()
    cart_key = keys.cart(owner or "nobody")
    per_field = hashttl.supported(client, cart_key)
    if not owner:
        return FieldExpiry("field" if per_field else "key", {})
    pipe = client.pipeline(transaction=False)
    pipe.hkeys(cart_key)
    pipe.ttl(cart_key)
    fields, key_ttl = pipe.execute()
    fields = sorted(fields, key=int)
    lines = hashttl.field_ttls(client, cart_key, fields, per_field=per_field)
    return FieldExpiry("field" if per_field else "key", {int(f): t for f, t in lines.items()},
                       key_ttl if key_ttl >= 0 else None)


def checkout_products(limit: int = 12) -> list[Product]:
    return list(Product.objects.order_by("id")[:limit])


def checkout_rows(*, owner: str | None, products: list[Product]) -> list[tuple[Product, int | None, int]]:
    """Each product with its units available in the stock hash (``None``: not loaded) and its cart quantity."""
    in_redis = stock_in_redis([p.pk for p in products])
    cart = {i["product_id"]: i["quantity"] for i in cart_items(owner=owner)}
    return [(p, in_redis.get(p.pk), cart.get(p.pk, 0)) for p in products]


def order_for_owner(*, order_id: int, owner: str | None) -> Order | None:
    """The order if ``owner`` placed it; ``None`` for anyone else (the API answers 404 alike)."""
    if not owner or not 0 < order_id < 2**63:
        return None
    return Order.objects.filter(pk=order_id, owner=owner).prefetch_related("items").first()


def order_as_json(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.pk,
        "status": order.status,
        "total": str(order.total),
        "failure_reason": order.failure_reason,
        "items": [{"product_id": i.product_id, "quantity": i.quantity, "unit_price": str(i.unit_price)}
                  for i in order.items.all()],
        "created_at": order.created_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
    }


def recent_orders(*, owner: str | None, limit: int = 10) -> list[Order]:
    """The visitor's newest orders, with their lines (two queries)."""
    if not owner:
        return []
    return list(Order.objects.filter(owner=owner).order_by("-id").prefetch_related("items__product")[:limit])
