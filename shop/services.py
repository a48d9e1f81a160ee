"""Catalog writes and what they do to the cache.

Two write strategies, each its own code path, chosen per call or by the
switch on the caching demo page (``switches_set``):

``invalidate`` (explicit delete after commit, the default)
    ``transaction.on_commit`` -> one pipelined round trip: ``DEL`` the product
    entry and its lease, ``DEL`` its replicas, ``INCR`` the catalog generation
    (every cached list is superseded), ``PUBLISH`` the key to the in-process
    tiers.  The next read loads the new row.  Running *after* the commit
    matters: deleting before it lets a reader cache the old row again.

``write_through`` (staff edits)
    ``transaction.on_commit`` -> re-read the committed row, then the same
    round trip but ``SET`` the product entry (and ``DEL`` its lease, which
    cancels a reader's racing fill) instead of deleting it: the next read is
    a hit on the new value.  Costs a database read per write; worth it for
    rows read far more often than written.

Write-behind (view counters) is ``views_flush``: see
``redis_patterns.writebehind`` for the exactly-once argument.

Refresh-ahead (XFetch) needs no writer: readers do it (``redis_patterns.cache``).

Failure policy: if Redis is down when a write commits, the invalidation is
skipped and logged once per outage (the breaker), but not forgotten: every
product write also records a ``ProductCacheRepair`` row in its transaction,
deleted once Redis took the invalidation.  ``cache_repair`` (Celery beat,
every few seconds) applies what is left once Redis is back: the cached
product and checkout's stock field are dropped, and the next read and the
next reservation load the new row.  Nothing stale outlives the outage by
more than one beat period.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Max
from redis.exceptions import RedisError

from config.api import ApiError
from redis_patterns import hashttl, hotkeys, writebehind
from redis_patterns.cache import CacheState
from redis_patterns.tracing import tracing
from shop import autocomplete, browsing, caching, keys, selectors, stack, visitors
from shop.caching import ReadTier, WriteStrategy
from shop.models import Product, ProductCacheRepair, ViewCountFlush
from shop.selectors import Read
from shop.stock import stock_forget

log = logging.getLogger("shop.services")

#: Fields a PATCH may change, with their validators.
EDITABLE_FIELDS = ("name", "description", "price", "stock")
MAX_PRICE = Decimal("99999999.99")


class ProductValidationError(ApiError):
    """Bad input for a product update (400); ``code`` is the API's error code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail, code=code)


def product_clean(changes: Any) -> dict[str, Any]:
    """Validate a PATCH body; returns the cleaned fields or raises ``ProductValidationError``."""
    if not isinstance(changes, dict):
        raise ProductValidationError("invalid_body", "the body must be a JSON object")
    if not changes:
        raise ProductValidationError("invalid_body", f"nothing to change; editable fields: {', '.join(EDITABLE_FIELDS)}")
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise ProductValidationError("unknown_field", f"not editable: {', '.join(unknown)}; "
                                     f"editable fields: {', '.join(EDITABLE_FIELDS)}")
    cleaned: dict[str, Any] = {}
    if "name" in changes:
        name = changes["name"]
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise ProductValidationError("invalid_field", "name: a non-empty string of at most 200 characters")
        cleaned["name"] = name.strip()
    if "description" in changes:
        if not isinstance(changes["description"], str) or len(changes["description"]) > 10_000:
            raise ProductValidationError("invalid_field", "description: a string of at most 10000 characters")
        cleaned["description"] = changes["description"]
    if "price" in changes:
        raw = changes["price"]
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise ProductValidationError("invalid_field", 'price: a decimal string such as "19.99"')
        try:
            price = Decimal(str(raw))
        except InvalidOperation:
            raise ProductValidationError("invalid_field", 'price: a decimal string such as "19.99"') from None
        if not price.is_finite() or price < 0 or price > MAX_PRICE or price.as_tuple().exponent < -2:
            raise ProductValidationError("invalid_field", f"price: 0 to {MAX_PRICE}, at most 2 decimals")
        cleaned["price"] = price
    if "stock" in changes:
        stock = changes["stock"]
        if isinstance(stock, bool) or not isinstance(stock, int) or not 0 <= stock <= 2_147_483_647:
            raise ProductValidationError("invalid_field", "stock: an integer >= 0")
        cleaned["stock"] = stock
    return cleaned


def product_update(*, product_id: int, changes: dict[str, Any], strategy: WriteStrategy | None = None) -> Product:
    """Change a product; the cache follows after the commit by ``strategy``.

    Raises:
        Product.DoesNotExist: no such product.
        ProductValidationError: bad ``changes`` (nothing is written).
    """
    cleaned = product_clean(changes)
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=product_id)
        for name, value in cleaned.items():
            setattr(product, name, value)
        product.save(update_fields=[*cleaned, "updated_at"])
        product_changed(product_id=product.pk, strategy=strategy)
    return product


def product_changed(*, product_id: int, strategy: WriteStrategy | None = None) -> None:
    """Apply the write strategy for ``product_id`` once the current transaction commits.

    Call it from any code that wrote the product (the admin does, on save and
    delete), inside the transaction that wrote it; outside one it runs at once.
    It also drops the product from checkout's Redis stock hash, so a restock or
    a correction made here is what the next checkout reserves against (it
    reloads the row).  A ``ProductCacheRepair`` row written here, with the
    change, makes sure both happen even if Redis is down right now.
    """
    repair = ProductCacheRepair.objects.create(product_id=product_id)
    transaction.on_commit(lambda: product_repair(product_id=product_id, strategy=strategy, upto=repair.pk))
    # The name index of the search box and the search documents follow the row too.
    autocomplete.product_changed(product_id=product_id)
    stack.product_changed(product_id=product_id)


def product_repair(*, product_id: int, strategy: WriteStrategy | None = None, upto: int | None = None) -> bool:
    """Make Redis agree with the committed row: the cache (by ``strategy``) and the stock hash.

    ``True`` once Redis took both; then the product's ``ProductCacheRepair``
    rows up to ``upto`` are deleted (later ones belong to newer writes).
    ``False``: Redis is down; the rows stay for ``cache_repair``.
    """
    synced = product_cache_sync(product_id=product_id, strategy=strategy) is not None or not caching.enabled()
    try:
        stock_forget([product_id])
    except RedisError as exc:  # the database guard still protects the stock; the repair row remains
        log.warning("could not drop product %s from the stock hash: %s", product_id, exc)
        return False
    if not synced:
        return False
    rows = ProductCacheRepair.objects.filter(product_id=product_id)
    (rows.filter(pk__lte=upto) if upto is not None else rows).delete()
    return True


def cache_repair(*, limit: int = 500) -> int:
    """Apply the product invalidations Redis missed (it was down when the writes committed); returns how many.

    Run by Celery beat every few seconds (``shop.tasks.repair_product_cache``).
    One indexed query when there is nothing to do.  Each product is repaired
    with ``invalidate`` (drop and let the next read load), then its rows up to
    the newest seen are deleted; Redis still down: nothing changes, next time.
    """
    pending = (ProductCacheRepair.objects.values("product_id").annotate(upto=Max("pk")).order_by("upto")[:limit])
    repaired = 0
    for row in pending:
        if not product_repair(product_id=row["product_id"], strategy=WriteStrategy.INVALIDATE, upto=row["upto"]):
            break  # Redis is down again: the rest waits for the next run
        repaired += 1
    if repaired:
        log.info("cache repair: %d product(s) dropped from Redis after an outage", repaired)
    return repaired


def product_view(product_id: int, *, tier: ReadTier = ReadTier.REDIS, visitor: str | None = None,
                 also: Callable[[Any], None] | None = None) -> Read:
    """A product page view: the product through the cache, and the view counted (a write).

    Write-behind (the default): the ``HINCRBY`` rides in the same round trip
    as the cache read (``selectors.product_get``'s ``also``), and a Celery
    beat task flushes the counts (``views_flush``).  ``direct``: an ``UPDATE``
    per view, the "before" half of the comparison.  Redis down: straight to
    the database, so the view still counts.

    With a ``visitor`` (the browser's id, ``shop.visitors.visitor_id``), the
    same round trip also carries the unique-visitor ``PFADD``s
    (``shop.visitors``), today's top products ``ZINCRBY`` and the recently
    viewed ``LPUSH``/``LTRIM`` (``shop.browsing``); ``Read.recent`` then
    holds the visitor's recently viewed ids, newest first.

    ``also`` queues the caller's own commands in that same round trip (the
    product page's stock and cart lines); their replies are ``Read.extra``
    (``None`` when they could not be sent: Redis down, or another tier).
    """
    counting = caching.switches().view_counting
    write_behind = counting == caching.ViewCounting.WRITE_BEHIND

    def track(pipe: Any) -> Callable[[list[Any]], list[int]] | None:
        if visitor is None:
            return None
        visitors.queue_view(pipe, visitor=visitor, product_id=product_id)
        return browsing.queue_view(pipe, visitor=visitor, product_id=product_id)

    if write_behind and caching.enabled() and tier == ReadTier.REDIS:
        counters = keys.view_counter_keys()
        queued: dict[str, Any] = {"also": 0, "reader": None}

        def queue(pipe: Any) -> None:
            # Order matters: the counter's reply first, the caller's next, the visit last
            # (its reader takes the final reply, the recently viewed list).
            writebehind.record(pipe, counters, product_id)
            if also is not None:
                before = len(pipe)
                also(pipe)
                queued["also"] = len(pipe) - before
            queued["reader"] = track(pipe)

        read = selectors.product_get(product_id, also=queue)
        if read.state != CacheState.BYPASS and read.extra:
            replies, n = read.extra, queued["also"]
            read.extra = replies[1:1 + n] if also is not None else None
            if queued["reader"] is not None:
                read.recent = queued["reader"](replies[1 + n:])
            if read.value is None:
                _forget_views_of_missing(product_id, visitor)
                return read
            read.pending_views = int(replies[0])
            return read
        read.extra = None
    else:
        read = selectors.product_get(product_id, tier=tier, also=also if tier == ReadTier.REDIS else None)
        if also is None or read.state == CacheState.BYPASS:
            read.extra = None
        if visitor is not None and read.value is not None and read.state != CacheState.BYPASS:
            read.recent = _track_alone(track)
    if read.value is not None:
        Product.objects.filter(pk=product_id).update(view_count=F("view_count") + 1)
    return read


def _track_alone(track: Callable[[Any], Callable[[list[Any]], list[int]] | None]) -> list[int] | None:
    """The visit commands in a round trip of their own (when the cache read did not carry them)."""
    try:
        pipe = caching.cache().client.pipeline(transaction=False)
        reader = track(pipe)
        replies = pipe.execute()
    except RedisError as exc:
        log.info("visit not recorded (Redis unavailable: %s)", exc)
        return None
    return reader(replies) if reader else None


def _forget_views_of_missing(product_id: int, visitor: str | None) -> None:
    """Undo the per-product records of a view of a product that does not exist (a 404 changes nothing)."""
    if visitor is None:
        return
    day = visitors.today().isoformat()
    try:
        pipe = caching.cache().client.pipeline(transaction=False)
        pipe.zrem(keys.top_products_day(day), str(product_id))
        pipe.zrem(keys.autocomplete_popularity(), str(product_id))
        pipe.lrem(keys.recently_viewed(visitor), 0, str(product_id))
        pipe.delete(keys.visitors_product_day(product_id, day), keys.visitors_product_day_exact(product_id, day))
        pipe.execute()
    except RedisError as exc:
        log.info("could not undo the views of missing product %s: %s", product_id, exc)


def product_cache_sync(*, product_id: int, strategy: WriteStrategy | None = None) -> WriteStrategy | None:
    """Make the cache agree with the committed row (the ``on_commit`` half). Returns the strategy used."""
    if not caching.enabled():
        return None
    strategy = WriteStrategy(strategy or selectors.write_strategy())
    cache = caching.cache()
    if not cache.breaker.allow():
        return None  # Redis is known to be down (already logged): the TTL bounds the staleness
    fresh = selectors.product_load(product_id) if strategy == WriteStrategy.WRITE_THROUGH else None
    value_key, lease_key = keys.product_key(product_id), keys.product_lease_key(product_id)
    replica_keys = hotkeys.replica_keys(lambda i: keys.product_replica_key(product_id, i), caching.HOT_REPLICAS)
    try:
        # One round trip (per node on a Cluster). Not MULTI: the keys live in
        # different slots; each command is idempotent, so a partial failure is
        # repaired by the next write or bounded by the TTL.
        pipe = cache.client.pipeline(transaction=False)
        if fresh is not None:
            cache.put(value_key, lease_key, fresh, caching.product_policy(), pipe=pipe)
        else:
            cache.invalidate(value_key, lease_key, pipe=pipe)
        for replica_key in replica_keys:  # one DEL each: replicas live in different slots
            pipe.delete(replica_key)
        cache.bump_generation(keys.catalog_generation_key(), pipe=pipe)
        # every process drops the product and the generation from its local tier
        hotkeys.publish_invalidation(pipe, keys.invalidation_channel(), [value_key, keys.catalog_generation_key()])
        pipe.execute()
    except RedisError as exc:
        cache.breaker.failure(exc)
        return None
    finally:
        caching.forget_local(value_key, keys.catalog_generation_key())  # this process: at once
    return strategy


def catalog_changed() -> None:
    """Supersede every cached list after the commit (category edits, bulk loads)."""

    def bump() -> None:
        cache = caching.cache()
        gen_key = keys.catalog_generation_key()
        try:
            cache.bump_generation(gen_key)
            hotkeys.publish_invalidation(cache.client, keys.invalidation_channel(), [gen_key])
        except RedisError as exc:
            cache.breaker.failure(exc)
        finally:
            caching.forget_local(gen_key)

    transaction.on_commit(bump)


def switches_set(*, write_strategy: WriteStrategy | None = None, xfetch: bool | None = None,
                 view_counting: caching.ViewCounting | None = None) -> list[str]:
    """The demo page's switches (staff only); returns the switches that changed.

    A flipped switch reverts to its Django setting ``SWITCH_REVERT_SECONDS``
    after it was flipped, so an experiment on the shared demo never stays on
    by accident.  Where the server has hash-field TTL each switch keeps its
    own time (``HEXPIRE`` on the fields written: flipping one later does not
    prolong another); elsewhere the whole hash expires that long after the
    last change.  Only switches whose value changes are written.  Other
    processes follow within ``SWITCHES_TTL``.
    """
    caching.forget_switches()
    current = caching.switches()
    fields: dict[str, str] = {}
    if write_strategy is not None and WriteStrategy(write_strategy) != current.write_strategy:
        fields["write_strategy"] = WriteStrategy(write_strategy).value
    if xfetch is not None and xfetch != current.xfetch:
        fields["xfetch"] = "on" if xfetch else "off"
    if view_counting is not None and caching.ViewCounting(view_counting) != current.view_counting:
        fields["view_counting"] = caching.ViewCounting(view_counting).value
    if fields:
        client, key = caching.cache().client, keys.switches_key()
        per_field = hashttl.supported(client, key)
        pipe = client.pipeline(transaction=True)
        pipe.hset(key, mapping=fields)
        if per_field:
            hashttl.expire_fields(pipe, key, caching.SWITCH_REVERT_SECONDS, list(fields))
        pipe.expire(key, caching.SWITCH_REVERT_SECONDS)  # the outer bound, on every server
        pipe.execute()
    caching.forget_switches()
    return list(fields)


# --- write-behind: view counters ------------------------------------------------------------


@dataclass
class FlushReport:
    """What one flush did."""

    batches: list[str] = field(default_factory=list)   # batch keys applied by this flush
    skipped: list[str] = field(default_factory=list)   # already applied by someone else (cleaned up)
    products: int = 0
    views: int = 0
    commands: int = 0
    round_trips: int = 0


def views_flush(*, lease_seconds: float = 60.0, now_ms: int | None = None) -> FlushReport:
    """Move the counted views into ``Product.view_count``: claim, apply once, release.

    Safe to run concurrently and after a crash: see ``redis_patterns.writebehind``.
    Batches another flusher claimed more than ``lease_seconds`` ago and never
    released are picked up too.
    """
    client = caching.cache().client
    loader = caching.scripts()
    counters = keys.view_counter_keys()
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    report = FlushReport()
    with tracing("views_flush") as trace:
        todo = writebehind.orphans(client, counters, lease_ms=int(lease_seconds * 1000), now_ms=now_ms)
        mine = writebehind.claim(client, loader, counters, now_ms=now_ms)
        if mine is not None:
            todo.append(mine)
        for batch_key in todo:
            counts = writebehind.read(client, batch_key)
            if views_apply_batch(batch_key=batch_key, counts=counts):
                report.batches.append(batch_key)
                report.products += len(counts)
                report.views += sum(counts.values())
            else:
                report.skipped.append(batch_key)
            writebehind.release(client, counters, batch_key)
    report.commands, report.round_trips = trace.command_count, trace.round_trip_count
    return report


def views_apply_batch(*, batch_key: str, counts: dict[str, int]) -> bool:
    """Add a batch's counts to the products, once: ``False`` if it was applied before.

    The marker row and the increments commit together, so "applied" in the
    database means exactly "counted".
    """
    try:
        with transaction.atomic():
            ViewCountFlush.objects.create(batch=batch_key, products=len(counts),
                                          views=sum(counts.values()))
            for product_id, count in sorted(counts.items()):  # sorted: a fixed lock order
                if product_id.isdigit() and count > 0:
                    Product.objects.filter(pk=int(product_id)).update(view_count=F("view_count") + count)
    except IntegrityError:
        return False
    return True


@dataclass
class WarmReport:
    """What ``cache_warm`` did: products already cached, loaded now, missing from the database."""

    cached: int = 0
    loaded: int = 0
    missing: int = 0


def cache_warm(*, limit: int = 100) -> WarmReport:
    """Put the ``limit`` most viewed products (and the category list) in the cache.

    Run after a deploy or a Redis restart so the first visitors do not all
    miss at once (a cold cache is a stampede waiting to happen).  One
    pipelined ``EXISTS`` round trip finds what is cold; only those products go
    through the ordinary cache-aside read, with its lease, so a warm-up racing
    real traffic still loads each product once.  Safe to run any number of
    times (Celery ``acks_late`` may deliver it twice).
    """
    report = WarmReport()
    if not caching.enabled():
        return report
    # Today's most viewed first (an exact, current sorted set: shop.browsing), then the all-time
    # view counts for the rest of the list (after a Redis restart the sorted set starts empty).
    try:
        ids = browsing.top_ids(limit=limit)
    except RedisError:
        ids = []
    if len(ids) < limit:
        ids += list(Product.objects.exclude(pk__in=ids).order_by("-view_count", "pk")
                    .values_list("pk", flat=True)[:limit - len(ids)])
    if not ids:
        return report
    cache = caching.cache()
    try:
        pipe = cache.client.pipeline(transaction=False)
        for product_id in ids:
            pipe.exists(keys.product_key(product_id))
        present = pipe.execute()
    except RedisError as exc:
        cache.breaker.failure(exc)
        return report
    for product_id, cached in zip(ids, present, strict=True):
        if cached:
            report.cached += 1
            continue
        read = selectors.product_get(product_id)
        if read.value is None:
            report.missing += 1
        elif read.loaded:
            report.loaded += 1
        else:
            report.cached += 1  # someone else filled it meanwhile
    selectors.category_list()
    return report
