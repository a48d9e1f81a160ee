"""The shop's uses of the Redis Stack modules, each with a core fallback of the same interface (course 2.10, 12).

=====================  ==============================  =========================================
feature                module path                     core fallback
=====================  ==============================  =========================================
coupon code taken?     RedisBloom ``BF.ADD/EXISTS``    bitmap + ``lua/bloom_*.lua`` (``redis_patterns.bloom``)
orders per minute      RedisTimeSeries ``TS.ADD``,     a hash per day (minutes) and per day
                       a compaction rule to hours      (hours), ``HINCRBY`` (``redis_patterns.timeseries``)
product search         RediSearch ``FT.SEARCH``        sets per word, ``SINTER`` (``redis_patterns.search``)
product document       RedisJSON ``JSON.SET/GET``      a hash of JSON paths (``redis_patterns.documents``)
=====================  ==============================  =========================================

Which path runs is decided once per process per client by ``MODULE LIST``
(``redis_patterns.modules``); ``SHOP_MODULES=off`` (setting) forces the
fallbacks, which is how the page compares them and how the tests run both
on a Redis Stack server.  The page says which path is in use.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from redis.exceptions import RedisError

from config.redis import get_redis
from redis_patterns import modules
from redis_patterns.bloom import Bloom, CoreBloom, ModuleBloom, false_positive_rate
from redis_patterns.documents import Documents, HashDocuments, JsonDocuments
from redis_patterns.search import CoreSearch, ModuleSearch, Search
from redis_patterns.timeseries import HOUR_MS, MINUTE_MS, CoreSeries, ModuleSeries, Series
from shop import keys
from shop.models import Product

log = logging.getLogger(__name__)

COUPON_CAPACITY = 20_000  # the demo fills it: the page shows the rate at capacity, near 1%
COUPON_ERROR_RATE = 0.01
COUPON_DEMO_CODES = 20_000
DOC_TTL = 3600


def _client(client: Any) -> Any:
    return client if client is not None else get_redis()


def use_modules(client: Any = None, *, module: str) -> bool:
    """Does the module path run for ``module``? (``SHOP_MODULES=off`` forces the fallback.)"""
    if not getattr(settings, "SHOP_MODULES", True):
        return False
    return modules.modules(_client(client)).has(module)


def paths(client: Any = None) -> dict[str, str]:
    """Which path each feature uses, in words, for the page."""
    found = modules.modules(_client(client))
    forced = not getattr(settings, "SHOP_MODULES", True)
    names = {"bloom": modules.BLOOM, "timeseries": modules.TIMESERIES, "search": modules.SEARCH,
             "json": modules.JSON}
    return {feature: ("core fallback (SHOP_MODULES is off)" if forced and found.has(name) else found.describe(name))
            for feature, name in names.items()}


# --- coupon codes: a bloom filter ------------------------------------------------------------------


def coupon_filter(client: Any = None, *, module: bool | None = None) -> Bloom:
    client = _client(client)
    if module if module is not None else use_modules(client, module=modules.BLOOM):
        return ModuleBloom(client, keys.coupons_bloom_module(), capacity=COUPON_CAPACITY,
                           error_rate=COUPON_ERROR_RATE)
    return CoreBloom(client, keys.coupons_bloom_bits(), capacity=COUPON_CAPACITY, error_rate=COUPON_ERROR_RATE)


def demo_coupon_codes(count: int = COUPON_DEMO_CODES) -> list[str]:
    """The codes the demo marks as issued (deterministic, so seeding twice adds nothing)."""
    return [f"SAVE-{i:06d}" for i in range(count)]


def coupons_seed(client: Any = None, *, module: bool | None = None, count: int = COUPON_DEMO_CODES) -> int:
    """Issue the demo codes (batches of 1,000 per round trip). Returns how many were new."""
    bloom = coupon_filter(client, module=module)
    codes = demo_coupon_codes(count)
    return sum(sum(bloom.add_many(codes[i:i + 1000])) for i in range(0, len(codes), 1000))


def coupon_check(code: str, client: Any = None) -> bool:
    """Is ``code`` possibly taken (``True``) or certainly free (``False``)?"""
    return coupon_filter(client).exists(code.strip().upper())


def coupon_claim(code: str, client: Any = None) -> bool:
    """Issue ``code``; ``True`` if it was certainly new, ``False`` if it was (possibly) taken already."""
    return coupon_filter(client).add(code.strip().upper())


def coupons_ready(client: Any = None) -> int:
    """Issue the demo codes the first time the filter is looked at (a fresh install); returns how many were new."""
    client = _client(client)
    bloom = coupon_filter(client)
    key = keys.coupons_bloom_module() if bloom.kind == "module" else keys.coupons_bloom_bits()
    return 0 if client.exists(key) else coupons_seed(client)


def coupon_stats(client: Any = None, *, probes: int = 5000) -> dict[str, Any]:
    """The filter's size and fill, and its measured false-positive rate on ``probes`` codes never issued."""
    bloom = coupon_filter(client)
    info = bloom.info()
    measured = false_positive_rate(bloom, probes=probes)
    return {**info, "measured_rate": measured, "capacity": COUPON_CAPACITY, "target_rate": COUPON_ERROR_RATE,
            "probes": probes}


# --- orders per minute: a time series --------------------------------------------------------------


def order_series(client: Any = None, *, module: bool | None = None) -> Series:
    client = _client(client)
    names = keys.orders_series_keys()
    if module if module is not None else use_modules(client, module=modules.TIMESERIES):
        return ModuleSeries(client, names["raw"], names["hourly"], labels={"metric": "orders"})
    return CoreSeries(client, names["prefix"])


def queue_order_placed(pipe: Any, *, at: dt.datetime, client: Any = None) -> None:
    """Count one order at ``at`` on ``pipe`` (the outbox relay's pipeline: no round trip of its own)."""
    order_series(client).add(int(at.timestamp() * 1000), 1, pipe=pipe)


def orders_per_minute(*, minutes: int = 60, client: Any = None) -> list[tuple[int, int]]:
    now = int(time.time() * 1000)
    return order_series(client).range(now - (minutes - 1) * MINUTE_MS, now, MINUTE_MS)


def orders_per_hour(*, hours: int = 48, client: Any = None) -> list[tuple[int, int]]:
    now = int(time.time() * 1000)
    return order_series(client).range(now - (hours - 1) * HOUR_MS, now, HOUR_MS)


# --- product search ---------------------------------------------------------------------------------


def product_search(client: Any = None, *, module: bool | None = None) -> Search:
    client = _client(client)
    if module if module is not None else use_modules(client, module=modules.SEARCH):
        return ModuleSearch(client, index_name=keys.search_index_name(), doc_prefix=keys.search_doc_prefix(),
                            doc_key=keys.search_doc)
    return CoreSearch(client, doc_key=keys.search_doc, term_key=keys.search_term)


def _search_fields(product: Product) -> dict[str, str]:
    return {"name": product.name, "description": product.description, "category": product.category.name}


def search_rebuild(client: Any = None, *, module: bool | None = None) -> int:
    """Write every product's search document (and the fallback's terms), then mark the build complete."""
    client = _client(client)
    engine = product_search(client, module=module)
    count = 0
    pipe = client.pipeline(transaction=False)
    for product in Product.objects.select_related("category").order_by("pk").iterator(chunk_size=1000):
        engine.index(product.pk, _search_fields(product), pipe=pipe)
        count += 1
        if len(pipe) >= 5000:
            pipe.execute()
    pipe.set(keys.search_built(), str(count))
    pipe.execute()
    return count


def search(text: str, *, limit: int = 10, client: Any = None) -> dict[str, Any]:
    """``{"total", "products": [{"id", "name"}], "path"}`` for a free-text query (all words must match)."""
    client = _client(client)
    if not client.exists(keys.search_built()):
        search_rebuild(client)
    engine = product_search(client)
    total, ids = engine.query(text, limit=limit)
    names = dict(Product.objects.filter(pk__in=ids).values_list("pk", "name"))
    return {"total": total, "products": [{"id": i, "name": names[i]} for i in ids if i in names], "path": engine.kind}


def search_sync(*, product_id: int, client: Any = None) -> None:
    client = _client(client)
    if not client.exists(keys.search_built()):
        return  # the next search builds everything
    engine = product_search(client)
    product = Product.objects.select_related("category").filter(pk=product_id).first()
    if product is None:
        engine.remove(product_id)
    else:
        engine.index(product_id, _search_fields(product))


# --- the product as a document ---------------------------------------------------------------------


def product_documents(client: Any = None, *, module: bool | None = None) -> Documents:
    client = _client(client)
    if module if module is not None else use_modules(client, module=modules.JSON):
        return JsonDocuments(client)
    return HashDocuments(client)


def product_doc_key(product_id: int, documents: Documents) -> str:
    return keys.product_json_doc(product_id) if documents.kind == "module" else keys.product_hash_doc(product_id)


def product_document(product_id: int, *, client: Any = None) -> dict[str, Any]:
    """Store the product as a document (from the database), then read two paths of it back."""
    from shop.selectors import product_load

    documents = product_documents(client)
    doc_key = product_doc_key(product_id, documents)
    payload = product_load(product_id)
    if payload is None:
        return {"found": False}
    documents.put(doc_key, payload, ttl=DOC_TTL)
    return {"found": True, "key": doc_key, "path": documents.kind, "document": documents.get(doc_key),
            "paths": list((documents.get(doc_key, ["price", "category.name"]) or {}).items())}


# --- after product writes ---------------------------------------------------------------------------


def product_changed(*, product_id: int) -> None:
    """After a committed product write: the search document follows; the JSON document is dropped."""

    def sync() -> None:
        try:
            search_sync(product_id=product_id)
            get_redis().delete(keys.product_json_doc(product_id), keys.product_hash_doc(product_id))
        except RedisError as exc:
            log.warning("search document of product %s not updated: %s", product_id, exc)

    transaction.on_commit(sync)


def new_coupon_code() -> str:
    return "SAVE-" + secrets.token_hex(3).upper()
