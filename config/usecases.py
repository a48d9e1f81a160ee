"""The use-case map: every section of the course and where it lives in the site.

The home page and the navigation are built from this list, so a use case
appears as soon as its page exists (``url_name`` set) and is shown as
planned until then.  Keep it in step with the README's use-case table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UseCase:
    section: str
    title: str
    summary: str
    redis: str
    code: str
    url_name: str | None = None  # None: not built yet


USE_CASES: list[UseCase] = [
    UseCase("7", "Round trips and pipelining",
            "The same 20 reads one by one, pipelined and as one MGET: count the round trips.",
            "String, pipeline", "redis_patterns/roundtrips.py", "site_config:pipelining"),
    UseCase("7", "Lua scripts and Functions",
            "Atomic read-modify-write in one script, loaded as a Redis 7 Function or by EVALSHA, "
            "and what happens when the server forgets it.",
            "FCALL, EVALSHA", "redis_patterns/scripts.py", "site_config:scripts"),
    UseCase("6", "Caching with invalidation",
            "Cache-aside, write-through, write-behind, refresh-ahead, stampede protection, hot keys.",
            "String", "shop/", "shop:caching"),
    UseCase("6", "Shop catalog",
            "Categories, paginated product lists and product pages, each saying how it was served (X-Cache).",
            "String, Hash", "shop/", "shop:categories"),
    UseCase("6", "Cache stampede",
            "N concurrent requests at a cold or just-expired key: database loads and latency, single-flight vs naive.",
            "String, SET NX, Lua", "redis_patterns/cache.py", "shop:stampede"),
    UseCase("6", "Hot keys",
            "An in-process tier with pub/sub invalidation, and key replicas: watch the load leave the single key.",
            "String, Pub/Sub", "redis_patterns/hotkeys.py", "shop:hotkeys"),
    UseCase("2.5, 8.3, 8.6", "Leaderboards",
            "A reaction game on all-time, cumulative, daily, weekly and friends boards; rank, top N, "
            "pages and around-me, each in one round trip.",
            "Sorted set", "leaderboard/", "leaderboard:game"),
    UseCase("8.1, 8.2", "Rate limiting",
            "Fixed window, sliding log, sliding-window counter, token bucket and GCRA side by side, "
            "each one atomic round trip; applied to login, the API, scores and checkout.",
            "Hash, Sorted set, Lua", "redis_patterns/ratelimit.py", "site_config:ratelimit"),
    UseCase("2.6, 9", "Stream workers", "Order processing with consumer groups, claims and dead letters.",
            "Stream", "workers/", "workers:streams"),
    UseCase("2.1, 7, 9", "Checkout",
            "Stock reserved by one Lua script, Idempotency-Key, a transactional outbox, then the orders stream.",
            "Lua, Hash, Stream", "workers/services.py", "workers:checkout"),
    UseCase("7", "Lua vs WATCH/MULTI/EXEC",
            "The same check-and-set as a script and as an optimistic transaction with its retry loop.",
            "Lua, WATCH, MULTI/EXEC", "redis_patterns/check_and_set.py", "workers:check_and_set"),
    UseCase("1.2, 9.1", "Notifications", "Pub/sub over Channels, with missed-event replay from a stream.",
            "Pub/Sub, Stream", "realtime/", "realtime:notifications"),
    UseCase("1.2, 9.1, 11", "Pub/sub vs streams",
            "A subscriber goes offline: pub/sub loses what it missed, a stream replays it. SPUBLISH on a Cluster.",
            "Pub/Sub, Stream", "redis_patterns/pubsub_vs_streams.py", "realtime:pubsub_vs_streams"),
    UseCase("1.2", "Presence", "Who is online now: heartbeats in a sorted set scored by time, stale ones pruned.",
            "Sorted set, Lua", "redis_patterns/presence.py", "realtime:notifications"),
    UseCase("7, 8.7", "Locks with fencing tokens", "A lock whose token is checked by the database.",
            "String, Lua", "redis_patterns/lock.py", "workers_locks:locks"),
    UseCase("8.4, 8.8", "Queues", "Priority (BZPOPMIN), delayed jobs, a reliable queue with a reaper, "
            "job deduplication.", "Sorted set, List, String", "redis_patterns/queues.py", "workers_locks:queues"),
    UseCase("8.5", "Sessions", "Redis sessions, active sessions per user, revoke.", "Hash", "sessions_app/"),
    UseCase("2.7", "Unique visitors", "HyperLogLog next to the exact count and its error.", "HyperLogLog",
            "shop/"),
    UseCase("2.8", "Activity bitmaps", "Daily active users and retention with BITOP.", "Bitmap", "shop/"),
    UseCase("2.9", "Store locator", "Nearby stores with GEOSEARCH.", "Geo", "shop/"),
    UseCase("3-6, 14", "Server labs",
            "Private servers crashed, filled, split and flooded: memory per layout, eviction policies, what RDB "
            "and AOF lose, a Sentinel failover, a Cluster reshard, a stampede over HTTP. The last results.",
            "INFO, RDB/AOF, Sentinel, Cluster", "ops/labs.py", "ops:labs"),
    UseCase("3, 4, 5, 10", "Operations", "Memory, persistence, Sentinel, Cluster, slow log, metrics.",
            "INFO, MEMORY, SLOWLOG", "config/"),
]


#: Navigation areas, derived from each page's URL namespace (no second list to keep in step).
_AREA_BY_URL = {
    "shop:": "Shop", "workers:checkout": "Shop", "leaderboard:": "Game", "realtime:": "Realtime",
    "workers:streams": "Workers", "workers_locks:": "Workers", "workers:": "Patterns", "site_config:": "Patterns",
}
AREAS = ["Shop", "Game", "Realtime", "Workers", "Patterns"]


def area_of(use_case: UseCase) -> str:
    """The navigation area of a built use case: the longest matching URL prefix wins."""
    assert use_case.url_name is not None
    best = max((p for p in _AREA_BY_URL if use_case.url_name.startswith(p)), key=len, default="")
    return _AREA_BY_URL.get(best, "Patterns")


def navigation() -> list[tuple[str, list[UseCase]]]:
    """``[(area, [use cases with a page])]`` in ``AREAS`` order, for the site header."""
    built = [uc for uc in USE_CASES if uc.url_name]
    return [(area, [uc for uc in built if area_of(uc) == area]) for area in AREAS
            if any(area_of(uc) == area for uc in built)]
