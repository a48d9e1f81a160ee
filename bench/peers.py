"""The project against what a reader would install instead, in the same run, on the same private server.

    pip install -e ".[bench]"          # the alternatives: django-ratelimit, walrus (not app dependencies)
    python -m bench peers [--pairs 15] [--calls 100] [--state busy] [--only ratelimit,caching,locks,layers,workers]

One private ``redis-server``; Django set up on it (its cache is django-redis
through the app's client factory).  In a pinned machine state (``--state``,
default busy: one ``nice -n 19`` loop per core).  Latencies are alternating
blocks against a plain ``GET`` on a plain redis-py client (the ratio per
pair, median over pairs); round trips are counted with the project's command
trace.  Each table ends with a guarantees column: what one side guarantees
that the other does not.

1. **Rate limiting**: django-ratelimit (Django cache counters) and walrus's
   ``RateLimitLua`` against the project's limiters: latency per decision,
   round trips, and admissions in the 2 s around a window boundary at 100/min
   (100 requests in the second before it, 100 in the second after; simulated
   clock for every library).
2. **Caching**: Django's cache API (``cache.get``, ``cache.get_or_set``)
   against the project's cache-aside (``redis_patterns.cache.Cache``): a hit, a
   miss with its fill, and 200 readers missing one key at once (database
   loads, with a 50 ms load).
3. **Locks**: redis-py's ``Lock`` against the project's ``Lock`` with fencing:
   acquire+release latency, and a holder paused past its TTL (what each lets
   through to the protected write).
4. **Channel layers**: channels-redis's core layer against its pub/sub layer,
   at the layer itself (1,000 channels in one process): a group send to all
   of them, publish-to-receive latency, and what each loses with a consumer
   that does not read (1,500 messages).  The WebSocket end to end is in
   ``realtime_fanout`` (both layers).
5. **Background work**: a Celery task (Redis broker, the project's Celery
   settings) against the stream worker doing the same job: end-to-end latency
   at a fixed rate, throughput with 1 and 2 worker processes, and what each
   does when its worker is killed mid-job.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis

from bench.common import (
    ROOT,
    add_state_argument,
    arguments,
    compare,
    emit,
    get_floors,
    machine_state,
    md_table,
    percentile,
    setup_django,
    spread,
)
from redis_patterns.servers import RedisServer
from redis_patterns.tracing import TracingConnection, tracing

SECTIONS = ("ratelimit", "caching", "locks", "layers", "workers")


def _round_trips(fn: Any) -> str:
    fn()  # warm (scripts loaded)
    with tracing() as trace:
        fn()
    return f"{trace.round_trip_count} ({trace.command_count} cmd)"


class FakeClock:
    """``time.time()`` for a library under test, moved by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


# --- 1. rate limiting ----------------------------------------------------------------------------


def bench_ratelimit(url: str, plain: redis.Redis, pairs: int, calls: int) -> list[str]:
    from django.test import RequestFactory
    from django_ratelimit import core as drl
    from walrus import Database
    from walrus import rate_limit as walrus_rl

    from redis_patterns import ratelimit

    traced = redis.Redis.from_url(url, decode_responses=True, connection_class=TracingConnection)
    walrus_db = Database.from_url(url, connection_class=TracingConnection)
    request = RequestFactory().get("/api/x", REMOTE_ADDR="192.0.2.1")
    big = 1_000_000

    def drl_decide() -> bool:
        return drl.is_ratelimited(request, group="bench", key="ip", rate=f"{big}/m", increment=True)

    walrus_limiter = walrus_rl.RateLimitLua(walrus_db, "bench", limit=big, per=60)
    ours = {name: cls(traced, name="bench", limit=big, period=60) for name, cls in ratelimit.LIMITERS.items()}
    contenders: dict[str, Any] = {
        "django-ratelimit 4.1 (`is_ratelimited`, django-redis cache)": drl_decide,
        "walrus 0.9 `RateLimitLua`": lambda: walrus_limiter.limit("hot"),
        **{f"ours: `{name}`": (lambda lim=lim: lim.decide("hot")) for name, lim in ours.items()},
    }
    plain.set("bench:get", "x")
    rows = []
    for label, fn in contenders.items():
        trips = _round_trips(fn)
        for _ in range(200):
            fn()
        result = compare(lambda: plain.get("bench:get"), fn, pairs=pairs, calls=calls, desc=f"[peers] {label}")
        rows.append([label, f"{percentile(result.b_ns, 0.5) / 1000:.1f}", f"{percentile(result.b_ns, 0.99) / 1000:.0f}",
                     f"**{result.ratio:.2f}x**", spread(result.ratios), trips])
    # the window edge: 100/min, 100 requests spread over the second before a boundary, 100 over the one after
    edge = {}
    boundary = 1_800_000_000.0  # a multiple of 60 s
    times = [boundary - 1 + i / 100 for i in range(100)] + [boundary + i / 100 for i in range(100)]
    for name, cls in ratelimit.LIMITERS.items():
        lim = cls(plain, name=f"edge{name}", limit=100, period=60)
        edge[f"ours: `{name}`"] = sum(lim.decide("edge", now=t).allowed for t in times)
    clock = FakeClock(0)
    saved = drl.time, walrus_rl.time
    drl.time = walrus_rl.time = clock  # type: ignore[assignment]
    try:
        # django-ratelimit staggers each key's window by crc32(key) % period: find this key's boundary
        value = "192.0.2.77"
        clock.now = boundary
        end = drl._get_window(value, 60)
        shift = end - boundary + 1  # its windows turn over when int(time) passes `end`
        req = RequestFactory().get("/api/x", REMOTE_ADDR=value)
        admitted = 0
        for t in times:
            clock.now = t + shift
            admitted += not drl.is_ratelimited(req, group="edge", key="ip", rate="100/m", increment=True)
        edge["django-ratelimit 4.1 (`is_ratelimited`, django-redis cache)"] = admitted
        w = walrus_rl.RateLimitLua(walrus_db, "edge", limit=100, per=60)
        admitted = 0
        for t in times:
            clock.now = t
            admitted += not w.limit("edge")
        edge["walrus 0.9 `RateLimitLua`"] = admitted
    finally:
        drl.time, walrus_rl.time = saved
    # does the library leave keys without a TTL? (subjects below their limit)
    probe = walrus_rl.RateLimitLua(walrus_db, "ttlprobe", limit=100, per=60)
    probe.limit("someone")
    walrus_ttl = plain.ttl("ttlprobe:someone")
    guarantees = {
        "django-ratelimit 4.1 (`is_ratelimited`, django-redis cache)":
            "Any Django cache backend; a fixed window staggered per key (up to 2x at the key's edge). Not atomic "
            "across add+incr on every backend; no Retry-After or remaining count; counts refused requests.",
        "walrus 0.9 `RateLimitLua`":
            "A sliding log in a list (exact over any 60 s) like our `sliding_log`; the app server's clock; "
            f"a subject below its limit has no TTL (probe: TTL {walrus_ttl}); no retry-after, no cost.",
        "ours: `fixed_window`": "Redis TIME; retry-after/remaining/reset; refused requests not counted; 2x at the edge.",
        "ours: `sliding_log`": "Exact over any period; memory per admitted unit.",
        "ours: `sliding_window`": "Constant memory; approximate (weighted previous window).",
        "ours: `token_bucket`": "Burst of `limit`, then the rate; constant memory.",
        "ours: `gcra`": "Same admissions as the bucket, one timestamp.",
        "ours: `fixed_window_plain`": "No Lua (about a GET); the app server's clock; refused requests counted.",
    }
    for row in rows:
        row += [str(edge[row[0]]), guarantees[row[0]]]
    traced.close()
    return [
        "## 1. Rate limiting", "",
        f"Latency per decision against a plain `GET` ({pairs} alternating pairs × {calls} calls; limit "
        "1,000,000/min so every call is admitted and writes). Window edge: limit 100/min; 100 requests in the "
        "second before a window boundary and 100 in the second after; how many each admits (a sliding limit "
        "admits about 100, a fixed window 200).", "",
        *md_table(["limiter", "p50 µs", "p99 µs", "vs GET (median of pairs)", "IQR", "round trips",
                   "admitted in the 2 s around a boundary", "guarantees"], rows, align="lrrrrrrl"),
        "",
    ]


# --- 2. caching -----------------------------------------------------------------------------------


def bench_caching(plain: redis.Redis, pairs: int, calls: int, readers: int = 200, load_ms: float = 50) -> list[str]:
    from django.core.cache import cache as django_cache

    from config.redis import get_redis
    from redis_patterns.cache import Cache, CachePolicy
    from redis_patterns.scripts import loader

    ours = Cache(get_redis, loader("redis_patterns"))
    policy = CachePolicy(ttl=300.0, jitter=0.0, stale_ttl=60.0, negative_ttl=30.0)
    value = {"id": 1, "name": "A product", "price": "9.99", "tags": ["a", "b", "c"], "description": "x" * 300}
    django_cache.set("peer:hit", value, 300)
    ours.get("bench:{hit}", "bench:{hit}:lease", lambda: value, policy)
    plain.set("bench:get", "x")
    counter = {"n": 0}

    def miss_key() -> str:
        counter["n"] += 1
        return str(counter["n"])

    contenders = {
        "Django `cache.get` (django-redis, JSON), hit": lambda: django_cache.get("peer:hit"),
        "ours: `Cache.get`, hit": lambda: ours.get("bench:{hit}", "bench:{hit}:lease", lambda: value, policy),
        "Django `cache.get_or_set`, miss + fill": lambda: django_cache.get_or_set(f"peer:m{miss_key()}", value, 300),
        "ours: `Cache.get`, miss + fill": lambda: (lambda k: ours.get(f"bench:{{m{k}}}", f"bench:{{m{k}}}:lease",
                                                                      lambda: value, policy))(miss_key()),
    }
    rows = []
    for label, fn in contenders.items():
        trips = _round_trips(fn)
        result = compare(lambda: plain.get("bench:get"), fn, pairs=pairs, calls=calls, warmup=100,
                         desc=f"[peers] {label}")
        rows.append([label, f"{percentile(result.b_ns, 0.5) / 1000:.1f}", f"**{result.ratio:.2f}x**",
                     spread(result.ratios), trips])

    def stampede(get_one: Any) -> tuple[int, float, float]:
        loads = {"n": 0}
        lock = threading.Lock()

        def load() -> dict:
            with lock:
                loads["n"] += 1
            time.sleep(load_ms / 1000)
            return value

        barrier = threading.Barrier(readers)
        waits: list[float] = []

        def reader() -> None:
            barrier.wait()
            t0 = time.perf_counter()
            got = get_one(load)
            waits.append((time.perf_counter() - t0) * 1000)
            assert got == value or getattr(got, "value", None) == value

        threads = [threading.Thread(target=reader) for _ in range(readers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return loads["n"], percentile(waits, 0.5), percentile(waits, 0.99)

    runs = {"django": [], "ours": []}
    for i in range(3):
        runs["django"].append(stampede(lambda load, i=i: django_cache.get_or_set(f"peer:st{i}", load, 300)))
        runs["ours"].append(stampede(lambda load, i=i: ours.get(f"bench:{{st{i}}}", f"bench:{{st{i}}}:lease", load,
                                                                  policy)))
    st_rows = [(label, " / ".join(str(r[0]) for r in got), f"{statistics.median(r[1] for r in got):.0f}",
                f"{statistics.median(r[2] for r in got):.0f}")
               for label, got in (("Django `cache.get_or_set`", runs["django"]),
                                  ("ours: `Cache.get` (lease, single flight)", runs["ours"]))]
    page_rows = _whole_page(plain, ours, policy, value, pairs, calls)
    return [
        "## 2. Caching", "",
        f"A hit and a miss with its fill, against a plain `GET` ({pairs} pairs × {calls} calls; a 400-byte JSON "
        "product). The project's entry carries its own expiry and load time (XFetch early refresh) in the value.",
        "",
        *md_table(["operation", "p50 µs", "vs GET", "IQR", "round trips"], rows),
        "",
        f"Stampede: {readers} threads miss one key at the same moment; the load takes {load_ms:.0f} ms (3 runs).",
        "",
        *md_table(["", "database loads per run", "p50 wait ms", "p99 wait ms"], st_rows),
        "",
        f"Whole page, a hit: Django's `cache_page` against the project's cache-aside read plus the render "
        f"({pairs} pairs × {calls} requests through `RequestFactory` and the view, no server; the same template "
        "for both, about 500 bytes of HTML). `cache_page` stores the `HttpResponse` object, which JSON cannot "
        "hold: it needs a pickling cache, which this project refuses (a system check), so it runs here on a "
        "pickle-serialized django-redis alias of the bench's private server only.",
        "",
        *md_table(["per request", "p50 µs", "vs GET", "IQR", "round trips"], page_rows),
        "",
        *md_table(["side", "guarantees the other does not"], align="ll", rows=[
            ("`cache_page`", "Skips the view and the render on a hit, whatever they cost: it pays two GETs (the "
             "header list, then the page), an MD5 of the URL and unpickling a response instead, so it wins "
             "when the render is heavier than the small template here; any backend. But: "
             "pickle from the cache (whoever can write to Redis can run code in the app), one copy per URL "
             "and `Vary` header value (per session copies for anything personal, or one visitor's page shown "
             "to another if `Vary: Cookie` is missing), and no invalidation on write: the key is a hash of "
             "the URL, so a price change shows after the TTL."),
            ("ours (data, then render)", "JSON only; one entry per product shared by every page and user "
             "that shows it, deleted after the write commits (the next view sees the new price); personal "
             "parts of the page render per request. Costs the render on every hit."),
        ]),
        "",
        *md_table(["side", "guarantees the other does not"], align="ll", rows=[
            ("Django's cache API", "Any backend behind one API (`cache_page`, template fragments, sessions); "
             "`get_or_set` is get-then-set: every reader that misses loads (no stampede protection), and a TTL "
             "expiry is a hard miss for everyone at once."),
            ("ours", "One load per miss however many readers (a lease), stale-while-revalidate, early refresh "
             "before expiry (XFetch), negative caching, a breaker that bypasses a dead Redis; Redis only."),
        ]),
        "",
    ]


def _whole_page(plain: redis.Redis, ours: Any, policy: Any, value: dict, pairs: int, calls: int) -> list[list[str]]:
    """``cache_page`` hit vs the project's data cache hit + render, per request through the view."""
    from django.core.cache import caches
    from django.http import HttpResponse
    from django.template import Context, Engine
    from django.test import RequestFactory
    from django.views.decorators.cache import cache_page

    # A pickling alias on the bench's private server, for cache_page only (never in the app's settings).
    caches.settings["peer_pickle"] = {
        **caches.settings["default"], "KEY_PREFIX": "peer-page",
        "OPTIONS": {"CONNECTION_FACTORY": "config.redis.DjangoRedisConnectionFactory"},  # django-redis's pickle
    }
    template = Engine().from_string(
        "<article><h1>{{ p.name }}</h1><p class=price>{{ p.price }}</p><ul>{% for t in p.tags %}<li>{{ t }}</li>"
        "{% endfor %}</ul><p>{{ p.description }}</p></article>")

    def render(product: dict) -> HttpResponse:
        return HttpResponse(template.render(Context({"p": product})))

    def view_ours(request: Any) -> HttpResponse:
        return render(ours.get("bench:{hit}", "bench:{hit}:lease", lambda: value, policy).value)

    page_view = cache_page(300, cache="peer_pickle")(lambda request: render(value))
    from django.conf import settings

    if not {"localhost", "*"} & set(settings.ALLOWED_HOSTS):  # cache_page builds the absolute URL: Host is checked
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    request = RequestFactory(HTTP_HOST="localhost").get("/products/1/")
    first = page_view(request)  # fills the page and its header list
    assert page_view(request).content == first.content == view_ours(request).content
    rows = []
    for label, fn in (("`cache_page` hit (pickle)", lambda: page_view(request)),
                      ("ours: `Cache.get` hit + render", lambda: view_ours(request))):
        trips = _round_trips(fn)
        result = compare(lambda: plain.get("bench:get"), fn, pairs=pairs, calls=calls, warmup=100,
                         desc=f"[peers] {label}")
        rows.append([label, f"{percentile(result.b_ns, 0.5) / 1000:.1f}", f"**{result.ratio:.2f}x**",
                     spread(result.ratios), trips])
    return rows


# --- 3. locks -------------------------------------------------------------------------------------


def bench_locks(url: str, plain: redis.Redis, pairs: int, calls: int) -> list[str]:
    from redis.exceptions import LockNotOwnedError

    from redis_patterns.lock import Lock
    from workers.locks import fenced_write, resource_state

    traced = redis.Redis.from_url(url, decode_responses=True, connection_class=TracingConnection)
    theirs = traced.lock("bench:rlock", timeout=10, blocking=False)
    ours = Lock(traced, "bench:{olock}", "bench:{olock}:fence", ttl_ms=10_000)

    def redis_py_cycle() -> None:
        assert theirs.acquire()
        theirs.release()

    def our_cycle() -> None:
        lease = ours.try_acquire()
        assert lease is not None
        ours.release(lease)

    plain.set("bench:get", "x")
    rows = []
    for label, fn in (("redis-py `Lock` acquire+release", redis_py_cycle),
                      ("ours: `Lock` acquire+release (fencing token)", our_cycle)):
        trips = _round_trips(fn)
        result = compare(lambda: plain.get("bench:get"), fn, pairs=pairs, calls=calls, warmup=100,
                         desc=f"[peers] {label}")
        rows.append([label, f"{percentile(result.b_ns, 0.5) / 1000:.1f}", f"**{result.ratio:.2f}x**",
                     spread(result.ratios), trips])

    # The paused holder: A takes the lock (TTL 200 ms) and stalls 300 ms (a GC pause, a stopped VM);
    # B takes the expired lock and writes; A wakes up and writes too.
    ttl = 0.2
    writes: list[str] = []
    a = traced.lock("bench:paused", timeout=ttl, blocking=False)
    b = traced.lock("bench:paused", timeout=ttl, blocking=False)
    assert a.acquire()
    time.sleep(ttl * 1.5)
    assert b.acquire()
    writes.append("B")
    writes.append("A")  # redis-py gives A nothing to prove it lost the lock: the write goes through
    try:
        a.release()
        a_release = "no error"
    except LockNotOwnedError:
        a_release = "`LockNotOwnedError` (after the write)"
    b.release()
    theirs_row = f"{len(writes)} of 2 (A and B both wrote); A's release: {a_release}"

    lock = Lock(traced, "bench:{paused}", "bench:{paused}:fence", ttl_ms=int(ttl * 1000))
    lease_a = lock.try_acquire()
    time.sleep(ttl * 1.5)
    lease_b = lock.try_acquire()
    assert lease_a is not None and lease_b is not None
    accepted_b = fenced_write(resource="peers-paused", value={"by": "B"}, fence=lease_b.fence, writer="B")
    accepted_a = fenced_write(resource="peers-paused", value={"by": "A"}, fence=lease_a.fence, writer="A")
    a_released = lock.release(lease_a)
    lock.release(lease_b)
    row = resource_state("peers-paused")
    ours_row = (f"{int(accepted_a) + int(accepted_b)} of 2: B's write (fence {lease_b.fence}) accepted, A's (fence "
                f"{lease_a.fence}) {'accepted' if accepted_a else 'rejected by the database'}; the row says "
                f"{row.value if row else '?'}; A's release: {'released' if a_released else 'refused (not its lock)'}")
    traced.close()
    return [
        "## 3. Locks", "",
        f"Acquire + release against a plain `GET` ({pairs} pairs × {calls} calls).", "",
        *md_table(["operation", "p50 µs", "vs GET", "IQR", "round trips"], rows),
        "",
        "A holder paused past its TTL: A takes the lock (TTL 200 ms) and stalls 300 ms; B takes it and writes; A "
        "wakes up and writes.", "",
        *md_table(["lock", "writes that reached the resource"], [("redis-py `Lock`", theirs_row),
                                                                  ("ours: `Lock` + `fenced_write`", ours_row)]),
        "",
        *md_table(["side", "guarantees the other does not"], align="ll", rows=[
            ("redis-py `Lock`", "Blocking acquire with a sleep loop, thread-local tokens, `extend`/`reacquire`, "
             "no extra keys; part of redis-py. It cannot stop a paused holder's write: nothing travels with it."),
            ("ours", "A fencing token per acquisition (monotonic, same hash slot), which the protected write checks "
             "in one statement, so a stale holder's write is refused; Redlock over several servers; async twin."),
        ]),
        "",
    ]


# --- 4. channel layers ----------------------------------------------------------------------------


async def _layer_run(layer: Any, n: int, backlog: int) -> dict:
    channels = [await layer.new_channel() for _ in range(n)]
    for name in channels:
        await layer.group_add("bench", name)
    await asyncio.sleep(0.2)
    fan = []
    for _ in range(5):
        t0 = time.perf_counter()
        await layer.group_send("bench", {"type": "x", "t": t0})
        done = await asyncio.gather(*(layer.receive(c) for c in channels))
        assert len(done) == n
        fan.append((time.perf_counter() - t0) * 1000)
    solo = []
    for _ in range(50):
        t0 = time.perf_counter()
        await layer.send(channels[0], {"type": "x"})
        await layer.receive(channels[0])
        solo.append((time.perf_counter() - t0) * 1000)
    # a consumer that does not read: `backlog` messages, then read what is there
    slow = channels[1]
    for i in range(backlog):
        await layer.group_send("bench", {"type": "x", "i": i})
    got = 0
    # the other channels' backlogs are dropped with the layer; read the slow one until it is empty
    with contextlib.suppress(TimeoutError):
        while True:
            await asyncio.wait_for(layer.receive(slow), 0.5)
            got += 1
    await layer.flush()
    return {"fan": fan, "solo": solo, "kept": got}


def bench_layers(url: str, n: int = 1000, backlog: int = 1500) -> list[str]:
    from channels_redis.core import RedisChannelLayer
    from channels_redis.pubsub import RedisPubSubChannelLayer

    layers = {
        "core (`RedisChannelLayer`, capacity 1000, expiry 60)": lambda: RedisChannelLayer(
            hosts=[url], prefix="peers", capacity=1000, expiry=60),
        "pub/sub (`RedisPubSubChannelLayer`)": lambda: RedisPubSubChannelLayer(hosts=[url], prefix="peers"),
    }
    rows = []
    for label, make in layers.items():
        result = asyncio.run(_layer_run(make(), n, backlog))
        rows.append((label, f"{statistics.median(result['fan']):.0f}", f"{max(result['fan']):.0f}",
                     f"{percentile(result['solo'], 0.5):.2f}", f"{percentile(result['solo'], 0.99):.2f}",
                     f"{result['kept']:,} of {backlog:,}"))
    return [
        "## 4. Channel layers", "",
        f"At the layer itself, in one process (no WebSockets): {n:,} channels in one group; a `group_send` until "
        f"every channel has received it (5 times); `send` → `receive` on one channel (50 times); then {backlog:,} "
        "group messages while one channel reads nothing, and what that channel can still read.", "",
        *md_table(["layer", "group send to 1,000: median ms", "max ms", "publish → receive p50 ms", "p99 ms",
                   "slow consumer: messages still there"], rows),
        "",
        *md_table(["layer", "guarantees the other does not"], align="ll", rows=[
            ("core", "Messages wait in Redis for a consumer that is busy or reconnecting (up to `expiry`); a "
             "channel holds at most `capacity` (the rest of a group send is dropped, the sender never blocks); "
             "works for `send` to a channel in another process. Cost: one stored copy per channel per group "
             "send, and the receiving process pops them one at a time."),
            ("pub/sub", "One `PUBLISH` per group send whatever the group's size, handed to the process's "
             "channels in memory. No capacity or expiry: a consumer that does not read grows the server's memory; "
             "a message published while a process's subscription is down is lost."),
        ]),
        "",
        "End to end over WebSockets (1,000 and 5,000 sockets, both layers): `docs/benchmarks/realtime_fanout.md`.",
        "",
    ]


# --- 5. background work ---------------------------------------------------------------------------

STREAM = "bench:{peers}:jobs"
DONE = {"celery": "bench:{peers}:celery-done", "stream": "bench:{peers}:stream-done"}


class Side:
    """Start workers of one system and hand it jobs: Celery (``bench.peers_tasks``) or the stream worker."""

    def __init__(self, kind: str, env: dict[str, str], tmp: Path) -> None:
        self.kind, self.env, self.tmp = kind, {**env, "PEERS_DONE_KEY": DONE[kind]}, tmp
        self.procs: list[subprocess.Popen] = []
        os.environ["PEERS_DONE_KEY"] = DONE["celery"]  # the Celery client side (bench.peers_tasks) reads it
        if kind == "celery":
            from bench import peers_tasks

            self.tasks = peers_tasks

    def start(self, n: int = 1) -> None:
        for _ in range(n):
            i = len(self.procs)
            if self.kind == "celery":
                cmd = [sys.executable, "-m", "celery", "-A", "bench.peers_tasks", "worker", "-c", "1", "-P", "solo",
                       "-n", f"peers{i}@%h", "--without-heartbeat", "--without-mingle", "--without-gossip",
                       "-l", "warning"]
            else:
                cmd = [sys.executable, "-m", "bench.peers_stream", STREAM, "peers", f"w{i}"]
            log = (self.tmp / f"{self.kind}-{i}.log").open("wb")
            self.procs.append(subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT))
        self._ready(len([p for p in self.procs if p.poll() is None]))

    def _ready(self, n: int) -> None:
        from config.redis import get_redis

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.kind == "celery":
                if len(self.tasks.app.control.ping(timeout=0.5) or []) >= n:
                    return
            else:
                try:
                    consumers = get_redis().xinfo_consumers(STREAM, "peers")
                    if len(consumers) >= len(self.procs):
                        return
                except Exception:  # noqa: S110 - the group does not exist before the first worker starts
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"{self.kind} workers did not start")

    def submit(self, job_id: str, job: str = "record") -> None:
        from config.redis import get_redis

        if self.kind == "celery":
            if job == "slow":
                self.tasks.slow.delay(job_id)
            else:
                self.tasks.record.delay(job_id, time.time())
        else:
            get_redis().xadd(STREAM, {"id": job_id, "job": job})

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []


def _reset(client: Any) -> None:
    for key in (*DONE.values(), STREAM, "bench:{peers}:slow", "bench:{peers}:sslow", "bench:{peers}:slow-started",
                "bench:{peers}:sslow-started"):
        client.delete(key)
    client.xgroup_create(STREAM, "peers", id="$", mkstream=True)


def _wait_done(client: Any, kind: str, n: int, timeout: float = 120) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while client.hlen(DONE[kind]) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return {k: float(v) for k, v in client.hgetall(DONE[kind]).items()}


def bench_workers(env: dict[str, str], tmp: Path, rate: float = 20, seconds: float = 10, jobs: int = 1000) -> list[str]:
    """Celery (the project's settings) and the stream worker, each in worker processes of its own."""
    from config.redis import get_redis

    client = get_redis()
    latency_rows, throughput, killed = [], {}, {}
    for kind in ("celery", "stream"):
        label = "Celery task (`.delay()`, solo pool)" if kind == "celery" else "stream worker (`XADD`, `StreamWorker`)"
        # end-to-end latency at a fixed rate, one worker process
        _reset(client)
        side = Side(kind, env, tmp)
        try:
            side.start(1)
            sent: dict[str, float] = {}
            t_next = time.time()
            end = t_next + seconds
            i = 0
            while t_next < end:
                now = time.time()
                if now < t_next:
                    time.sleep(t_next - now)
                sent[str(i)] = time.time()
                side.submit(str(i))
                i += 1
                t_next += 1 / rate
            done = _wait_done(client, kind, len(sent))
            lat = [(done[k] - sent[k]) * 1000 for k in sent if k in done]
            latency_rows.append([label, len(sent), f"{percentile(lat, 0.5):.1f}", f"{percentile(lat, 0.99):.1f}",
                                 len(sent) - len(lat)])
        finally:
            side.stop()
        # throughput: `jobs` submitted at once, 1 and then 2 worker processes
        for procs in (1, 2):
            _reset(client)
            side = Side(kind, env, tmp)
            try:
                side.start(procs)
                t0 = time.perf_counter()
                for j in range(jobs):
                    side.submit(f"t{j}")
                _wait_done(client, kind, jobs)
                throughput[(kind, procs)] = jobs / (time.perf_counter() - t0)
            finally:
                side.stop()
            sys.stderr.write(f"[peers] {kind} {procs} process(es): {throughput[(kind, procs)]:.0f} jobs/s\n")
        # killed mid-task: a 2 s job, SIGKILL one moment in, a new worker started
        _reset(client)
        side = Side(kind, env, tmp)
        prefix = "bench:{peers}:" + ("slow" if kind == "celery" else "sslow")
        try:
            side.start(1)
            side.submit("k1", "slow")
            deadline = time.monotonic() + 30
            while not client.exists(prefix + "-started") and time.monotonic() < deadline:
                time.sleep(0.02)
            side.procs[0].send_signal(signal.SIGKILL)
            side.procs[0].wait()
            side.procs = []
            t_kill = time.monotonic()
            side.start(1)
            while int(client.get(prefix) or 0) < 1 and time.monotonic() - t_kill < 15:
                time.sleep(0.05)
            ran = int(client.get(prefix) or 0)
            killed[kind] = (f"ran **{ran}** time(s) within 15 s of the kill"
                            + (f" (after {time.monotonic() - t_kill:.1f} s)" if ran else ""))
        finally:
            side.stop()
    for row in latency_rows:
        kind = "celery" if row[0].startswith("Celery") else "stream"
        row += [f"{throughput[(kind, 1)]:,.0f}", f"{throughput[(kind, 2)]:,.0f}",
                f"{throughput[(kind, 2)] / throughput[(kind, 1)]:.2f}x", killed[kind]]
    return [
        "## 5. Background work", "",
        f"The same two jobs both ways (record when it ran: one `HSET`; or work 2 s), each system's workers in their "
        f"own processes: Celery with the project's settings (Redis broker, JSON, `acks_late`, visibility timeout one "
        f"hour), solo pool, one process per worker; the stream worker (`redis_patterns.streams`, `COUNT 100`, "
        f"entries idle 3 s claimed by another consumer). Latency: from submit to the job recording that it ran, "
        f"{rate:.0f}/s for {seconds:.0f} s, one worker process. Throughput: {jobs:,} jobs submitted at once, until all "
        "have run (submitting included, one job at a time from this process; the job is a single `HSET`, so on "
        "2 cores a second process mostly competes for CPU: `streams` shows the scaling when jobs wait on a "
        "database). Killed: the 2 s job, its worker SIGKILLed while it runs, a new worker started (the stream "
        "worker under the same consumer name, so it finds its own pending entry).", "",
        *md_table(["", "jobs", "p50 ms", "p99 ms", "lost", "jobs/s, 1 process", "jobs/s, 2 processes",
                   "2 vs 1", "killed mid-job"], latency_rows, align="lrrrrrrrl"),
        "",
        *md_table(["side", "guarantees the other does not"], align="ll", rows=[
            ("Celery", "Retries with countdowns, ETAs, rate limits, chords/groups, result backends, beat, any "
             "broker. With the Redis broker and `acks_late`, a job whose worker died comes back only after the "
             "visibility timeout (an hour here: set for the longest job); without `acks_late` it is lost."),
            ("stream worker", "Per-entry acknowledgement; a pending list anyone can inspect (`XPENDING`); a dead "
             "worker's entries claimed by another after `claim_idle_ms` (seconds, set per stream); dead letters "
             "after N deliveries; replay from any id. At-least-once: handlers must be idempotent (the orders' "
             "guarded transition is)."),
        ]),
        "",
    ]


def main(argv: list[str] | None = None) -> str:
    parser = arguments(__doc__)
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    add_state_argument(parser)
    args = parser.parse_args(argv)
    if args.state == "both":
        parser.error("peers runs in one state at a time")
    only = [s for s in args.only.split(",") if s]
    out: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    with RedisServer(name="bench-peers") as server, machine_state(args.state) as ms:
        env = setup_django(server, migrate=True, VAR_DIR=str(tmp))
        plain = redis.Redis.from_url(server.url, decode_responses=True)
        floors = get_floors(plain, server.port)
        if "ratelimit" in only:
            out += bench_ratelimit(server.url, plain, args.pairs, args.calls)
        if "caching" in only:
            out += bench_caching(plain, args.pairs, args.calls)
        if "locks" in only:
            out += bench_locks(server.url, plain, args.pairs, args.calls)
        if "layers" in only:
            out += bench_layers(server.url)
        if "workers" in only:
            out += bench_workers(env, tmp)
        plain.close()
    return emit([
        ms.describe() + ".", "", floors.line() + ".", "",
        "Versions: django-ratelimit 4.1.0, walrus 0.9.8 (the `bench` extra), redis-py 7.0.1, django-redis 7.0.0, "
        "channels-redis 4.3.0, Celery 5.7.0.", "",
        *out,
        "When to pick which: see the README's benchmark section.",
    ])



if __name__ == "__main__":
    main()
