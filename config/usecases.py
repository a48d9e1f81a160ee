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
    UseCase("2.5, 8.3", "Leaderboards", "All-time, daily, weekly and friends boards; rank and around-me.",
            "Sorted set", "leaderboard/"),
    UseCase("8.1, 8.2", "Rate limiting", "Five algorithms side by side, each one round trip.",
            "String, Sorted set, Lua", "redis_patterns/ratelimit.py"),
    UseCase("2.6, 9", "Stream workers", "Order processing with consumer groups, claims and dead letters.",
            "Stream", "workers/"),
    UseCase("1.2, 9.1", "Notifications", "Pub/sub over Channels, with missed-event replay from a stream.",
            "Pub/Sub, Stream", "realtime/"),
    UseCase("7, 8.7", "Locks with fencing tokens", "A lock whose token is checked by the database.",
            "String, Lua", "redis_patterns/lock.py"),
    UseCase("8.5", "Sessions", "Redis sessions, active sessions per user, revoke.", "Hash", "sessions_app/"),
    UseCase("2.7", "Unique visitors", "HyperLogLog next to the exact count and its error.", "HyperLogLog",
            "shop/"),
    UseCase("2.8", "Activity bitmaps", "Daily active users and retention with BITOP.", "Bitmap", "shop/"),
    UseCase("2.9", "Store locator", "Nearby stores with GEOSEARCH.", "Geo", "shop/"),
    UseCase("3, 4, 5, 10", "Operations", "Memory, persistence, Sentinel, Cluster, slow log, metrics.",
            "INFO, MEMORY, SLOWLOG", "config/"),
]
