"""The shop's cache objects: built once per process, on first use.

``redis_patterns.cache.Cache`` and the hot-key tier are framework-free; this
module binds them to the app's Redis client (``config.redis``), its settings
and its key names.  Nothing here connects at import time.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from enum import StrEnum

from django.conf import settings
from redis.exceptions import RedisError

from config.redis import build_client, build_connection, get_redis, redis_config
from redis_patterns.cache import Breaker, Cache, CachePolicy
from redis_patterns.hotkeys import InvalidationBus, LocalTier
from redis_patterns.scripts import Scripts, loader
from redis_patterns.tracking import TrackingCache, TrackingMode
from shop import keys

log = logging.getLogger("shop.cache")


class WriteStrategy(StrEnum):
    """How a product write reaches the cache (see ``shop.services``)."""

    INVALIDATE = "invalidate"        # delete after commit; the next read loads
    WRITE_THROUGH = "write_through"  # after commit, store the new row in the cache


class ViewCounting(StrEnum):
    """How a product page view reaches ``Product.view_count``."""

    WRITE_BEHIND = "write_behind"  # HINCRBY in Redis, flushed in batches by a Celery beat task
    DIRECT = "direct"              # one UPDATE per view (the "before" half, for comparison)


class ReadTier(StrEnum):
    """Where a product read looks first (the hot-key demo switches between them)."""

    REDIS = "redis"        # one key per product
    LOCAL = "local"        # in-process tier (1 s) in front of Redis, pub/sub invalidation
    REPLICAS = "replicas"  # N copies of the key, one read at random
    TRACKING = "tracking"  # in-process copy the server invalidates: CLIENT TRACKING (default mode)
    TRACKING_BCAST = "tracking_bcast"  # the same with BCAST on the product key prefix


HOT_REPLICAS = 4
#: The tracking tiers' heartbeat, and how long a silent listener may still vouch for the copy (seconds).
TRACKING_HEARTBEAT = 0.25
TRACKING_MAX_SILENCE = 1.0
TRACKING_DEAD_AFTER = 3.0
SWITCHES_TTL = 2.0  # seconds a process keeps the switches before reading them again
SWITCH_REVERT_SECONDS = 600  # a flipped switch goes back to its Django setting after this (shop.services.switches_set)


@dataclass(frozen=True)
class Switches:
    """The strategies in force, switchable on the caching demo page (staff)."""

    write_strategy: WriteStrategy
    xfetch: bool
    view_counting: ViewCounting

_lock = threading.RLock()
_state: dict[str, object] = {}


def scripts() -> Scripts:
    return loader("redis_patterns")


def breaker() -> Breaker:
    """One per process: one log line per outage, however many requests see it."""
    with _lock:
        if "breaker" not in _state:
            _state["breaker"] = Breaker(cooldown=1.0, logger=log, name="shop cache")
        return _state["breaker"]  # type: ignore[return-value]


def cache() -> Cache:
    loader = scripts()
    with _lock:
        if "cache" not in _state:
            # get_redis resolved per call: tests and benchmarks may reset clients.
            _state["cache"] = Cache(lambda: get_redis(), loader, breaker=breaker())
        return _state["cache"]  # type: ignore[return-value]


def enabled() -> bool:
    return bool(getattr(settings, "SHOP_CACHE_ENABLED", True))


def product_policy() -> CachePolicy:
    policy = _base_product_policy()
    return policy if switches().xfetch else replace(policy, xfetch_beta=0.0)


def _base_product_policy() -> CachePolicy:
    return CachePolicy(ttl=float(settings.SHOP_CACHE_TTL), jitter=0.1, stale_ttl=60.0, negative_ttl=30.0)


def default_switches() -> Switches:
    return Switches(
        write_strategy=WriteStrategy(getattr(settings, "SHOP_WRITE_STRATEGY", "invalidate")),
        xfetch=bool(getattr(settings, "SHOP_XFETCH", True)),
        view_counting=ViewCounting(getattr(settings, "SHOP_VIEW_COUNTING", "write_behind")),
    )


def _parse_switches(raw: dict, defaults: Switches) -> Switches:
    try:
        strategy = WriteStrategy(raw["write_strategy"]) if raw.get("write_strategy") else defaults.write_strategy
    except ValueError:
        strategy = defaults.write_strategy
    try:
        counting = ViewCounting(raw["view_counting"]) if raw.get("view_counting") else defaults.view_counting
    except ValueError:
        counting = defaults.view_counting
    xfetch = raw["xfetch"] == "on" if raw.get("xfetch") in ("on", "off") else defaults.xfetch
    return Switches(write_strategy=strategy, xfetch=xfetch, view_counting=counting)


def switches() -> Switches:
    """The switches in force: ``shop.keys.switches_key()`` over the Django settings.

    Read from Redis at most every ``SWITCHES_TTL`` seconds per process (one
    ``HGETALL``), so the hot read path stays at one round trip; another
    process sees a change within that time.  Redis down: the settings.
    """
    now = time.monotonic()
    cached = _state.get("switches")
    if cached is not None and now - cached[0] < SWITCHES_TTL:  # type: ignore[index]
        return cached[1]  # type: ignore[index]
    defaults = default_switches()
    value = defaults
    store = cache()
    if store.breaker.allow():
        try:
            value = _parse_switches(store.client.hgetall(keys.switches_key()), defaults)
            store.breaker.success()
        except RedisError as exc:
            store.breaker.failure(exc)
    _state["switches"] = (now, value)
    return value


def forget_switches() -> None:
    """Drop this process's copy (after changing them here)."""
    _state.pop("switches", None)


def list_policy() -> CachePolicy:
    # Lists change with every product write (new generation); a shorter TTL
    # keeps abandoned generations from lingering.
    return CachePolicy(ttl=min(120.0, float(settings.SHOP_CACHE_TTL)), jitter=0.1, stale_ttl=30.0,
                       negative_ttl=30.0)


def local_tier() -> LocalTier:
    """The in-process hot-key tier, with its invalidation listener started."""
    with _lock:
        tier = _state.get("tier")
        if tier is None:
            tier = _state["tier"] = LocalTier(ttl=float(getattr(settings, "SHOP_LOCAL_TIER_TTL", 1.0)),
                                              max_items=256)
            _state["bus"] = InvalidationBus(
                # Its own connection: a subscribed connection can do nothing else.
                lambda: build_client(socket_timeout=5.0),
                keys.invalidation_channel(),
                tier,
            )
    bus = _state["bus"]
    bus.start()  # type: ignore[attr-defined]
    return tier  # type: ignore[return-value]


def tracking_cache(tier: ReadTier) -> TrackingCache | None:
    """The process's server-invalidated copy for ``tier`` (started on first use), or ``None`` on a Cluster.

    Default mode tracks the product keys this process read; BCAST is told
    about every key under the product prefix (``shop.keys.product_key_prefix``).
    Nothing to do on the write side: the writers' ``DEL``/``SET`` of the
    product key is the invalidation.
    """
    mode = {ReadTier.TRACKING: TrackingMode.DEFAULT, ReadTier.TRACKING_BCAST: TrackingMode.BCAST}[tier]
    name = f"tracking:{mode.value}"
    with _lock:
        cache = _state.get(name)
        if cache is None:
            if redis_config().mode == "cluster":
                return None  # one listener per node would be needed; see redis_patterns.tracking
            cache = _state[name] = TrackingCache(
                lambda protocol: build_connection(protocol=protocol, socket_timeout=5.0),
                mode=mode, prefixes=(keys.product_key_prefix(),) if mode == TrackingMode.BCAST else (),
                max_items=256, heartbeat=TRACKING_HEARTBEAT, max_silence=TRACKING_MAX_SILENCE,
                dead_after=TRACKING_DEAD_AFTER, name=f"shop {name}")
            created = True
        else:
            created = False
    cache.start()  # type: ignore[attr-defined]
    if created:
        # The first reads of a process would otherwise all go to Redis while the listener connects.
        cache.ready.wait(2.0)  # type: ignore[attr-defined]
    return cache  # type: ignore[return-value]


def tracking_caches() -> dict[str, TrackingCache]:
    """The tracking tiers this process has started, by mode."""
    return {name.split(":", 1)[1]: c for name, c in list(_state.items()) if name.startswith("tracking:")}  # type: ignore[misc]


def forget_local(*names: str) -> None:
    """Drop keys from this process's local tier at once, if it has one (a writer does this
    for its own process: the pub/sub message it publishes reaches the others)."""
    tier = _state.get("tier")
    if tier is not None:
        tier.drop(names)  # type: ignore[attr-defined]


def invalidation_bus() -> InvalidationBus | None:
    """The listener, if this process has started its local tier."""
    return _state.get("bus")  # type: ignore[return-value]


def reset() -> None:
    """Forget the per-process objects (tests, benchmarks)."""
    with _lock:
        bus = _state.pop("bus", None)
        trackers = [c for name, c in _state.items() if name.startswith("tracking:")]
        _state.clear()
    if bus is not None:
        bus.stop()  # type: ignore[attr-defined]
    for tracker in trackers:
        tracker.stop()  # type: ignore[attr-defined]
