"""The use-case map: every section of the course and where it lives in the site.

The home page and the navigation are built from this list, so a use case
appears as soon as its page exists (``url_name`` set) and is shown as
planned until then.  Keep it in step with the README's use-case table.
Each entry names its navigation ``area``; the menus follow ``AREAS``.
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
    area: str = "Patterns"


USE_CASES: list[UseCase] = [
    UseCase("7", "Round trips and pipelining",
            "The same 20 reads one by one, pipelined and as one MGET: count the round trips.",
            "String, pipeline", "redis_patterns/roundtrips.py", "lessons:pipelining"),
    UseCase("7", "Lua scripts and Functions",
            "Atomic read-modify-write in one script, loaded as a Redis 7 Function or by EVALSHA, "
            "and what happens when the server forgets it.",
            "FCALL, EVALSHA", "redis_patterns/scripts.py", "lessons:scripts"),
    UseCase("6", "Caching with invalidation",
            "Cache-aside, write-through, write-behind, refresh-ahead, stampede protection, hot keys.",
            "String", "shop/", "shop:caching", "Shop"),
    UseCase("6", "Shop catalog",
            "Categories, paginated product lists and product pages, each saying how it was served (X-Cache).",
            "String, Hash", "shop/", "shop:categories", "Shop"),
    UseCase("6", "Cache stampede",
            "N concurrent requests at a cold or just-expired key: database loads and latency, single-flight vs naive.",
            "String, SET NX, Lua", "redis_patterns/cache.py", "shop:stampede", "Shop"),
    UseCase("6", "Hot keys",
            "An in-process tier with pub/sub invalidation, key replicas, and client-side caching the server "
            "invalidates (CLIENT TRACKING): reads, staleness and memory side by side.",
            "String, Pub/Sub, CLIENT TRACKING", "redis_patterns/tracking.py", "shop:hotkeys", "Shop"),
    UseCase("2.5, 8.3, 8.6", "Leaderboards",
            "A reaction game on all-time, cumulative, daily, weekly and friends boards; rank, top N, "
            "pages and around-me, each in one round trip.",
            "Sorted set", "leaderboard/", "leaderboard:game", "Game"),
    UseCase("8.1, 8.2", "Rate limiting",
            "Fixed window, sliding log, sliding-window counter, token bucket and GCRA side by side, "
            "each one atomic round trip; applied to login, the API, scores and checkout.",
            "Hash, Sorted set, Lua", "redis_patterns/ratelimit.py", "lessons:ratelimit"),
    UseCase("2.6, 9", "Stream workers", "Order processing with consumer groups, claims and dead letters.",
            "Stream", "workers/", "workers:streams", "Workers"),
    UseCase("2.1, 7, 9", "Checkout",
            "Stock reserved by one Lua script, Idempotency-Key, a transactional outbox, then the orders stream.",
            "Lua, Hash, Stream", "shop/checkout.py", "shop:checkout", "Shop"),
    UseCase("7", "Lua vs WATCH/MULTI/EXEC",
            "The same check-and-set as a script and as an optimistic transaction with its retry loop.",
            "Lua, WATCH, MULTI/EXEC", "redis_patterns/check_and_set.py", "lessons:check_and_set"),
    UseCase("1.2, 9.1", "Notifications", "Pub/sub over Channels, with missed-event replay from a stream.",
            "Pub/Sub, Stream", "realtime/", "realtime:notifications", "Realtime"),
    UseCase("1.2, 9.1, 11", "Pub/sub vs streams",
            "A subscriber goes offline: pub/sub loses what it missed, a stream replays it. SPUBLISH on a Cluster.",
            "Pub/Sub, Stream", "redis_patterns/pubsub_vs_streams.py", "realtime:pubsub_vs_streams", "Realtime"),
    UseCase("1.2", "Presence", "Who is online now: heartbeats in a sorted set scored by time, stale ones pruned.",
            "Sorted set, Lua", "redis_patterns/presence.py", "realtime:notifications", "Realtime"),
    UseCase("7, 8.7", "Locks with fencing tokens", "A lock whose token is checked by the database.",
            "String, Lua", "redis_patterns/lock.py", "workers:locks", "Workers"),
    UseCase("8.4, 8.8", "Queues", "Priority (BZPOPMIN), delayed jobs, a reliable queue with a reaper, "
            "job deduplication.", "Sorted set, List, String", "redis_patterns/queues.py", "workers:queues", "Workers"),
    UseCase("new", "What's new in the server",
            "Features newer than Redis 7.0 that this site uses (hash-field TTL), and client-side caching: "
            "the Redis and Valkey releases that have them, which path runs here, the fallback elsewhere.",
            "HEXPIRE, HTTL, CLIENT TRACKING", "lessons/whatsnew.py", "lessons:whats_new"),
    UseCase("8.5", "Sessions", "Redis sessions, active sessions per user, revoke.", "Hash", "sessions_app/", area="Accounts"),
    UseCase("2.7", "Unique visitors", "HyperLogLog next to the exact count and its error.", "HyperLogLog",
            "shop/", area="Shop"),
    UseCase("2.8", "Activity bitmaps", "Daily active users and retention with BITOP.", "Bitmap", "shop/", area="Shop"),
    UseCase("2.9", "Store locator", "Nearby stores with GEOSEARCH.", "Geo", "shop/", area="Shop"),
    UseCase("3, 4, 5, 10", "Operations", "Memory, persistence, Sentinel, Cluster, slow log, metrics.",
            "INFO, MEMORY, SLOWLOG", "ops/", area="Ops"),
]


AREAS = ["Shop", "Game", "Realtime", "Workers", "Patterns", "Accounts", "Ops"]


def navigation() -> list[tuple[str, list[UseCase]]]:
    """``[(area, [use cases with a page])]`` in ``AREAS`` order, for the site header."""
    built = [uc for uc in USE_CASES if uc.url_name]
    return [(area, items) for area in AREAS if (items := [uc for uc in built if uc.area == area])]
