"""Every Redis key and channel of the shop, one function each, each declared in the key registry.

Keys used together by one script or ``MULTI`` share a ``{hash tag}`` so the
shop runs unchanged on Redis Cluster.  User input never reaches a key
unchecked: ids are ints, slugs pass Django's ``slug`` converter
(``[-a-zA-Z0-9_]``), visitor identities and client-chosen keys are hashed.
"""

from __future__ import annotations

import hashlib

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


@family("cart:<sha256(owner)>", type="hash",
        ttl="7 days, refreshed by each change (in the same script); each line also 7 days after its own last "
            "change where the server has hash-field TTL (HEXPIRE, Redis 7.4+/Valkey 9+)",
        writer="shop.checkout.cart_add (shop/lua/cart_add.lua)")
def cart(owner: str) -> str:
    """A visitor's cart: field = product id, value = quantity.  The owner is hashed (no session key in key names)."""
    return key("cart", hashlib.sha256(owner.encode()).hexdigest()[:40])


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
