"""The runs behind the stampede and hot-key demo pages (and ``bench/shop_stampede.py``).

They use the real cache code (``redis_patterns.cache``, ``shop.selectors``)
against the real Redis and database; the only thing simulated is the cost
of an expensive query (``load_ms``), stated on the page.
"""

from __future__ import annotations

import secrets
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection

from config.redis import build_client, build_connection
from redis_patterns import hotkeys
from redis_patterns.cache import CachePolicy, encode
from redis_patterns.tracing import tracing
from redis_patterns.tracking import TrackingCache, TrackingMode
from shop import caching, keys, selectors
from shop.caching import ReadTier
from shop.models import Product

STRATEGIES = ("naive", "single_flight")
SCENARIOS = ("cold", "expired")


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), int(round(q / 100 * len(sorted_values) + 0.5))))
    return sorted_values[rank - 1]


@dataclass
class StampedeResult:
    strategy: str
    scenario: str
    requests: int
    load_ms: float
    db_loads: int
    states: dict[str, int]
    latencies_ms: list[float] = field(repr=False)

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)

    @property
    def max(self) -> float:
        return self.latencies_ms[-1] if self.latencies_ms else 0.0

    @property
    def mean(self) -> float:
        return statistics.fmean(self.latencies_ms) if self.latencies_ms else 0.0

    def histogram(self, buckets: int = 12, top: float | None = None) -> list[dict[str, Any]]:
        """Counts per latency bucket, for the page's bar chart."""
        top = top or self.max or 1.0
        width = top / buckets
        counts = [0] * buckets
        for value in self.latencies_ms:
            counts[min(buckets - 1, int(value / width))] += 1
        peak = max(counts) or 1
        return [{"upto": (i + 1) * width, "count": c, "pct": round(100 * c / peak)} for i, c in enumerate(counts)]


def stampede_run(*, strategy: str, scenario: str, requests: int = 50, load_ms: float = 50.0,
                 product_id: int | None = None) -> StampedeResult:
    """Fire ``requests`` concurrent reads at one cold (or just-expired) key and count database loads.

    Args:
        strategy: ``"naive"`` (everyone who misses loads) or ``"single_flight"``
            (lease + stale-while-revalidate + cold-key followers wait).
        scenario: ``"cold"`` (no entry at all) or ``"expired"`` (an entry whose
            freshness ran out a moment ago, still inside its stale window).
        requests: concurrent readers (threads, released together by a barrier).
        load_ms: simulated extra cost of the query, on top of the real one.
        product_id: the row the loader reads (default: the first product).
    """
    if strategy not in STRATEGIES or scenario not in SCENARIOS:
        raise ValueError(f"strategy in {STRATEGIES}, scenario in {SCENARIOS}")
    product_id = product_id or Product.objects.order_by("id").values_list("id", flat=True).first() or 0
    cache = caching.cache()
    run_id = secrets.token_hex(4)
    key, lease = keys.demo_key("stampede", strategy, run_id), keys.demo_lease_key("stampede", strategy, run_id)
    policy = CachePolicy(ttl=60, jitter=0, stale_ttl=60, lease_ttl=10, wait_timeout=10, xfetch_beta=0,
                         single_flight=(strategy == "single_flight"))
    if scenario == "expired":
        old = selectors.product_load(product_id)
        cache.client.set(key, encode(old, fresh_until=cache.clock() - 0.001, delta=load_ms / 1000), px=120_000)

    loads = 0
    loads_lock = threading.Lock()

    def loader() -> Any:
        nonlocal loads
        with loads_lock:
            loads += 1
        value = selectors.product_load(product_id)  # the real query...
        time.sleep(load_ms / 1000)  # ...plus the simulated cost of an expensive one
        return value

    barrier = threading.Barrier(requests)
    latencies: list[float] = []
    states: Counter[str] = Counter()
    results_lock = threading.Lock()

    def reader() -> None:
        try:
            barrier.wait(timeout=30)
            t0 = time.perf_counter()
            lookup = cache.get(key, lease, loader, policy)
            elapsed = (time.perf_counter() - t0) * 1000
            with results_lock:
                latencies.append(elapsed)
                states[lookup.state.value] += 1
        finally:
            connection.close()  # each thread opened its own database connection

    try:
        with ThreadPoolExecutor(max_workers=requests) as pool:
            for future in [pool.submit(reader) for _ in range(requests)]:
                future.result()
    finally:
        cache.client.delete(key, lease)
    return StampedeResult(strategy, scenario, requests, load_ms, loads, dict(states), sorted(latencies))


#: What each tier does when its connection to Redis drops (the tests in tests/redis_patterns prove it).
ON_DROP = {
    ReadTier.REDIS: "nothing local: a read that cannot reach Redis goes to the database (X-Cache: bypass)",
    ReadTier.LOCAL: "the listener reconnects and clears the tier; meanwhile entries live out their "
                    "TTL (1 s): stale for up to 1 s after the drop",
    ReadTier.REPLICAS: "nothing local, as a plain read",
    ReadTier.TRACKING: "flushed the moment the drop is seen; a silent drop (no error, no bytes) is served "
                       f"at most {caching.TRACKING_MAX_SILENCE:g} s after the last heartbeat answer",
    ReadTier.TRACKING_BCAST: "as default tracking",
}


@dataclass
class HotKeyResult:
    tier: str
    reads: int
    commands: int
    round_trips: int
    per_key: list[dict[str, Any]]
    get_calls_server: int | None
    states: dict[str, int]
    entries: int | None = None        # the tier's local copy in this process after the run
    memory_bytes: int | None = None   # ... and its approximate size
    served_locally: int = 0           # reads answered without Redis

    @property
    def on_drop(self) -> str:
        return ON_DROP[ReadTier(self.tier)]

    @property
    def redis_reads(self) -> int:
        return sum(row["count"] for row in self.per_key)

    @property
    def busiest_share(self) -> float:
        """Share of the Redis reads that hit the busiest key (1.0 = all on one key)."""
        total = sum(row["count"] for row in self.per_key)
        return (self.per_key[0]["count"] / total) if total else 0.0


def hotkey_run(*, tier: ReadTier, product_id: int, reads: int = 200) -> HotKeyResult:
    """Read one product ``reads`` times through ``tier``; count which keys Redis served.

    The per-key counts come from the command trace of this run; the server's
    ``INFO commandstats`` delta for ``GET`` is shown beside them (server-wide,
    so other traffic adds to it).
    """
    client = caching.cache().client
    before = _get_calls(client)
    states: Counter[str] = Counter()
    local = 0
    with tracing(f"hotkeys:{tier}") as trace:
        for _ in range(reads):
            read = selectors.product_get(product_id, tier=tier)
            states[read.state.value] += 1
            local += read.tier in (ReadTier.LOCAL.value, ReadTier.TRACKING.value, ReadTier.TRACKING_BCAST.value)
    after = _get_calls(client)
    per_key: Counter[str] = Counter()
    for rt in trace.round_trips:
        for row in rt.describe():
            if row["name"] == "GET" and row["key"]:
                per_key[row["key"]] += 1
    total = sum(per_key.values()) or 1
    rows = [{"key": k, "count": c, "pct": round(100 * c / total)} for k, c in per_key.most_common()]
    delta = None if before is None or after is None else after - before
    entries = memory = None
    if tier == ReadTier.LOCAL:
        tier_cache = caching.local_tier()
        entries, memory = len(tier_cache), tier_cache.memory_bytes()
    elif tier in (ReadTier.TRACKING, ReadTier.TRACKING_BCAST):
        tracker = caching.tracking_cache(tier)
        if tracker is not None:
            entries, memory = len(tracker), tracker.memory_bytes()
    return HotKeyResult(tier.value, reads, trace.command_count, trace.round_trip_count, rows, delta, dict(states),
                        entries=entries, memory_bytes=memory, served_locally=local)


# --- staleness: from a write to the moment every reader sees it ---------------------------------


class _Reader:
    """One reader with its own connections, as one app process has (demo keys, not the catalog)."""

    def __init__(self, tier: ReadTier, key: str, replica_keys: list[str]) -> None:
        self.tier, self.key, self.replica_keys = tier, key, replica_keys
        self.client = build_client(socket_timeout=5.0)
        self.local: hotkeys.LocalTier | None = None
        self.bus: hotkeys.InvalidationBus | None = None
        self.tracker: TrackingCache | None = None
        if tier == ReadTier.LOCAL:
            self.local = hotkeys.LocalTier(ttl=float(getattr(settings, "SHOP_LOCAL_TIER_TTL", 1.0)))
            self.bus = hotkeys.InvalidationBus(lambda: build_client(socket_timeout=5.0),
                                               keys.invalidation_channel(), self.local).start()
        elif tier in (ReadTier.TRACKING, ReadTier.TRACKING_BCAST):
            bcast = tier == ReadTier.TRACKING_BCAST
            self.tracker = TrackingCache(
                lambda protocol: build_connection(protocol=protocol, socket_timeout=5.0),
                mode=TrackingMode.BCAST if bcast else TrackingMode.DEFAULT, prefixes=(key,) if bcast else (),
                heartbeat=caching.TRACKING_HEARTBEAT, max_silence=caching.TRACKING_MAX_SILENCE,
                dead_after=caching.TRACKING_DEAD_AFTER, name="staleness demo").start()

    def ready(self, timeout: float = 5.0) -> bool:
        if self.bus is not None:
            return self.bus.subscribed.wait(timeout)
        if self.tracker is not None:
            return self.tracker.ready.wait(timeout)
        return True

    def read(self) -> Any:
        if self.tracker is not None:
            return self.tracker.read(self.key)[0]
        if self.local is not None:
            value = self.local.get(self.key)
            if value is self.local.MISSING:
                value = self.client.get(self.key)
                self.local.put(self.key, value)
            return value
        if self.replica_keys:
            return self.client.get(hotkeys.pick_replica(self.replica_keys))
        return self.client.get(self.key)

    def memory_bytes(self) -> int:
        if self.tracker is not None:
            return self.tracker.memory_bytes()
        return self.local.memory_bytes() if self.local is not None else 0

    def close(self) -> None:
        for closable in (self.bus, self.tracker):
            if closable is not None:
                closable.stop()
        self.client.close()


@dataclass
class StalenessResult:
    tier: str
    readers: int
    delays_ms: list[float] = field(repr=False)  # per write, sorted: until the last reader saw it
    memory_bytes: int                           # one reader's local copy (one entry) after the run
    missed: int = 0                             # writes some reader had not seen within the deadline

    @property
    def p50(self) -> float:
        return percentile(self.delays_ms, 50)

    @property
    def max(self) -> float:
        return self.delays_ms[-1] if self.delays_ms else 0.0


def _poll_until(reader: _Reader, value: str, go: threading.Event, seen: list[float], deadline_s: float) -> None:
    """Read until ``value`` shows up; append the moment it did (list.append is atomic)."""
    go.wait()
    stop_at = time.perf_counter() + deadline_s
    while time.perf_counter() < stop_at:
        if reader.read() == value:
            seen.append(time.perf_counter())
            return
        time.sleep(0.0001)


def staleness_run(*, tier: ReadTier, readers: int = 3, writes: int = 10, deadline_s: float = 3.0) -> StalenessResult:
    """Write a demo key ``writes`` times; time until each of ``readers`` readers returns the new value.

    Each reader has its own connections (subscriber, tracking listener), as
    separate processes would; they poll in their own threads, pausing 0.1 ms
    between reads.  The writer is what the shop's writers do for that tier:
    ``SET`` (plain and tracking: nothing else), ``SET`` + ``PUBLISH`` (local),
    every replica rewritten in one pipeline (replicas).
    """
    run_id = secrets.token_hex(4)
    key = keys.demo_key("staleness", tier.value, run_id)
    replica_keys = ([keys.demo_key("staleness", tier.value, run_id, f"r{i}") for i in range(caching.HOT_REPLICAS)]
                    if tier == ReadTier.REPLICAS else [])
    writer = caching.cache().client
    pool = [_Reader(tier, key, replica_keys) for _ in range(readers)]
    delays: list[float] = []
    missed = 0

    def write(value: str) -> None:
        pipe = writer.pipeline(transaction=False)
        pipe.set(key, value, px=120_000)
        for replica in replica_keys:
            pipe.set(replica, value, px=120_000)
        if tier == ReadTier.LOCAL:
            hotkeys.publish_invalidation(pipe, keys.invalidation_channel(), [key])
        pipe.execute()

    try:
        if not all(r.ready() for r in pool):
            raise RuntimeError("a reader's listener did not connect")
        write("v0")
        for r in pool:
            r.read()
            r.read()  # the second read is served by the local copy where there is one
        for n in range(1, writes + 1):
            value = f"v{n}"
            seen: list[float] = []
            go = threading.Event()
            threads = [threading.Thread(target=_poll_until, args=(r, value, go, seen, deadline_s), daemon=True)
                       for r in pool]
            for t in threads:
                t.start()
            t0 = time.perf_counter()
            write(value)
            go.set()
            for t in threads:
                t.join(deadline_s + 1)
            if len(seen) < readers:
                missed += 1
            else:
                delays.append((max(seen) - t0) * 1000)
            time.sleep(0.01)
        memory = pool[0].memory_bytes()
    finally:
        for r in pool:
            r.close()
        writer.delete(key, *replica_keys)
    return StalenessResult(tier.value, readers, sorted(delays), memory, missed)


def _get_calls(client: Any) -> int | None:
    try:
        stats = client.info("commandstats")
    except Exception:  # a stats read must not break the demo
        return None
    entry = stats.get("cmdstat_get") or {}
    return int(entry.get("calls", 0))
