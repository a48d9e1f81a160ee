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

from django.db import connection

from redis_patterns.cache import CachePolicy, encode
from redis_patterns.tracing import tracing
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


@dataclass
class HotKeyResult:
    tier: str
    reads: int
    commands: int
    round_trips: int
    per_key: list[dict[str, Any]]
    get_calls_server: int | None
    states: dict[str, int]

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
    with tracing(f"hotkeys:{tier}") as trace:
        for _ in range(reads):
            states[selectors.product_get(product_id, tier=tier).state.value] += 1
    after = _get_calls(client)
    per_key: Counter[str] = Counter()
    for rt in trace.round_trips:
        for row in rt.describe():
            if row["name"] == "GET" and row["key"]:
                per_key[row["key"]] += 1
    total = sum(per_key.values()) or 1
    rows = [{"key": k, "count": c, "pct": round(100 * c / total)} for k, c in per_key.most_common()]
    delta = None if before is None or after is None else after - before
    return HotKeyResult(tier.value, reads, trace.command_count, trace.round_trip_count, rows, delta, dict(states))


def _get_calls(client: Any) -> int | None:
    try:
        stats = client.info("commandstats")
    except Exception:  # a stats read must not break the demo
        return None
    entry = stats.get("cmdstat_get") or {}
    return int(entry.get("calls", 0))
