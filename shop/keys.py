"""Every Redis key and channel of the shop, one function each, each declared in the key registry.

Keys used together by one script or ``MULTI`` share a ``{hash tag}`` so the
shop runs unchanged on Redis Cluster.  User input never reaches a key
unchecked: ids are ints, slugs pass Django's ``slug`` converter
(``[-a-zA-Z0-9_]``), visitor identities and client-chosen keys are hashed.
"""

from __future__ import annotations

import hashlib
import re

from config.keyspace import family
from config.redis import key
from redis_patterns.writebehind import CounterKeys

# --- the catalog cache ----------------------------------------------------------------------


@family("shop:product:{<id>}", type="string", ttl="SHOP_CACHE_TTL ± 10% + 60 s stale; 'not found' 30 s",
        writer="redis_patterns.cache via shop.selectors (readers under a lease), shop.services (after commits)")
def product_key(product_id: int) -> str:
    """One product as a JSON cache envelope (or "not found")."""
    return key("shop", "product", f"{{{int(product_id)}}}")


def product_key_prefix() -> str:
    """The prefix of every ``product_key`` (and its lease): what the BCAST tracking tier subscribes to.

    Not a key: ``CLIENT TRACKING ON BCAST PREFIX`` takes it, and the server
    then announces every write to a key that starts with it.
    """
    return key("shop", "product", "")


@family("shop:product:{<id>}:lease", type="string", ttl="5 s (SET NX PX)",
        writer="redis_patterns.cache (deleted by the fill script and by writers, which cancels a racing fill)")
def product_lease_key(product_id: int) -> str:
    """The random token of the reader loading the product; same slot as ``product_key``."""
    return key("shop", "product", f"{{{int(product_id)}}}", "lease")


@family("shop:product-replica:{<id>:r<n>}", type="string", ttl="as the product entry",
        writer="shop.selectors on a replica miss; deleted by shop.services on writes")
def product_replica_key(product_id: int, replica: int) -> str:
    """A copy of ``product_key``'s envelope; each replica has its own hash tag, so a Cluster spreads them."""
    return key("shop", "product-replica", f"{{{int(product_id)}:r{int(replica)}}}")


@family("shop:catalog:gen", type="string", expires=False,
        ttl="permanent by design: it only grows (re-created from the clock if it ever vanishes)",
        writer="shop.services (INCR after any product or category write)")
def catalog_generation_key() -> str:
    """The catalog's generation number: every cached list embeds it, so an INCR supersedes them all."""
    return key("shop", "catalog", "gen")


@family("shop:categories:{g<gen>}", type="string", ttl="min(120 s, SHOP_CACHE_TTL) ± 10% + 30 s stale",
        writer="shop.selectors; abandoned (never deleted) when the generation moves on")
def category_list_key(generation: int) -> str:
    """The category list as a JSON cache envelope, for one catalog generation."""
    return key("shop", "categories", f"{{g{int(generation)}}}")


@family("shop:categories:{g<gen>}:lease", type="string", ttl="5 s", writer="redis_patterns.cache")
def category_list_lease_key(generation: int) -> str:
    """The lease token of the reader loading the category list."""
    return key("shop", "categories", f"{{g{int(generation)}}}", "lease")


@family("shop:plist:{g<gen>:<slug>:<page>}", type="string", ttl="as the category list",
        writer="shop.selectors")
def product_page_key(generation: int, category_slug: str, page: int) -> str:
    """One page of a category's products, as a JSON cache envelope.

    ``category_slug`` comes from the URL's ``slug`` converter (no ``:``,
    ``{``, ``*`` possible).
    """
    return key("shop", "plist", f"{{g{int(generation)}:{category_slug}:{int(page)}}}")


@family("shop:plist:{g<gen>:<slug>:<page>}:lease", type="string", ttl="5 s", writer="redis_patterns.cache")
def product_page_lease_key(generation: int, category_slug: str, page: int) -> str:
    """The lease token of the reader loading one page of a category."""
    return key("shop", "plist", f"{{g{int(generation)}:{category_slug}:{int(page)}}}", "lease")


@family("{shop:views}:pending", type="hash", expires=False,
        ttl="permanent by design: the write-behind buffer (a TTL would lose counts); emptied by each flush's RENAME",
        writer="shop.services.product_view (HINCRBY product id -> views not yet claimed)")
@family("{shop:views}:batch:<hex>", type="hash", ttl="7 days (safety net); deleted once applied",
        writer="shop.services.views_flush (a claimed batch)")
@family("{shop:views}:batches", type="zset", ttl="7 days, refreshed by each claim",
        writer="shop.services.views_flush (batch key -> claim time ms)")
def view_counter_keys() -> CounterKeys:
    """The write-behind view counters, all under the ``{shop:views}`` tag (claimed by one script)."""
    tag = key("{shop:views}")
    return CounterKeys(
        pending=f"{tag}:pending",
        batches=f"{tag}:batches",
        batch=lambda batch_id: f"{tag}:batch:{batch_id}",
    )


@family("shop:switches", type="hash",
        ttl="each switch 10 min after it was flipped (HEXPIRE per field, Redis 7.4+/Valkey 9+); "
            "the hash 10 min after the last change (EXPIRE, every server)",
        writer="shop.services.switches_set (staff); a missing field means the Django setting")
def switches_key() -> str:
    """The caching demo's switches (write_strategy, xfetch, view_counting); a missing or expired field is the setting.

    Each process re-reads them at most every 2 s (``shop.caching.switches``).
    """
    return key("shop", "switches")


@family("shop:invalidate", type="channel", ttl="no storage", writer="shop.services (PUBLISH after commits)")
def invalidation_channel() -> str:
    """Pub/sub channel; a message is a JSON list of keys to drop from the in-process tiers."""
    return key("shop", "invalidate")


@family("shop:demo:{<parts>}", type="string", ttl="a few minutes at most, set by the demo that writes it",
        writer="shop.demos (stampede and hot-key runs)")
def demo_key(*parts: str | int) -> str:
    """Scratch entries of the stampede and hot-key demos; parts come from code, never user input."""
    tag = ":".join(str(p) for p in parts)
    return key("shop", "demo", f"{{{tag}}}")


@family("shop:demo:{<parts>}:lease", type="string", ttl="5 s", writer="redis_patterns.cache (demo runs)")
def demo_lease_key(*parts: str | int) -> str:
    """The lease token of a demo entry."""
    return demo_key(*parts) + ":lease"


# --- cart, stock, checkout ----------------------------------------------------------------------


@family("{cart}:<sha256(owner)>", type="hash",
        ttl="7 days, refreshed by each change (in the same script or MULTI); each line also 7 days after its own "
            "last change where the server has hash-field TTL (HEXPIRE, Redis 7.4+/Valkey 9+)",
        writer="shop.checkout: cart_add and cart_subtract (shop/lua/cart_add.lua), cart_set (HSET/HDEL + EXPIRE), "
               "cart_merge (shop/lua/cart_merge.lua, at login)")
def cart(owner: str) -> str:
    """A visitor's cart: field = product id, value = quantity.  The owner is hashed (no session key in key names).

    Every cart shares the ``{cart}`` hash tag because two carts are used
    together: at login the anonymous visitor's cart is merged into the user's
    by one script, and a script's keys must share a slot on a Cluster.  The
    trade-off is stock's: all cart writes go to the one shard that owns the
    slot (a few small writes per shopper, far below one shard's budget).  A
    shop that outgrew it would tag each cart by its owner and merge with a
    read, then a script on the user's cart (no longer atomic across the two).
    """
    return key("{cart}", hashlib.sha256(owner.encode()).hexdigest()[:40])


@family("stock:{available}", type="hash", ttl="1 hour, refreshed by each reservation; rebuilt from the database",
        writer="shop.stock (reserve_stock.lua, init_stock.lua, release_stock.lua; HDEL after stock edits)")
def stock() -> str:
    """Units not yet reserved, field = product id.

    One hash for the whole shop, so an order for several products is reserved
    by one script on one key (on a Cluster: one slot).  The trade-off: every
    checkout hits the one shard that owns it; a shop past one shard's budget
    (tens of thousands of reservations a second) would shard stock by
    product and reserve multi-shard orders line by line with compensation.
    """
    return key("stock", "{available}")


@family("idem:<sha256(owner, key)>", type="hash", ttl="30 s while pending, 24 h once done (in the same script)",
        writer="redis_patterns.idempotency via shop.checkout.order_checkout")
def idempotency_record(owner: str, idempotency_key: str) -> str:
    """A checkout's Idempotency-Key record (state, fingerprint, token, result); owner and key hashed."""
    digest = hashlib.sha256(f"{owner}\x00{idempotency_key}".encode()).hexdigest()[:40]
    return key("idem", digest)


#: The hash tag of the order pipeline: the stream, its dead letters and the workers' stats
#: are used together (dead-lettering is XADD + XACK in one MULTI), so they share one slot.
ORDERS_TAG = "{orders}"


@family("{orders}:stream", type="stream", expires=False,
        ttl="permanent by design; trimmed by the workers (XTRIM MINID below the oldest entry still needed)",
        writer="shop.checkout.outbox_publish (XADD, never MAXLEN: capping could drop pending entries)")
def orders_stream() -> str:
    """The placed orders (fields ``order_id``, ``outbox_id``): what the shop publishes; ``workers/`` consumes it."""
    return key(ORDERS_TAG, "stream")


# --- store locator (Geo) ------------------------------------------------------------------------
# Every key of the locator shares the ``{stores}`` tag: the nearby script reads the geo set and the
# details hash together.


@family("{stores}:geo", type="zset", expires=False,
        ttl="permanent by design: an index of the Store table, rebuilt from the database when missing",
        writer="shop.stores (GEOADD/ZREM after each committed store edit; stores_rebuild)")
def stores_geo() -> str:
    """Every store as a geo member (member = store id; a geo set is a sorted set scored by 52-bit geohash)."""
    return key("{stores}", "geo")


@family("{stores}:info", type="hash", expires=False,
        ttl="permanent by design: the geo set's companion, written in the same MULTI",
        writer="shop.stores (HSET/HDEL with the GEOADD/ZREM)")
def stores_info() -> str:
    """Field = store id, value = ``{"name", "city"}`` as JSON: what a nearby search returns beside each id."""
    return key("{stores}", "info")


# --- unique visitors (HyperLogLog) --------------------------------------------------------------

#: Cookie that identifies a browser for the visitor counts (a random id; never a key name).
VISITOR_COOKIE = "shop_vid"


@family("shop:visitors:{site}:<YYYY-MM-DD>", type="string",
        ttl="35 days after the day ends (EXPIREAT, in the pipeline that PFADDs)",
        writer="shop.visitors (PFADD on every shop page view, in the page's own round trip)")
def visitors_site_day(day: str) -> str:
    """Site-wide unique visitors of one UTC day, a HyperLogLog (12 KB at most, ~0.81% standard error).

    ``day`` is an ISO date made by the caller from a ``datetime.date``.  One
    ``{site}`` tag for every day, so ``PFCOUNT`` over 7 days and ``PFMERGE``
    into a week run on a Cluster too.
    """
    return key("shop", "visitors", "{site}", day)


@family("shop:visitors:{site}:<YYYY-MM-DD>:exact", type="set",
        ttl="2 days after the day ends: the demo window (EXPIREAT, same pipeline)",
        writer="shop.visitors (SADD beside the PFADD)")
def visitors_site_day_exact(day: str) -> str:
    """The same visitors as an exact set, kept only for the demo window so the page can show the HLL's error."""
    return key("shop", "visitors", "{site}", day, "exact")


@family("shop:visitors:{site}:week:<YYYY-MM-DD>", type="string", ttl="10 minutes (EXPIRE after PFMERGE, same MULTI)",
        writer="shop.visitors.visitors_week (PFMERGE of the week's seven days)")
def visitors_site_week(monday: str) -> str:
    """A week's site-wide visitors merged into one HyperLogLog (key = the week's Monday)."""
    return key("shop", "visitors", "{site}", "week", monday)


@family("shop:visitors:{p<id>}:<YYYY-MM-DD>", type="string",
        ttl="8 days after the day ends (enough for a weekly count; EXPIREAT, same pipeline)",
        writer="shop.visitors (PFADD on each product page view, in the cache read's round trip)")
def visitors_product_day(product_id: int, day: str) -> str:
    """Unique visitors of one product on one UTC day, a HyperLogLog; ``{p<id>}`` groups a product's days."""
    return key("shop", "visitors", f"{{p{int(product_id)}}}", day)


@family("shop:visitors:{p<id>}:<YYYY-MM-DD>:exact", type="set", ttl="2 days after the day ends (the demo window)",
        writer="shop.visitors (SADD beside the PFADD)")
def visitors_product_day_exact(product_id: int, day: str) -> str:
    """One product's visitors of one day as an exact set, for the demo window only."""
    return key("shop", "visitors", f"{{p{int(product_id)}}}", day, "exact")


# --- activity bitmaps: the read side (sessions_app writes {activity}:users:<day>) ---------------


@family("{activity}:shop:week:<YYYY-MM-DD>", type="string", ttl="10 minutes (EXPIRE in the MULTI that BITOPs)",
        writer="shop.activity.activity_summary (BITOP OR of seven daily bitmaps)")
def activity_week(monday: str) -> str:
    """Users active at least once in the week starting ``monday`` (``BITOP OR``); same ``{activity}`` slot."""
    return key("{activity}", "shop", "week", monday)


@family("{activity}:shop:retention:<YYYY-MM-DD>:<YYYY-MM-DD>", type="string",
        ttl="10 minutes (EXPIRE in the MULTI that BITOPs)",
        writer="shop.activity.activity_summary (BITOP AND of the day-0 cohort and day N)")
def activity_retained(day0: str, day_n: str) -> str:
    """Users active on ``day0`` *and* on ``day_n`` (``BITOP AND``): the cohort's retention on day N."""
    return key("{activity}", "shop", "retention", day0, day_n)


# --- recently viewed (List) and top products today (Sorted set) ---------------------------------


@family("shop:recent:<sha256(visitor)>", type="list", ttl="30 days, refreshed by each view (same pipeline)",
        writer="shop.browsing (LREM + LPUSH + LTRIM + EXPIRE in the product page's round trip)")
def recently_viewed(visitor_id: str) -> str:
    """A visitor's last products, newest first (at most 10); the visitor id is hashed."""
    return key("shop", "recent", hashlib.sha256(visitor_id.encode()).hexdigest()[:40])


@family("shop:top:{<YYYY-MM-DD>}", type="zset", ttl="1 day after the day ends (EXPIREAT, same pipeline)",
        writer="shop.browsing (ZINCRBY on each product page view, in the page's round trip)")
def top_products_day(day: str) -> str:
    """Product views of one UTC day: member = product id, score = views that day."""
    return key("shop", "top", f"{{{day}}}")


# --- tags and facets (Set) ----------------------------------------------------------------------
# One catalog generation's tag index shares the tag ``{tags:g<gen>}``: SINTER/SUNION/SDIFF(STORE)
# combine any of its sets on a Cluster.  A product write bumps the generation (shop.services), and
# the next read builds the new generation's index from the database; old ones simply expire.

TAG_INDEX_TTL = 24 * 3600


@family("shop:tags:{tags:g<gen>}:tag:<tag>", type="set", ttl="1 day + 60 s (set in the MULTI that builds the index)",
        writer="shop.tags.tags_index_build")
def tag_members(generation: int, tag: str) -> str:
    """Product ids carrying ``tag`` (a slug checked by the caller: ``[a-z0-9-]``)."""
    return key("shop", "tags", f"{{tags:g{int(generation)}}}", "tag", tag)


@family("shop:tags:{tags:g<gen>}:all", type="set", ttl="1 day + 60 s (same MULTI)", writer="shop.tags.tags_index_build")
def tag_all_products(generation: int) -> str:
    """Every product id: what ``exclude`` subtracts from when no tag is required, and the featured pool."""
    return key("shop", "tags", f"{{tags:g{int(generation)}}}", "all")


@family("shop:tags:{tags:g<gen>}:names", type="set", ttl="1 day (same MULTI; shorter than the sets, so it goes first)",
        writer="shop.tags.tags_index_build")
def tag_names(generation: int) -> str:
    """The known tag names; its existence also says "this generation's index is built"."""
    return key("shop", "tags", f"{{tags:g{int(generation)}}}", "names")


@family("shop:tags:{tags:g<gen>}:q:<sha256(query)>", type="set", ttl="60 s (EXPIRE in the script that stores it)",
        writer="shop/lua/tags_query.lua (SINTERSTORE / SUNIONSTORE then SDIFFSTORE)")
def tag_query(generation: int, query: str) -> str:
    """A stored combination (e.g. ``all:eco,gift-sale``) that the pages of one query read from."""
    digest = hashlib.sha256(query.encode()).hexdigest()[:24]
    return key("shop", "tags", f"{{tags:g{int(generation)}}}", "q", digest)


# --- autocomplete (Sorted set, lexicographic) ----------------------------------------------------


@family("shop:ac:{names}:index", type="zset", expires=False,
        ttl="permanent by design: an index of product names, rebuilt from the database when missing",
        writer="shop.autocomplete (after each committed product write; autocomplete_rebuild swaps in a new one)")
def autocomplete_index() -> str:
    """Members ``<lowercased name>\\x00<id>\\x00<name>``, all scored 0, so ``ZRANGEBYLEX`` finds a prefix."""
    return key("shop", "ac", "{names}", "index")


@family("shop:ac:{names}:members", type="hash", expires=False,
        ttl="permanent by design: the index's companion (product id -> its member, to remove a renamed one)",
        writer="shop.autocomplete (same script as the index)")
def autocomplete_members() -> str:
    """Field = product id, value = its current member in the index."""
    return key("shop", "ac", "{names}", "members")


@family("shop:ac:{names}:popularity", type="zset", expires=False,
        ttl="permanent by design: all-time product views, one small entry per product",
        writer="shop.browsing (ZINCRBY in the product page's round trip)")
def autocomplete_popularity() -> str:
    """Member = product id, score = views: how suggestions are ranked."""
    return key("shop", "ac", "{names}", "popularity")


@family("shop:ac:{names}:index:new:<hex>", type="zset",
        ttl="5 minutes while a rebuild runs; then RENAMEd over the index",
        writer="shop.autocomplete.autocomplete_rebuild")
@family("shop:ac:{names}:members:new:<hex>", type="hash",
        ttl="5 minutes while a rebuild runs; then RENAMEd over the members",
        writer="shop.autocomplete.autocomplete_rebuild")
def autocomplete_staging(build_id: str) -> tuple[str, str]:
    """One rebuild's index and members hash (``build_id``: random hex), swapped in with two RENAMEs in a MULTI."""
    if not re.fullmatch(r"[0-9a-f]{8,32}", build_id):
        raise ValueError(build_id)
    return (key("shop", "ac", "{names}", "index", "new", build_id),
            key("shop", "ac", "{names}", "members", "new", build_id))


# --- Redis Stack modules, with their core fallbacks ----------------------------------------------


@family("shop:coupons:{bloom}", type="string", expires=False,
        ttl="permanent by design: every coupon code ever issued (a bloom filter cannot forget one)",
        writer="redis_patterns.bloom.CoreBloom (redis_patterns/lua/bloom_add.lua), the fallback path")
def coupons_bloom_bits() -> str:
    """Issued coupon codes as a bitmap bloom filter (core Redis: SETBIT/GETBIT in one script)."""
    return key("shop", "coupons", "{bloom}")


@family("shop:coupons:{bloom}:bf", type="MBbloom--", expires=False,
        ttl="permanent by design: every coupon code ever issued",
        writer="redis_patterns.bloom.ModuleBloom (BF.RESERVE, BF.ADD), the module path")
def coupons_bloom_module() -> str:
    """Issued coupon codes in a RedisBloom filter."""
    return key("shop", "coupons", "{bloom}", "bf")


@family("shop:orders-ts:{ts}:raw", type="TSDB-TYPE", expires=False,
        ttl="no key TTL: samples older than 8 days are dropped by the series' own RETENTION",
        writer="redis_patterns.timeseries.ModuleSeries (TS.ADD ... ON_DUPLICATE SUM), the module path")
@family("shop:orders-ts:{ts}:hourly", type="TSDB-TYPE", expires=False,
        ttl="no key TTL: samples kept 90 days by RETENTION; filled by a compaction rule",
        writer="RedisTimeSeries compaction rule (TS.CREATERULE ... AGGREGATION sum 3600000)")
@family("shop:orders-ts:{ts}:m:<YYYY-MM-DD>", type="hash", ttl="8 days after the day ends (EXPIREAT, same MULTI)",
        writer="redis_patterns.timeseries.CoreSeries (HINCRBY minute-of-day), the fallback path")
@family("shop:orders-ts:{ts}:h:<YYYY-MM-DD>", type="hash", ttl="90 days after the day ends (same MULTI)",
        writer="redis_patterns.timeseries.CoreSeries (HINCRBY hour-of-day: the downsampled series)")
def orders_series_keys() -> dict[str, str]:
    """The orders-per-minute series: module keys (``raw``, ``hourly``) and the fallback's key prefix."""
    base = key("shop", "orders-ts", "{ts}")
    return {"raw": f"{base}:raw", "hourly": f"{base}:hourly", "prefix": base}


@family("shop:search:{fts}:doc:<id>", type="hash", expires=False,
        ttl="permanent by design: the search documents, one per product, replaced after each committed write",
        writer="shop.search (HSET; the FT index follows them on the module path)")
def search_doc(product_id: int) -> str:
    """One product's searchable fields (``name``, ``description``, ``category``)."""
    return key("shop", "search", "{fts}", "doc", int(product_id))


@family("shop:search:{fts}:term:<token>", type="set", expires=False,
        ttl="permanent by design: the fallback's inverted index, maintained with the documents",
        writer="redis_patterns.search.CoreSearch (SADD/SREM per token)")
def search_term(token: str) -> str:
    """Product ids whose document contains ``token`` (lowercase ``[a-z0-9]``, checked by the caller)."""
    return key("shop", "search", "{fts}", "term", token)


@family("shop:search:{fts}:built", type="string", expires=False,
        ttl="permanent by design: marks a complete build (deleted with the index)",
        writer="shop.search.search_rebuild")
def search_built() -> str:
    """Set when the documents (and the fallback's terms) of every product are in place."""
    return key("shop", "search", "{fts}", "built")


@family("shop:search:idx", type="search-index", expires=False,
        ttl="no keyspace entry: a RediSearch index (FT.CREATE); declared because the ACL checks its name as a key",
        writer="redis_patterns.search.ModuleSearch (the module path)")
def search_index_name() -> str:
    """The RediSearch index name (``FT.CREATE``): an index, not a key; ``FT.*`` commands name it where a key goes."""
    return key("shop", "search", "idx")


def search_doc_prefix() -> str:
    """What ``FT.CREATE ... PREFIX`` follows: every ``search_doc`` key starts with it."""
    return key("shop", "search", "{fts}", "doc", "")


@family("shop:jsondoc:{<id>}", type="ReJSON-RL", ttl="1 hour (EXPIRE in the MULTI with JSON.SET)",
        writer="redis_patterns.documents.ModuleDocuments (JSON.SET), the module path")
def product_json_doc(product_id: int) -> str:
    """The product as a JSON document (RedisJSON)."""
    return key("shop", "jsondoc", f"{{{int(product_id)}}}")


@family("shop:hashdoc:{<id>}", type="hash", ttl="1 hour (EXPIRE in the MULTI with HSET)",
        writer="redis_patterns.documents.HashDocuments (HSET of flattened fields), the fallback path")
def product_hash_doc(product_id: int) -> str:
    """The product as a hash of flattened JSON paths (``category.name`` -> value)."""
    return key("shop", "hashdoc", f"{{{int(product_id)}}}")


# --- encodings demo -----------------------------------------------------------------------------


#: The encodings demo's scratch keys: Redis type -> the variants grown on either side of a threshold.
ENCODING_DEMO_TYPES = ("list", "set", "zset", "hash", "hll", "string")


@family("shop:enc:{demo}:list-<variant>", type="list", ttl="5 minutes (set in the pipeline that fills it)",
        writer="shop.encodings.encodings_demo")
@family("shop:enc:{demo}:set-<variant>", type="set", ttl="5 minutes (same pipeline)",
        writer="shop.encodings.encodings_demo")
@family("shop:enc:{demo}:zset-<variant>", type="zset", ttl="5 minutes (same pipeline)",
        writer="shop.encodings.encodings_demo")
@family("shop:enc:{demo}:hash-<variant>", type="hash", ttl="5 minutes (same pipeline)",
        writer="shop.encodings.encodings_demo")
@family("shop:enc:{demo}:hll-<variant>", type="string", ttl="5 minutes (same pipeline)",
        writer="shop.encodings.encodings_demo")
@family("shop:enc:{demo}:string-<variant>", type="string", ttl="5 minutes (same pipeline)",
        writer="shop.encodings.encodings_demo")
def encoding_demo(redis_type: str, variant: str) -> str:
    """A scratch key of the encodings demo, grown to just below or just past a threshold (names from code)."""
    if redis_type not in ENCODING_DEMO_TYPES or not re.fullmatch(r"[a-z0-9-]{1,40}", variant):
        raise ValueError(f"{redis_type}-{variant}")
    return key("shop", "enc", "{demo}", f"{redis_type}-{variant}")


# --- the HyperLogLog lab (manage.py hll_chart, bench) ----------------------------------------------


@family("shop:hll-lab:{lab}:hll:<trial>", type="string", ttl="10 minutes (EXPIRE with each batch); deleted at the end",
        writer="shop.hll_lab.hll_measure")
@family("shop:hll-lab:{lab}:set", type="set", ttl="10 minutes (EXPIRE with each batch); deleted at the end",
        writer="shop.hll_lab.hll_measure")
def hll_lab_keys(trials: int) -> tuple[list[str], str]:
    """The lab's HyperLogLogs (one per trial) and the exact set it is compared with."""
    return ([key("shop", "hll-lab", "{lab}", "hll", str(int(t))) for t in range(trials)],
            key("shop", "hll-lab", "{lab}", "set"))
