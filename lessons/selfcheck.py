"""The course's self-check (section 15): its ten questions, each answered with a link to what shows it.

Each answer is a short paragraph in plain prose: `backquotes` become code and
``[label]`` a link to ``links[label]`` (a ``lessons.course.Page``, so a staff
page carries its "(staff)" marker and a page still on another branch its
note). ``labs`` names the labs whose last result ``/self-check/`` shows under
the answer, checks and all. ``tests/lessons/test_course.py`` renders every
answer, follows every link, and checks that each ``[label]`` has a link and
each link is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lessons.course import WHATS_NEW, Page


@dataclass(frozen=True)
class Question:
    number: int
    vi: str  # as the course asks it
    en: str
    answer: str
    links: dict[str, Page] = field(default_factory=dict)
    labs: tuple[str, ...] = ()


def _lab(name: str) -> Page:
    return Page("ops:lab", args=(name,))


QUESTIONS: tuple[Question, ...] = (
    Question(
        1, "10 data structures Redis + 1 use case mỗi cái?", "Redis's ten data structures, and a use case for each?",
        "Strings: cached product rows with a TTL, counters by INCR ([caching]). Hashes: a cart, one field per "
        "product, quantities by HINCRBY ([cart]). Lists: the last products a visitor viewed, LPUSH then LTRIM "
        "([recently viewed]). Sets: product tags combined by SINTER, SUNION and SDIFF ([tags]). Sorted sets: the "
        "game's leaderboards, rank and top N in one round trip ([leaderboards]). Streams: the orders that workers "
        "in a consumer group fulfil ([checkout]). HyperLogLog: unique visitors per day in about 12 KB at most, beside "
        "the exact count and its error ([visitors]). Bitmaps: daily active users, one bit per user ([activity]). "
        "Geo: the nearest stores ([store locator]). Time series: orders per minute, with RedisTimeSeries or a "
        "hash per day without it ([modules]). How each is stored, and when its encoding changes: [encodings].",
        {"caching": Page("shop:caching"), "cart": Page("shop:cart"), "recently viewed": Page("shop:recent"),
         "tags": Page("shop:tags"), "leaderboards": Page("leaderboard:game"), "checkout": Page("shop:checkout"),
         "visitors": Page("shop:visitors"), "activity": Page("shop:activity"), "store locator": Page("shop:stores"),
         "modules": Page("shop:modules"), "encodings": Page("shop:encodings")},
    ),
    Question(
        2, "RDB vs AOF — pick khi nào? Combine?", "RDB or AOF: when to pick which? Both together?",
        "RDB writes a snapshot every so often: a compact file that loads fast, but a crash loses every write since "
        "the last snapshot. AOF logs every write and replays the log at start: with `appendfsync always` no "
        "acknowledged write is lost, at a cost in throughput; with `everysec`, at most about a second, and only "
        "if the machine itself goes down. The [persistence lab] kills a server with SIGKILL under load in each "
        "configuration and counts the acknowledged writes lost, the restart time and the writes per second: AOF "
        "always loses none, RDB only loses what came after its last snapshot. RDB alone suits a cache you can "
        "rebuild; AOF everysec suits sessions, counters and queues; data you keep gets both, and Redis 7's "
        "multi-part AOF starts from an RDB base, so recovery stays fast. The Redis that make run and compose "
        "start for this site runs AOF everysec with RDB snapshots.",
        {"persistence lab": _lab("persistence")}, ("persistence",),
    ),
    Question(
        3, "Sentinel vs Cluster — khác nhau, pick khi nào?", "Sentinel or Cluster: how do they differ, and when "
        "to pick which?",
        "Sentinel keeps one master available: Sentinel processes watch it, agree by quorum that it is down, "
        "promote a replica and give clients the new address. All the data still fits one master and every write "
        "goes to it. Cluster splits the keyspace into 16,384 slots over several masters, each with replicas, so "
        "memory and writes scale out; in exchange, a multi-key command must keep its keys in one slot and clients "
        "must follow MOVED and ASK redirects. The [Sentinel lab] kills a master under writes and measures the "
        "failover time, the client's error window and the acknowledged writes lost (none of those a replica "
        "confirmed with `WAIT 1`); the [cluster lab] reshards slots under load with no error reaching the "
        "application, then kills a master and watches its replica take over. Sentinel while one server holds "
        "the data and the writes; Cluster once it cannot.",
        {"Sentinel lab": _lab("sentinel"), "cluster lab": _lab("cluster")}, ("sentinel", "cluster"),
    ),
    Question(
        4, "Hashtag là gì? Trade-off?", "What is a hash tag, and what does it cost?",
        "On a Cluster a key's slot is the CRC16 of its name modulo 16,384, but when the name contains `{…}` only "
        "the part inside the braces is hashed. Keys that share a tag share a slot, so one multi-key command or "
        "script can use them together. Every cart here is `{cart}:<hash of the owner>`, so the login script can "
        "merge the visitor's cart into the user's; every key of a leaderboard carries `{<board>}`, so the weekly "
        "board can be the union of the dailies ([leaderboards]). The [cluster lab] runs the site's features on "
        "six nodes, provokes CROSSSLOT with two untagged keys and fixes it with a tag. The cost: a tag is manual "
        "sharding. Everything under one tag lives on one node, so a big or busy tag is a hot shard (all carts "
        "are written on one node here, a few small writes per shopper); tag only what must be used together.",
        {"leaderboards": Page("leaderboard:game"), "cluster lab": _lab("cluster")}, ("cluster",),
    ),
    Question(
        5, "Cache stampede — pattern phòng ngừa?", "Cache stampede: how do you prevent it?",
        "When a popular entry expires, every request that misses before it is refilled runs the same query. The "
        "shop's cache has three defences: a lease (`SET … NX PX`) lets one request reload while the others are "
        "served the stale value kept past its freshness (stale-while-revalidate), or wait for the winner when "
        "there is nothing at all; XFetch refreshes a hot entry shortly before it expires, with a probability "
        "that rises as expiry nears; and TTL jitter keeps entries written together from expiring together. The "
        "[stampede demo] sends concurrent requests at an expired key with and without protection and counts the "
        "database loads; the [stampede lab] does it over HTTP against the site, with 1,000 connections in a full "
        "run: about one load per expiry with protection, many more without.",
        {"stampede demo": Page("shop:stampede"), "stampede lab": _lab("stampede")}, ("stampede",),
    ),
    Question(
        6, "Hot key problem — 3 solutions?", "The hot-key problem: three solutions?",
        "A key every request reads lands on one Redis thread and, on a Cluster, on one node, however many nodes "
        "there are. The course's three remedies: copies of the key under several names, each with its own hash "
        "tag so that a Cluster spreads them, a reader picking one at random; a local tier in each app process in "
        "front of Redis, dropped when the value changes; and pre-aggregation or read replicas. The [hot-keys "
        "page] runs the first two on the shop's product entries and counts the reads that still reach Redis; its "
        "in-process tier is invalidated by pub/sub, and a lost message costs at most its 1 s TTL. The third is "
        "not built here: the app never reads from a replica (the Sentinel lab's replicas are for failover).",
        {"hot-keys page": Page("shop:hotkeys")},
    ),
    Question(
        7, "Streams vs List vs Pub/Sub — pick khi nào?", "Streams, lists or pub/sub: when to pick which?",
        "Pub/sub delivers a message to whoever is subscribed at that instant and keeps nothing: right for "
        "signals that are stale a second later, wrong for anything that must not be missed; [pub/sub vs "
        "streams] shows an offline subscriber losing what a stream replays. A list is a simple queue: `BLMOVE` "
        "into a processing list makes it reliable, but a popped job is gone for everyone else, with no consumer "
        "groups and no replay ([queues]). A stream is a log: consumer groups share the work, an entry stays "
        "pending until acknowledged, a dead worker's entries are claimed by another, and any reader can replay "
        "from an id. The shop's orders go through one ([checkout]), and `python manage.py lab_streams` kills a "
        "worker mid-batch and counts the orders lost: 0. The site's [notifications] use both: a stream as the "
        "record, pub/sub (the channel layer) for speed.",
        {"pub/sub vs streams": Page("realtime:pubsub_vs_streams"), "queues": Page("workers:queues"),
         "checkout": Page("shop:checkout"), "notifications": Page("realtime:notifications")},
    ),
    Question(
        8, "INCR atomic — vì sao đặc biệt với Redis?", "Why is an atomic INCR special in Redis?",
        "Redis runs commands one at a time, so INCR's read, add and write happen with nothing in between: no "
        "lock, no retry, one round trip, and the reply is the new value. A client that reads, decides and writes "
        "back in separate commands races every other client: on the [check-and-set page] 8 threads debit one "
        "balance, and the naive read-then-write can grant more than the balance holds, while the script and the "
        "WATCH transaction never do. Because each INCR returns a number no other caller got, it also hands out "
        "fencing tokens: on the [locks page] each lock holder gets one, and the database refuses a write carrying "
        "an older token. The same atomicity counts requests in the fixed-window [rate limiter] and product views "
        "(HINCRBY). It holds for one key; counters used together need one hash tag on a Cluster.",
        {"check-and-set page": Page("lessons:check_and_set"), "locks page": Page("workers:locks"),
         "rate limiter": Page("lessons:ratelimit")},
    ),
    Question(
        9, "Lua script vs MULTI/EXEC vs Pipeline?", "A Lua script, MULTI/EXEC or a pipeline?",
        "A pipeline only batches: the client sends many commands and reads the replies in one round trip, with "
        "no atomicity and no way for one command to depend on another's reply ([pipelining]: 20 reads in 20 "
        "round trips, then in 1). MULTI/EXEC runs the queued commands all together with nothing in between, "
        "still without branching on a reply; with WATCH it becomes an optimistic check-and-set, where EXEC fails "
        "if the key changed and the client retries. A Lua script (or a Redis 7 Function) runs the read, the "
        "decision and the write on the server with nothing interleaved, in one round trip and without retries. "
        "The [check-and-set page] runs the same debit both ways under 8 racing threads and counts the retries "
        "and round trips; the [scripts page] loads a script as a Function or by EVALSHA and recovers when the "
        "server forgets it. A pipeline for independent commands, MULTI/EXEC for writes that must land together, "
        "Lua when a write depends on a read.",
        {"pipelining": Page("lessons:pipelining"), "check-and-set page": Page("lessons:check_and_set"),
         "scripts page": Page("lessons:scripts")},
    ),
    Question(
        10, "Valkey vs Redis 7.4 — chọn khi nào?", "Valkey or Redis 7.4: when to choose which?",
        "For the core data structures they are the same server: Valkey forked Redis 7.2.4, and this project's "
        "whole suite runs unchanged on Redis 7.0, Valkey 9.1 and Redis Stack 7.4 (`make test-servers`). They "
        "differ in licence and in what came after the fork. Redis 7.4 is under RSALv2 or SSPL, not an "
        "OSI-approved licence (Redis 8 added AGPLv3 as a third choice), and Redis Stack brings the Search, JSON, "
        "Bloom and TimeSeries modules, which Valkey does not have. Valkey is BSD-licensed, hosted by the Linux "
        "Foundation, and offered as a managed service by AWS, Google Cloud and Oracle. The [modules page] says "
        "which path runs on the server in front of you: the module, or the fallback on core structures that a "
        "Valkey gets. [What's new] lists the features newer than Redis 7.0 the site uses and the Redis and "
        "Valkey releases that have them. Redis (Stack) when you need the modules; Valkey for an open-source "
        "licence or your cloud's managed service.",
        {"modules page": Page("shop:modules"), "What's new": WHATS_NEW},
    ),
)
