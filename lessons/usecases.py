"""The use-case map: every section of the course and where it lives in the site.

The home page and the navigation are built from this list, so a use case
appears as soon as its page exists (``url_name`` set) and is shown as
planned until then.  Keep it in step with the README's use-case table.
Each entry names its navigation ``area``; the menus follow ``AREAS``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse


@dataclass(frozen=True)
class UseCase:
    section: str
    title: str
    summary: str
    redis: str
    code: str
    url_name: str | None = None  # None: not built yet
    area: str = "Patterns"
    staff: bool = False  # staff only: the menus and the home page say "(staff)"
    url_args: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        """The page's path (``url_name`` must be set)."""
        return reverse(self.url_name, args=self.url_args)


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
            "Stream", "workers/", "workers:streams", "Workers", staff=True),
    UseCase("2.2, 7.1", "Cart and orders",
            "Buy from the shop: a cart in a hash (HINCRBY in a script), checkout with one Idempotency-Key per cart "
            "state, then the order's own page, its status moving live over the notifications socket.",
            "Hash, String, Stream", "shop/checkout.py", "shop:cart", "Shop"),
    UseCase("2.1, 7, 9", "Checkout, inside",
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
    UseCase("2.7", "Unique visitors",
            "HyperLogLog per product and per day next to the exact count and its error; weeks by PFCOUNT and PFMERGE.",
            "HyperLogLog", "shop/visitors.py", "shop:visitors", "Shop"),
    UseCase("2.8", "Activity bitmaps", "Daily active users (BITCOUNT), weekly actives (BITOP OR) and retention "
            "(BITOP AND), charted.", "Bitmap", "shop/activity.py", "shop:activity", "Shop"),
    UseCase("2.9", "Store locator", "Nearby stores with GEOSEARCH by radius or box, GEODIST, on a map; "
            "your browser's location or a city.", "Geo", "shop/stores.py", "shop:stores", "Shop"),
    UseCase("2.3, 2.5, 8.3", "Recently viewed and top today",
            "A capped list per visitor (LPUSH + LTRIM) and a daily sorted set (ZINCRBY), in the page's own round trip.",
            "List, Sorted set", "shop/browsing.py", "shop:recent", "Shop"),
    UseCase("2.4", "Tags and facets", "All-of, any-of and exclusion with SINTER, SUNION and SDIFF, paginated from a "
            "stored result; featured with SRANDMEMBER.", "Set", "shop/tags.py", "shop:tags", "Shop"),
    UseCase("2.5, 12", "Autocomplete and search", "ZRANGEBYLEX over lowercased names ranked by views, one round trip "
            "per keystroke; full-text search with RediSearch or sets.", "Sorted set, Set, Search",
            "shop/autocomplete.py", "shop:search", "Shop"),
    UseCase("2.10, 12", "Redis Stack modules", "Bloom filter, time series, full-text search and JSON documents, "
            "each with a core-Redis fallback of the same interface.", "Bloom, TimeSeries, Search, JSON",
            "shop/stack.py", "shop:modules", "Shop"),
    UseCase("3", "Encodings and memory", "OBJECT ENCODING and MEMORY USAGE of keys grown past each listpack and "
            "intset threshold.", "all types", "shop/encodings.py", "shop:encodings"),
    UseCase("8.5, 2.2", "Sessions",
            "Sessions in a hash with sliding expiry, one round trip each way; your sessions listed and revoked; "
            "Django's cache and cached_db engines beside it; JWTs with a self-cleaning denylist.",
            "Hash, Sorted set, String, Lua", "sessions_app/", "accounts:pattern", "Accounts"),
    UseCase("3-6, 14", "Server labs",
            "Private servers crashed, filled, split and flooded: memory per layout, eviction policies, what RDB "
            "and AOF lose, a Sentinel failover, a Cluster reshard, a stampede over HTTP. The last results.",
            "INFO, RDB/AOF, Sentinel, Cluster", "ops/labs.py", "ops:labs", "Ops"),
    # --- the running Redis (issue 13): staff pages ---
    UseCase("3, 10", "Redis overview",
            "Memory and fragmentation, hit ratio, clients, ops/s, evictions, persistence and replication, live; "
            "slow log, latency and commandstats; /metrics for Prometheus (staff).",
            "INFO, CONFIG GET, SLOWLOG, LATENCY", "ops/selectors.py", "ops:redis_overview", "Ops", staff=True),
    UseCase("3.5, 10", "Keyspace and key reports",
            "SCAN by family, prefix and type, each key's TTL, encoding and memory; keys by family, the no-TTL "
            "report and big keys against the key registry (staff).",
            "SCAN, OBJECT, MEMORY USAGE", "ops/audit.py", "ops:redis_reports", "Ops", staff=True),
    UseCase("11", "Anti-patterns, measured",
            "KEYS vs SCAN, a 10 MB value, LRANGE 0 -1, HGETALL, small keys vs hashes, DEL vs UNLINK, missing TTLs: "
            "what another client's GETs pay for each, next to its fix (staff).",
            "all", "ops/antipatterns.py", "ops:lab", "Ops", url_args=("antipatterns",)),
    # --- the course itself (issue 14) ---
    UseCase("all", "Course map",
            "Each of the course's 16 sections with its pages, labs, code and tests here, and what was left out "
            "and why.", "-", "lessons/course.py", "lessons:course", "Course"),
    UseCase("15", "Self-check",
            "The course's ten questions, each answered with a link to the demo or lab result that shows it.",
            "-", "lessons/selfcheck.py", "lessons:self_check", "Course"),
    UseCase("new", "What's new in the server",
            "Features newer than Redis 7.0 that this site uses (hash-field TTL), and client-side caching: "
            "the Redis and Valkey releases that have them, which path runs here, the fallback elsewhere.",
            "HEXPIRE, HTTL, CLIENT TRACKING", "lessons/whatsnew.py", "lessons:whats_new"),
]


AREAS = ["Shop", "Game", "Realtime", "Workers", "Patterns", "Accounts", "Ops", "Course"]


def navigation() -> list[tuple[str, list[UseCase]]]:
    """``[(area, [use cases with a page])]`` in ``AREAS`` order, for the site header."""
    built = [uc for uc in USE_CASES if uc.url_name]
    return [(area, items) for area in AREAS if (items := [uc for uc in built if uc.area == area])]
