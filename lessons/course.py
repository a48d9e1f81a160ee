"""The course map: each of the course's 16 sections and where it lives in this project.

The course is "Week 10: Redis Mastery" (Vietnamese and English). For every
section this module names the site's pages that demonstrate it, the labs
that measure it (``ops.labs.LABS``, result pages ``/ops/labs/<name>/``),
other commands to run, the code (each file linked to the page that shows it,
where one does), the tests that hold it, and what was deliberately left out
and why. ``/course/`` is rendered from this list and nothing else, and
``tests/lessons/test_course.py`` holds it against the URL configuration,
``lessons/usecases.py``, ``ops.labs.LABS`` and the files on disk, so the map
cannot name a page, lab, file or test that does not exist.

Text fields are plain prose in which `backquotes` become code; the
self-check's answers (``lessons.selfcheck``) also use ``[label]`` for a link.
Nothing here talks to Redis.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from lessons.usecases import USE_CASES


@dataclass(frozen=True)
class Page:
    """A page of the site, by URL name.

    Args:
        url_name: the Django URL name (``"shop:stampede"``).
        label: the link's text; empty: the title of the use case with this URL name.
        covers: the course subsections it demonstrates, e.g. ``"2.1"``.
        note: what to look at there.
        args: URL arguments (``("persistence",)`` for a lab's page).
        staff: staff only (an anonymous visitor is sent to the login page); shown with "(staff)".
        pending: the page is another branch's work: shown unlinked with this note until its URL
            name exists, then linked like any other page.
    """

    url_name: str
    label: str = ""
    covers: str = ""
    note: str = ""
    args: tuple[str, ...] = ()
    staff: bool = False
    pending: str = ""


@dataclass(frozen=True)
class Code:
    """A file of the project; ``page``: the URL name of the page that shows this file's code."""

    path: str
    page: str | None = None
    staff: bool = False  # that page is staff only


@dataclass(frozen=True)
class Command:
    """A command line (``python manage.py ...``, ``python -m bench ...``, ``make ...``, ``docker compose ...``)."""

    line: str
    note: str


@dataclass(frozen=True)
class LeftOut:
    what: str
    why: str


@dataclass(frozen=True)
class Section:
    number: int
    title: str  # as the course has it
    english: str = ""  # where the course's title is Vietnamese
    about: str = ""
    pages: tuple[Page, ...] = ()
    labs: tuple[str, ...] = ()  # names in ops.labs.LABS
    commands: tuple[Command, ...] = ()
    code: tuple[Code, ...] = ()
    tests: tuple[str, ...] = ()
    left_out: tuple[LeftOut, ...] = ()


WHATS_NEW = Page("lessons:whats_new", "What's new in the server")

LAB_STREAMS = Command("python manage.py lab_streams",
                      "lab day 7: K stream workers, N orders, one worker killed with SIGKILL mid-batch; prints "
                      "produced, completed, duplicates, dead-lettered and the recovery time. It runs on the "
                      "configured Redis and database (make run's), so it has no result page.")

SECTIONS: tuple[Section, ...] = (
    Section(
        1, "Context & Why",
        about='Redis as an in-memory data-structure server rather than "a fast cache": its history and the 2024 '
              "licence change (1.1), its place in a web stack and ten use cases (1.2), the week's goals (1.3). "
              "The home page is 1.2's picture: each use case a working feature of one site.",
        pages=(
            replace(WHATS_NEW, covers="1.1", note="features newer than Redis 7.0: which Redis and Valkey "
                    "releases have them, which path runs here"),
            Page("lessons:home", "Home: every use case and its page", "1.2"),
            Page("shop:caching", covers="1.2", note="use case 1, cache; 8, counters (view counts by HINCRBY)"),
            Page("accounts:pattern", covers="1.2", note="use case 2, session store and a JWT denylist"),
            Page("lessons:ratelimit", covers="1.2", note="use case 3, rate limiter"),
            Page("leaderboard:game", covers="1.2", note="use case 4, leaderboard"),
            Page("workers:queues", covers="1.2", note="use case 5, queues on lists and sorted sets"),
            Page("workers:streams", covers="1.2", note="use case 5, the stream-based queue", staff=True),
            Page("realtime:notifications", covers="1.2", note="use case 6, pub/sub notifications; presence"),
            Page("realtime:pubsub_vs_streams", covers="1.2", note="use case 6, what pub/sub does not promise"),
            Page("workers:locks", covers="1.2", note="use case 7, distributed lock, Redlock"),
            Page("shop:stores", covers="1.2", note="use case 9, geospatial"),
            Page("shop:visitors", covers="1.2", note="use case 10, real-time analytics: HyperLogLog"),
            Page("shop:activity", covers="1.2", note="use case 10, real-time analytics: bitmaps"),
            Page("lessons:self_check", covers="1.3", note="the goals, as the course's ten questions"),
        ),
        code=(Code("lessons/usecases.py"), Code("lessons/course.py"),
              Code("redis_patterns/presence.py", "realtime:notifications")),
        tests=("tests/lessons/test_views.py", "tests/browser/test_home.py", "tests/redis_patterns/test_presence.py",
               "tests/lessons/test_course.py"),
        left_out=(
            LeftOut("1.1's timeline and the licence history as a page",
                    "history, not behaviour: there is nothing to run. What it means in practice, which server has "
                    "which feature, is the what's-new page and the README's Servers table (Redis 7.0, Valkey 9.1 "
                    "and Redis Stack 7.4, each running the whole suite)."),
            LeftOut("1.3's tools: redis-benchmark",
                    "it measures the server alone with synthetic commands; this project's performance claims are "
                    "about its own request paths, so the benchmarks in `bench/` drive those through the project's "
                    "client, against a baseline in the same run (`make bench`)."),
            LeftOut("1.3's tools: redis-stat",
                    "unmaintained; the staff overview page (INFO, refreshed every 2 s) and `/metrics` for "
                    "Prometheus show the same figures. redis-cli is used where the course uses it: the cluster lab "
                    "builds and reshards its cluster with `redis-cli --cluster`."),
            LeftOut("1.4, references", "the section is empty in the course text."),
        ),
    ),
    Section(
        2, "Data Structures Deep Dive",
        about="The ten structures, each with its commands, its internal encodings and its use cases. Each one is "
              "a feature of the shop or the game here, and the encodings page shows the encodings the course "
              "lists, converting as keys grow.",
        pages=(
            Page("shop:caching", covers="2.1", note="strings: cache entries with their TTL (SET PX), generation "
                 "counters (INCR)"),
            Page("shop:checkout", covers="2.1, 2.2", note="an idempotency key (SET NX), the stock hash"),
            Page("lessons:pipelining", covers="2.1", note="MGET against one GET per key"),
            Page("shop:cart", covers="2.2", note="a cart in a hash, quantities by HINCRBY in a script"),
            Page("accounts:pattern", covers="2.2", note="a session is a hash: one key, one TTL"),
            Page("shop:recent", covers="2.3, 2.5", note="recently viewed (LPUSH + LTRIM), top today (ZINCRBY)"),
            Page("workers:queues", covers="2.3", note="a reliable list queue (BLMOVE to a processing list)"),
            Page("shop:tags", covers="2.4", note="SINTER, SUNION, SDIFF; featured by SRANDMEMBER"),
            Page("leaderboard:game", covers="2.5", note="boards, rank, top N and around-me"),
            Page("shop:search", covers="2.5", note="autocomplete by ZRANGEBYLEX"),
            Page("workers:streams", covers="2.6", note="consumer groups, pending entries, dead letters",
                 staff=True),
            Page("shop:visitors", covers="2.7", note="a HyperLogLog beside the exact count and its error"),
            Page("shop:activity", covers="2.8", note="SETBIT, BITCOUNT, BITOP"),
            Page("shop:stores", covers="2.9", note="GEOSEARCH by radius and by box, GEODIST, GEOPOS"),
            Page("shop:modules", covers="2.10", note="orders per minute: TS.ADD, or a hash per day without the "
                 "module"),
            Page("shop:encodings", covers="2.1-2.8", note="int/embstr/raw, listpack, intset, quicklist, skiplist, "
                 "hashtable: OBJECT ENCODING on either side of each threshold"),
        ),
        code=(
            Code("shop/checkout.py", "shop:checkout"), Code("shop/lua/reserve_stock.lua", "shop:checkout"),
            Code("sessions_app/store.py", "accounts:pattern"), Code("shop/browsing.py", "shop:recent"),
            Code("redis_patterns/queues.py", "workers:queues"), Code("shop/tags.py", "shop:tags"),
            Code("leaderboard/services.py", "leaderboard:game"), Code("leaderboard/selectors.py", "leaderboard:game"),
            Code("shop/autocomplete.py", "shop:search"),
            Code("redis_patterns/streams.py", "workers:streams", staff=True),
            Code("shop/visitors.py", "shop:visitors"), Code("shop/activity.py", "shop:activity"),
            Code("shop/stores.py", "shop:stores"), Code("redis_patterns/timeseries.py"),
            Code("shop/encodings.py", "shop:encodings"), Code("shop/keys.py", "shop:caching"),
        ),
        tests=(
            "tests/shop/test_checkout.py", "tests/shop/test_buying.py", "tests/sessions_app/test_store.py",
            "tests/shop/test_browsing.py", "tests/redis_patterns/test_queues.py", "tests/shop/test_tags.py",
            "tests/leaderboard/test_boards.py", "tests/shop/test_autocomplete.py", "tests/redis_patterns/test_streams.py",
            "tests/shop/test_visitors.py", "tests/shop/test_activity.py", "tests/shop/test_stores.py",
            "tests/redis_patterns/test_modules_fallbacks.py", "tests/shop/test_stack.py",
            "tests/shop/test_structures_live.py",
        ),
        commands=(
            Command("python manage.py hll_chart", "2.7: HyperLogLog error and memory against an exact set, from 1k "
                    "to 1M items, measured on the configured Redis; a table and `docs/hll_error.svg`"),
        ),
        left_out=(
            LeftOut("APPEND, LINSERT, SPOP and the like as features",
                    "no feature of a shop or a game needs them; each page names the commands that do its work. "
                    "(GETRANGE is used: the staff key preview reads a bounded slice of a big string with it.)"),
            LeftOut("2.9's PostGIS comparison",
                    "the store locator is radius and box searches over a few dozen stores, what Redis Geo is for; "
                    "PostGIS would add a database extension to a project whose default database is SQLite."),
        ),
    ),
    Section(
        3, "Memory Model",
        about="Encodings and their thresholds (3.1), what a key costs (3.2), maxmemory and the eviction policies "
              "(3.3), INFO memory and fragmentation (3.4), finding big keys (3.5).",
        pages=(
            Page("shop:encodings", covers="3.1", note="OBJECT ENCODING and MEMORY USAGE on either side of each "
                 "listpack and intset threshold"),
            Page("ops:redis_overview", covers="3.4", note="used, RSS and peak memory, the fragmentation ratio with "
                 "the course's reading", staff=True),
            Page("ops:redis_reports", covers="3.5", note="the biggest keys and the keys missing a TTL, from a SCAN "
                 "sample (never KEYS)", staff=True),
        ),
        labs=("memory", "eviction"),
        commands=(
            Command("python manage.py keys --big 20", "3.5: the biggest keys of the running Redis, by SCAN and "
                    "MEMORY USAGE, what `redis-cli --bigkeys`/`--memkeys` report, without blocking the server"),
        ),
        code=(
            Code("shop/encodings.py", "shop:encodings"), Code("ops/selectors.py", "ops:redis_overview", staff=True),
            Code("ops/audit.py", "ops:redis_reports", staff=True), Code("ops/management/commands/lab_memory.py"),
            Code("ops/management/commands/lab_eviction.py"),
        ),
        tests=("tests/shop/test_stack.py", "tests/ops/test_pages.py", "tests/ops/test_labs.py",
               "tests/ops/test_lab_pages.py"),
        left_out=(
            LeftOut("maxmemory and an eviction policy on the site's own Redis",
                    "it holds sessions, carts, stock and the orders stream: data, which 3.3 says to keep under "
                    "noeviction (the default). The eviction lab runs every policy on a server of its own."),
            LeftOut("CONFIG SET activedefrag from a page",
                    "the overview page reads the fragmentation ratio and says when active defragmentation would "
                    "help; a page that changes the server's configuration is not something to copy."),
        ),
    ),
    Section(
        4, "Persistence",
        about="RDB snapshots (4.1), the append-only file and its fsync policies (4.2), both together (4.3), and "
              "why replication is not a backup (4.4). The persistence lab crashes a server under load in each "
              "configuration and counts the acknowledged writes it lost.",
        labs=("persistence",),
        code=(Code("ops/management/commands/lab_persistence.py"), Code("ops/labs.py"),
              Code("scripts/run.sh"), Code("compose.yaml")),
        tests=("tests/ops/test_labs.py", "tests/ops/test_lab_pages.py"),
        left_out=(
            LeftOut("a power cut",
                    "the lab kills the process (SIGKILL), not the machine: what Redis had written reaches the disk "
                    "through the kernel's page cache, so AOF everysec loses nothing there. Losing its last second "
                    "takes a machine crash, which a lab on a shared machine cannot cause."),
            LeftOut("storing backups offsite (4.4)",
                    "the lab backs up (BGSAVE, copy dump.rdb), restores on a new server and compares every key; "
                    "where the copy is kept is an operations choice outside the app."),
        ),
    ),
    Section(
        5, "High Availability",
        about="Sentinel for failover (5.1), Cluster for sharding (5.2, 5.3), hash tags for multi-key commands "
              "(5.4), and when to pick which (5.5). The site's one client factory connects to a standalone server, "
              "through Sentinel or to a Cluster from settings, and every key used with another shares a hash "
              "tag, so the features run unchanged on a Cluster.",
        labs=("sentinel", "cluster"),
        commands=(
            Command("docker compose --profile sentinel up", "the whole site on 1 master, 2 replicas and 3 "
                    "Sentinels (the topology of the Sentinel lab)"),
            Command("docker compose --profile cluster up", "the whole site on a 6-node Cluster (the topology of "
                    "the cluster lab)"),
        ),
        code=(
            Code("config/redis.py"), Code("leaderboard/keys.py"), Code("config/keyspace.py"),
            Code("ops/cluster_features.py"), Code("ops/management/commands/lab_sentinel.py"),
            Code("ops/management/commands/lab_cluster.py"), Code("compose.yaml"),
        ),
        tests=(
            "tests/ops/test_labs.py", "tests/config/test_redis_clients.py", "tests/leaderboard/test_cluster.py",
            "tests/sessions_app/test_cluster.py", "tests/redis_patterns/test_cache_cluster.py",
            "tests/ops/test_compose.py",
        ),
        left_out=(
            LeftOut("5.3's add-node and del-node",
                    "the cluster lab reshards slots between the masters it created and fails one over; adding or "
                    "removing a node moves slots the same way and was not added."),
            LeftOut("the compose profiles, started",
                    "there is no Docker where the suite runs; `tests/ops/test_compose.py` checks the topology each "
                    "profile defines and the settings the app needs to use it."),
        ),
    ),
    Section(
        6, "Caching Patterns",
        about="Cache-aside (6.1), write-through (6.2), write-behind (6.3), invalidation (6.4), stampede prevention "
              "(6.5) and hot keys (6.6), all on the shop's catalog: every product page says how it was served "
              "(`X-Cache: hit|miss|stale|bypass`).",
        pages=(
            Page("shop:categories", covers="6.1", note="the catalog, each page with its X-Cache"),
            Page("shop:caching", covers="6.1-6.4", note="cache-aside with TTL and jitter, delete after commit, "
                 "write-through, leases, generation-counted lists, write-behind counters, refresh-ahead (XFetch)"),
            Page("shop:stampede", covers="6.5", note="N concurrent requests at an expired key: single-flight "
                 "against naive"),
            Page("shop:hotkeys", covers="6.6", note="an in-process tier invalidated by pub/sub, and key replicas"),
        ),
        labs=("stampede",),
        code=(
            Code("redis_patterns/cache.py", "shop:caching"), Code("redis_patterns/writebehind.py", "shop:caching"),
            Code("shop/services.py", "shop:caching"), Code("shop/caching.py"),
            Code("shop/demos.py", "shop:stampede"), Code("redis_patterns/hotkeys.py", "shop:hotkeys"),
            Code("redis_patterns/tracking.py", "shop:hotkeys"),
            Code("shop/selectors.py", "shop:hotkeys"), Code("ops/management/commands/lab_stampede.py"),
            Code("bench/shop_cache.py"), Code("bench/shop_stampede.py"),
        ),
        tests=(
            "tests/redis_patterns/test_cache.py", "tests/shop/test_invalidation.py", "tests/shop/test_write_behind.py",
            "tests/shop/test_views.py", "tests/shop/test_api.py", "tests/redis_patterns/test_hotkeys.py",
            "tests/shop/test_warm.py", "tests/shop/test_redis_down.py", "tests/ops/test_labs.py",
        ),
        left_out=(
            LeftOut("6.4's invalidation from change data capture (Debezium)",
                    "it needs Kafka Connect and a replication slot beside the app. Every write here goes through a "
                    "service, which deletes or rewrites the entry after the commit (`transaction.on_commit`)."),
            LeftOut("6.6's read replicas for a hot key",
                    "the app never reads from a replica (the Sentinel lab's replicas are there for failover); the "
                    "hot-keys page shows the other two remedies."),
        ),
    ),
    Section(
        7, "Atomic Patterns",
        about="INCR (7.1), a lock with SET NX and a safe release, Redlock (7.2), MULTI/EXEC with WATCH (7.3), Lua "
              "and Functions (7.4), pipelining (7.5).",
        pages=(
            Page("shop:cart", covers="7.1", note="quantities by HINCRBY"),
            Page("workers:locks", covers="7.2", note="acquire, hold, release; a paused holder rejected by its "
                 "fencing token; Redlock"),
            Page("lessons:check_and_set", covers="7.3, 7.4", note="the same check-and-set by Lua, by WATCH/MULTI/EXEC "
                 "and naively, 8 threads racing"),
            Page("lessons:scripts", covers="7.4", note="a script as a Redis 7 Function or by EVALSHA, and the "
                 "recovery when the server forgets it"),
            Page("shop:checkout", covers="7.4", note="stock reserved by one Lua script, an idempotency key"),
            Page("lessons:pipelining", covers="7.5", note="20 reads one by one, pipelined, and as one MGET"),
        ),
        code=(
            Code("redis_patterns/lock.py", "workers:locks"), Code("workers/locks.py", "workers:locks"),
            Code("redis_patterns/semaphore.py"),
            Code("redis_patterns/lua/lock_acquire.lua", "workers:locks"),
            Code("redis_patterns/check_and_set.py", "lessons:check_and_set"),
            Code("redis_patterns/scripts.py", "lessons:scripts"), Code("redis_patterns/idempotency.py", "shop:checkout"),
            Code("shop/checkout.py", "shop:checkout"), Code("shop/stock.py"),
            Code("redis_patterns/roundtrips.py", "lessons:pipelining"), Code("redis_patterns/tracing.py"),
            Code("bench/locks.py"),
        ),
        tests=(
            "tests/redis_patterns/test_lock.py", "tests/workers/test_lock.py", "tests/redis_patterns/test_idempotency.py",
            "tests/redis_patterns/test_scripts.py", "tests/shop/test_checkout_concurrency.py",
            "tests/lessons/test_views.py", "tests/workers/test_pages.py", "tests/redis_patterns/test_tracing.py",
        ),
        left_out=(
            LeftOut("Redlock on this machine by default",
                    "it needs independent servers: the locks page runs it when `REDLOCK_URLS` names three or more, "
                    "and the tests run it on three private servers with one of them down."),
        ),
    ),
    Section(
        8, "Patterns by Use Case",
        about="Rate limiters (8.1 token bucket, 8.2 sliding window), leaderboards (8.3), priority queues (8.4), "
              "sessions (8.5), top-N aggregates (8.6), fencing tokens (8.7) and job deduplication (8.8).",
        pages=(
            Page("lessons:ratelimit", covers="8.1, 8.2", note="five algorithms on one chart; the same limiters guard "
                 "login, the API, scores and checkout"),
            Page("leaderboard:game", covers="8.3", note="best, total, daily, weekly and friends boards; around-me in "
                 "one round trip"),
            Page("workers:queues", covers="8.4, 8.8", note="priority (BZPOPMIN), delayed jobs, a reliable queue, "
                 "deduplication"),
            Page("accounts:pattern", covers="8.5", note="sessions with sliding expiry; JWTs and their denylist"),
            Page("shop:recent", covers="8.6", note="top products today (ZINCRBY, ZREVRANGE)"),
            Page("workers:locks", covers="8.7", note="the fencing token checked by the database"),
        ),
        code=(
            Code("redis_patterns/ratelimit.py", "lessons:ratelimit"), Code("config/ratelimit.py", "lessons:ratelimit"),
            Code("redis_patterns/lua/ratelimit_token_bucket.lua", "lessons:ratelimit"),
            Code("redis_patterns/lua/ratelimit_sliding_log.lua", "lessons:ratelimit"),
            Code("leaderboard/services.py", "leaderboard:game"), Code("leaderboard/lua/around_me.lua", "leaderboard:game"),
            Code("redis_patterns/queues.py", "workers:queues"), Code("workers/queues.py"),
            Code("sessions_app/store.py", "accounts:pattern"), Code("sessions_app/tokens.py", "accounts:pattern"),
            Code("shop/browsing.py", "shop:recent"), Code("workers/locks.py", "workers:locks"),
            Code("bench/ratelimit.py"), Code("bench/leaderboard.py"), Code("bench/sessions.py"),
        ),
        tests=(
            "tests/redis_patterns/test_ratelimit.py", "tests/config/test_ratelimit_adapter.py",
            "tests/lessons/test_ratelimit_chart.py", "tests/leaderboard/test_boards.py", "tests/leaderboard/test_api.py",
            "tests/redis_patterns/test_queues.py", "tests/workers/test_queues.py", "tests/sessions_app/test_store.py",
            "tests/sessions_app/test_api.py", "tests/shop/test_browsing.py", "tests/workers/test_lock.py",
        ),
        left_out=(
            LeftOut("8.3's around-me by ZREVRANGEBYSCORE … LIMIT",
                    "two round trips that can disagree if a score lands in between; the game does ZREVRANK and "
                    "ZREVRANGE in one script (`leaderboard/lua/around_me.lua`)."),
            LeftOut("8.5's HMSET then EXPIRE",
                    "a gap in which the session has no TTL, and a write that can bring back a session another "
                    "device just revoked; the session engine writes the hash and its expiry in one script."),
            LeftOut("8.8's set of today's job ids, then EXPIRE",
                    "one SET NX EX per job id instead: the TTL comes with the write, and each id expires on its own."),
        ),
    ),
    Section(
        9, "Streams Deep Dive",
        about="Why streams rather than lists (9.1), consumer groups and recovery from a dead worker (9.2), "
              "trimming (9.3), use cases (9.4). Orders go from checkout through an outbox to the `orders` "
              "stream, and worker processes in a consumer group fulfil them.",
        pages=(
            Page("workers:streams", covers="9.2, 9.3", note="each stream's groups, consumers, pending entries, lag, "
                 "dead letters and replay", staff=True),
            Page("shop:checkout", covers="9.4", note="an order into the stream by a transactional outbox, followed "
                 "to completed"),
            Page("realtime:pubsub_vs_streams", covers="9.1", note="a subscriber offline: pub/sub loses, the stream "
                 "replays"),
            Page("realtime:notifications", covers="9.4", note="a feed with rewind: missed events replayed from a "
                 "stream on reconnect"),
        ),
        commands=(
            LAB_STREAMS,
            Command("python manage.py run_stream_worker orders --group fulfilment --consumer w1",
                    "one stream worker (make run starts two)"),
            Command("python -m bench streams", "the worker against a bare XREADGROUP/XACK loop, order throughput "
                    "with 1 and 2 processes, where the time goes, latency; written to `docs/benchmarks/streams.md`"),
        ),
        code=(
            Code("redis_patterns/streams.py", "workers:streams", staff=True),
            Code("workers/handlers.py", "workers:streams", staff=True),
            Code("shop/orders.py", "workers:streams", staff=True),
            Code("redis_patterns/event_log.py", "realtime:notifications"),
            Code("redis_patterns/pubsub_vs_streams.py", "realtime:pubsub_vs_streams"),
            Code("workers/management/commands/lab_streams.py"),
            Code("workers/management/commands/run_stream_worker.py"),
        ),
        tests=(
            "tests/redis_patterns/test_streams.py", "tests/workers/test_worker_processes.py",
            "tests/redis_patterns/test_pubsub_vs_streams.py", "tests/redis_patterns/test_event_log.py",
            "tests/realtime/test_resilience.py", "tests/workers/test_pages.py",
        ),
        left_out=(
            LeftOut("XCLAIM of one id at a time",
                    "the workers use XAUTOCLAIM (Redis 6.2+), which finds and claims idle entries in one command."),
            LeftOut("a result page for lab_streams",
                    "it runs on the configured Redis and database (make run's) and prints its table; the server "
                    "labs start servers of their own and keep their last result for a page."),
        ),
    ),
    Section(
        10, "Operations & Tuning",
        about="Persistence per workload (10.1), the slow log (10.2), the latency monitor (10.3), configuration "
              "(10.4), backups (10.5), INFO (10.6) and Prometheus (10.7). The staff pages read the site's own "
              "Redis; `/metrics` serves Prometheus (loopback clients, or a bearer token).",
        pages=(
            Page("ops:index", "Operations", covers="10", note="the staff area", staff=True),
            Page("ops:redis_overview", covers="10.6", note="INFO and CONFIG GET maxmemory* in one round trip, live",
                 staff=True),
            Page("ops:redis_slowlog", "Slow log and latency", covers="10.2, 10.3", note="SLOWLOG GET, LATENCY "
                 "LATEST/HISTORY, INFO commandstats; slow commands provoked on a scratch server", staff=True),
            Page("ops:redis_keyspace", "Keyspace browser", covers="10.6", note="SCAN by family, prefix and type",
                 staff=True),
            Page("ops:redis_reports", covers="10.6", note="the key registry against the keyspace", staff=True),
        ),
        labs=("persistence",),
        commands=(
            Command("python manage.py keys --scan --no-ttl", "every key family with its type, TTL policy and "
                    "writer; keys and bytes per family in the running Redis; the no-TTL report"),
        ),
        code=(
            Code("ops/selectors.py", "ops:redis_overview", staff=True),
            Code("ops/services.py", "ops:redis_slowlog", staff=True), Code("ops/audit.py", "ops:redis_reports",
                                                                            staff=True),
            Code("ops/metrics.py"), Code("ops/views.py"), Code("config/keyspace.py"), Code("docs/grafana-dashboard.json"),
        ),
        tests=("tests/ops/test_pages.py", "tests/ops/test_metrics.py", "tests/ops/test_metrics_processes.py",
               "tests/ops/test_healthz.py", "tests/ops/test_keyspace_registry.py"),
        left_out=(
            LeftOut("10.7's redis_exporter container",
                    "`/metrics` serves the Redis series from one INFO per scrape, named like redis_exporter's where "
                    "they overlap, next to the app's own series: one endpoint and no extra process."),
            LeftOut("10.4's tuning applied to the site's Redis (maxmemory, allkeys-lfu, activedefrag)",
                    "make run's and compose's Redis keep AOF everysec with RDB snapshots (10.1's row for a session "
                    "store) and no maxmemory, because they hold data. The slow-log page sets its thresholds on a "
                    "scratch server of its own."),
            LeftOut("10.5's `redis-cli --rdb`",
                    "the persistence lab's backup is BGSAVE and a copy of dump.rdb, restored on a new server and "
                    "compared key by key; `--rdb` fetches the same file over the network."),
        ),
    ),
    Section(
        11, "Anti-patterns",
        about="Thirteen mistakes and their fixes. The measurable ones run in the anti-patterns lab, each timed "
              "by what another client's GETs pay while it runs; the rest are pages of their own.",
        pages=(
            Page("ops:redis_reports", covers="11", note="no TTL on cache keys: the no-TTL report", staff=True),
            Page("realtime:pubsub_vs_streams", covers="11", note="pub/sub for critical messages"),
            Page("shop:caching", covers="11", note="a cache without an invalidation strategy"),
            Page("shop:stampede", covers="11", note="cache stampede"),
            Page("shop:hotkeys", covers="11", note="hot key"),
            Page("lessons:pipelining", covers="11", note="a synchronous client in the hot path: one round trip per "
                 "command"),
        ),
        labs=("antipatterns",),
        code=(Code("ops/antipatterns.py"), Code("ops/management/commands/lab_antipatterns.py"),
              Code("ops/audit.py", "ops:redis_reports", staff=True)),
        tests=("tests/ops/test_lab_antipatterns.py", "tests/ops/test_keyspace_registry.py"),
        left_out=(
            LeftOut('FLUSHALL and "default port, no auth", guarded',
                    "make run's Redis listens on 127.0.0.1 only and the code sends FLUSHALL to servers it started "
                    "for itself (test and lab servers), never to the app's. A least-privilege ACL user for the app "
                    "is issue #10, not merged yet."),
            LeftOut("Redis as the primary database",
                    "nothing to demonstrate: the relational database is the source of truth here, and Redis holds "
                    "what can be rebuilt, expires, or is worth the memory."),
        ),
    ),
    Section(
        12, "Redis Stack + Modules",
        about="RediSearch (12.1), RedisJSON (12.2), RedisBloom (12.3), RedisGraph (12.4, discontinued) and "
              "RedisTimeSeries (12.5). The shop uses each module where the server has it and a fallback on core "
              "structures with the same interface where it does not; the pages say which path runs.",
        pages=(
            Page("shop:modules", covers="12.1-12.3, 12.5", note="bloom filter, time series, search and JSON, each "
                 "beside its fallback"),
            Page("shop:search", covers="12.1", note="FT.SEARCH, or a set per word and SINTER"),
        ),
        commands=(
            Command("make test-servers", "the whole suite on Redis Stack 7.4 with the four modules loaded, as "
                    "well as on Redis 7.0 and Valkey 9.1"),
        ),
        code=(
            Code("shop/stack.py", "shop:modules"), Code("redis_patterns/modules.py", "shop:modules"),
            Code("redis_patterns/bloom.py", "shop:modules"), Code("redis_patterns/search.py"),
            Code("redis_patterns/documents.py"), Code("redis_patterns/timeseries.py"),
        ),
        tests=("tests/redis_patterns/test_modules_fallbacks.py", "tests/shop/test_stack.py"),
        left_out=(
            LeftOut("RedisGraph (12.4)", "discontinued by Redis Inc."),
            LeftOut("Cuckoo filter, Top-K, Count-Min Sketch",
                    "RedisBloom's other types have no use in the shop; the Bloom filter does (is a coupon code "
                    "taken?)."),
        ),
    ),
    Section(
        13, "Valkey — fork status 2024-2026",
        about="Valkey, the BSD-licensed fork of Redis 7.2, and when to pick it. The same code runs on both, and "
              "the suite proves it on every CI run.",
        pages=(
            replace(WHATS_NEW, covers="13", note="which features need Redis 7.2/7.4 or Valkey 7.2/9, and the "
                    "fallback elsewhere"),
            Page("shop:modules", covers="13", note="no Redis Stack modules on Valkey: the page says which fallback "
                 "runs"),
        ),
        commands=(
            Command("make test-servers", "the whole suite on Redis 7.0, Valkey 9.1 and Redis Stack 7.4, then a "
                    "table of results"),
            Command("docker compose -f compose.yaml -f compose.valkey.yaml up", "the full stack on Valkey 9.1"),
        ),
        code=(Code("scripts/test_servers.py"), Code("redis_patterns/servers.py"), Code("compose.valkey.yaml"),
              Code("redis_patterns/hashttl.py", "lessons:whats_new"), Code("redis_patterns/zrank.py", "lessons:whats_new"),
              Code("redis_patterns/perclient.py", "lessons:whats_new")),
        tests=("tests/redis_patterns/test_servers.py", "tests/test_redis_harness.py"),
        left_out=(
            LeftOut("managed services (ElastiCache, Memorystore)",
                    "the code reaches them through `REDIS_URL` (`rediss://` for TLS), but nothing here can test "
                    "them."),
        ),
    ),
    Section(
        14, "Lab",
        about="Seven days of labs: data structures, memory, persistence, a cluster, three patterns, a cache under "
              "1,000 users, a streams worker. The server labs are management commands that start their own "
              "redis-server processes (no Docker), show one progress bar, end with a table and keep their last "
              "result for a page; day 7's lab runs on the site's own Redis, and days 1 and 5 are pages.",
        pages=(
            Page("shop:categories", covers="14.1", note="day 1: each structure is a page of section 2"),
            Page("lessons:ratelimit", covers="14.5", note="day 5: a rate limiter in Lua"),
            Page("leaderboard:game", covers="14.5", note="day 5: a leaderboard whose daily board resets by expiring"),
            Page("workers:locks", covers="14.5", note="day 5: a lock with a fencing token"),
        ),
        labs=("memory", "persistence", "cluster", "stampede"),
        commands=(LAB_STREAMS,),
        code=(Code("ops/labs.py"), Code("ops/charts.py"), Code("bench/httpload.py")),
        tests=("tests/ops/test_labs.py", "tests/ops/test_lab_pages.py", "tests/workers/test_worker_processes.py"),
        left_out=(
            LeftOut("days 1 and 2 as typed: `docker run redis:7`, one redis-cli process per key, FLUSHALL between",
                    "a million processes take hours; lab_memory pipelines the same writes into a server it started "
                    "and starts a fresh one instead of flushing."),
            LeftOut("day 4 on docker-compose",
                    "lab_cluster starts six redis-server processes and joins them with `redis-cli --cluster "
                    "create`; compose.yaml's cluster profile builds the same topology for Docker users."),
        ),
    ),
    Section(
        15, "Self-check",
        about="The course's ten questions, each answered with a link to the demo or lab result that shows it.",
        pages=(Page("lessons:self_check", covers="15"),),
        code=(Code("lessons/selfcheck.py"),),
        tests=("tests/lessons/test_course.py",),
    ),
    Section(
        16, "Tiếp theo", english="Next",
        about="The course's pointer to the following week, DynamoDB and Cassandra.",
        left_out=(
            LeftOut("week 11, wide-column NoSQL", "another course; nothing of it belongs in a Redis reference app."),
        ),
    ),
)


# --- rendering: links, prose, the sections as the page shows them ------------------------------------------


def _use_case_titles() -> dict[str, str]:
    titles: dict[str, str] = {}
    for uc in USE_CASES:
        if uc.url_name and not uc.url_args:
            titles.setdefault(uc.url_name, uc.title)
    return titles


def page_url(page: Page) -> str | None:
    """The page's path; ``None`` only for a ``pending`` page whose URL name does not exist yet.

    Raises:
        NoReverseMatch: a page that is not pending names no URL (a broken map: the tests catch it).
    """
    try:
        return reverse(page.url_name, args=page.args)
    except NoReverseMatch:
        if page.pending:
            return None
        raise


def page_label(page: Page) -> str:
    return page.label or _use_case_titles().get(page.url_name, "") or page.url_name


def link_html(page: Page, text: str | None = None) -> SafeString:
    """``<a href>text</a>``, "(staff)" after a staff page, the note instead of a link for a pending page."""
    text = page_label(page) if text is None else text
    url = page_url(page)
    if url is None:
        return format_html('{} <span class="muted">({})</span>', text, page.pending)
    if page.staff:
        return format_html('<a href="{}">{}</a> <span class="staff-mark">(staff)</span>', url, text)
    return format_html('<a href="{}">{}</a>', url, text)


_MARKUP = re.compile(r"`([^`]+)`|\[([^\]]+)\]")


def prose(text: str, links: Mapping[str, Page] | None = None) -> SafeString:
    """Escape ``text``; `backquotes` become ``<code>``, ``[label]`` the link ``links[label]``.

    Raises:
        KeyError: a ``[label]`` with no link.
    """
    out: list[str] = []
    pos = 0
    for m in _MARKUP.finditer(text):
        out.append(conditional_escape(text[pos:m.start()]))
        if m.group(1) is not None:
            out.append(format_html("<code>{}</code>", m.group(1)))
        else:
            out.append(link_html((links or {})[m.group(2)], m.group(2)))
        pos = m.end()
    out.append(conditional_escape(text[pos:]))
    return mark_safe("".join(out))  # noqa: S308 - every piece above is escaped or built by format_html


def lab_summary(name: str) -> dict[str, Any]:
    """A lab for the course pages: title, command, result page, and its last run (``None``: not run yet)."""
    from ops import labs  # the lab registry and its result files; ops pages depend on nothing here

    lab = labs.lab(name)
    result = labs.load_result(name)
    last = None
    if result:
        checks = [c for c in result.get("checks", []) if isinstance(c, dict)]
        last = {"started_at": result.get("started_at", ""), "quick": bool(result.get("quick")), "checks": checks,
                "met": sum(1 for c in checks if c.get("ok"))}
    return {"name": name, "title": lab.title, "command": lab.command, "section": lab.section,
            "url": reverse("ops:lab", args=(name,)), "last": last}


def _code_html(code: Code) -> SafeString:
    if code.page is None:
        return format_html("<code>{}</code>", code.path)
    return link_html(Page(code.page, staff=code.staff), format_html("<code>{}</code>", code.path))


def sections(items: Iterable[Section] = SECTIONS) -> list[dict[str, Any]]:
    """The sections with every link resolved, for ``/course/``."""
    summaries: dict[str, dict[str, Any]] = {}
    resolved = []
    for s in items:
        resolved.append({
            "number": s.number, "title": s.title, "english": s.english, "about": prose(s.about),
            "pages": [{"covers": p.covers, "html": link_html(p), "note": prose(p.note)} for p in s.pages],
            "labs": [summaries.setdefault(name, lab_summary(name)) for name in s.labs],
            "commands": [{"line": c.line, "note": prose(c.note)} for c in s.commands],
            "code": [_code_html(c) for c in s.code],
            "tests": list(s.tests),
            "left_out": [{"what": prose(x.what), "why": prose(x.why)} for x in s.left_out],
        })
    return resolved
