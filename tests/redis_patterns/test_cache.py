"""redis_patterns.cache against the real private Redis: states, TTLs, leases, single-flight, XFetch, breaker."""

from __future__ import annotations

import logging
import threading

import pytest
import redis

from redis_patterns.cache import Breaker, Cache, CachePolicy, CacheState, decode, encode, xfetch_due
from redis_patterns.scripts import Scripts
from redis_patterns.tracing import tracing

KEY, LEASE = "t:test:{item}", "t:test:{item}:lease"


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def scripts() -> Scripts:
    return Scripts("redis_patterns")


def make(client, scripts, *, clock=None, rng=None, sleep=None) -> Cache:
    kwargs = {"clock": clock or Clock(), "rng": rng or (lambda: 0.5), "breaker": Breaker()}
    if sleep is not None:
        kwargs["sleep"] = sleep
    return Cache(client, scripts, **kwargs)


def counting_loader(value):
    calls = []

    def loader():
        calls.append(1)
        return value

    return loader, calls


def run_together(target, n: int) -> None:
    """``n`` threads running ``target`` at once; returns when all have finished (20 s each at most)."""
    threads = [threading.Thread(target=target) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)


def test_miss_then_hit_and_the_hit_is_one_round_trip(r, raw_redis, scripts):
    cache = make(r, scripts)
    scripts.call(r, "compare_and_delete", keys=["t:{warm-up}"], args=["x"])  # connect, load the library
    loader, calls = counting_loader({"name": "kettle"})
    with tracing() as miss_trace:
        first = cache.get(KEY, LEASE, loader, CachePolicy(ttl=100))
    with tracing() as hit_trace:
        second = cache.get(KEY, LEASE, loader, CachePolicy(ttl=100))
    assert (first.state, first.loaded, first.stored) == (CacheState.MISS, True, True)
    assert miss_trace.round_trip_count == 3  # GET, SET NX lease, fill script
    assert (second.state, second.value) == (CacheState.HIT, {"name": "kettle"})
    assert hit_trace.round_trip_count == 1 and hit_trace.command_count == 1
    assert len(calls) == 1
    # The lease outlives the fill (by its own TTL): a reader that saw the miss
    # before the fill cannot take a fresh lease right after it and load again.
    assert 0 < raw_redis.pttl(LEASE) <= 5000


def test_ttl_has_jitter_plus_the_stale_window(r, raw_redis, scripts):
    policy = CachePolicy(ttl=100, jitter=0.2, stale_ttl=30)
    for name, rng_value, fresh in (("a", 0.0, 100), ("b", 0.5, 110), ("c", 0.999, 119.98)):
        clock = Clock()
        cache = make(r, scripts, clock=clock, rng=lambda v=rng_value: v)
        cache.get(f"t:{{{name}}}", f"t:{{{name}}}:lease", lambda: 1, policy)
        pttl = raw_redis.pttl(f"t:{{{name}}}")
        assert (fresh + 30) * 1000 - 1000 < pttl <= (fresh + 30) * 1000
        assert decode(raw_redis.get(f"t:{{{name}}}"))["x"] == pytest.approx(clock.t + fresh, abs=0.01)


def test_expired_entry_is_served_stale_while_the_lease_holder_refreshes(r, raw_redis, scripts):
    clock = Clock()
    cache = make(r, scripts, clock=clock)
    policy = CachePolicy(ttl=10, jitter=0, stale_ttl=60, xfetch_beta=0)
    cache.get(KEY, LEASE, lambda: "v1", policy)
    clock.t += 11  # freshness over, still inside the stale window
    raw_redis.set(LEASE, "someone-else", px=5000)
    loader, calls = counting_loader("v2")
    stale = cache.get(KEY, LEASE, loader, policy)
    assert (stale.state, stale.value, calls) == (CacheState.STALE, "v1", [])
    raw_redis.delete(LEASE)  # the other refresher is gone: we refresh
    fresh = cache.get(KEY, LEASE, loader, policy)
    assert (fresh.state, fresh.value, len(calls)) == (CacheState.MISS, "v2", 1)
    assert cache.get(KEY, LEASE, loader, policy).state == CacheState.HIT


def test_not_found_is_cached_briefly(r, raw_redis, scripts):
    cache = make(r, scripts)
    loader, calls = counting_loader(None)
    policy = CachePolicy(ttl=300, negative_ttl=30)
    assert cache.get(KEY, LEASE, loader, policy).state == CacheState.MISS
    again = cache.get(KEY, LEASE, loader, policy)
    assert (again.state, again.value, len(calls)) == (CacheState.HIT, None, 1)
    assert 0 < raw_redis.pttl(KEY) <= 30_000


def test_a_reader_that_raced_a_write_cannot_store_the_old_row(r, raw_redis, scripts):
    cache = make(r, scripts)

    def loader_racing_a_writer():
        # The reader read the old row; now the writer commits and invalidates.
        cache.invalidate(KEY, LEASE)
        return "old row"

    result = cache.get(KEY, LEASE, loader_racing_a_writer, CachePolicy())
    assert (result.value, result.stored) == ("old row", False)
    assert raw_redis.get(KEY) is None  # the next reader loads the new row


def test_write_through_stores_and_cancels_a_racing_fill(r, raw_redis, scripts):
    cache = make(r, scripts)

    def loader_racing_write_through():
        cache.put(KEY, LEASE, "new row", CachePolicy())
        return "old row"

    cache.get(KEY, LEASE, loader_racing_write_through, CachePolicy())
    assert decode(raw_redis.get(KEY))["v"] == "new row"
    assert cache.get(KEY, LEASE, lambda: "unused", CachePolicy()).value == "new row"


def test_xfetch_formula():
    # -ln(0.5) ~ 0.69: with delta 1 s, beta 1, refresh only within ~0.69 s of expiry.
    assert not xfetch_due(now=90.0, expiry=100.0, delta=1.0, beta=1.0, rng=lambda: 0.5)
    assert xfetch_due(now=99.5, expiry=100.0, delta=1.0, beta=1.0, rng=lambda: 0.5)
    assert not xfetch_due(now=99.9, expiry=100.0, delta=1.0, beta=0.0, rng=lambda: 0.5)  # off


def test_xfetch_refreshes_a_hot_entry_before_it_expires(r, raw_redis, scripts):
    clock = Clock()
    rng_value = [0.5]
    cache = make(r, scripts, clock=clock, rng=lambda: rng_value[0])
    policy = CachePolicy(ttl=100, jitter=0, xfetch_beta=1.0)
    raw_redis.set(KEY, encode("v1", fresh_until=clock.t + 100, delta=2.0), px=200_000)
    loader, calls = counting_loader("v2")
    far = cache.get(KEY, LEASE, loader, policy)
    assert (far.state, far.early, calls) == (CacheState.HIT, False, [])
    clock.t += 99  # 1 s left, delta 2 s: -2*ln(0.5) = 1.39 >= 1 -> refresh now
    near = cache.get(KEY, LEASE, loader, policy)
    assert (near.state, near.early, near.value, len(calls)) == (CacheState.MISS, True, "v2", 1)
    assert decode(raw_redis.get(KEY))["x"] == pytest.approx(clock.t + 100, abs=0.01)


def test_single_flight_loads_once_while_cold_key_followers_wait(r, scripts):
    n = 12
    waiting: set[int] = set()
    everyone_waiting = threading.Event()
    lock = threading.Lock()

    def follower_sleep(seconds: float) -> None:
        with lock:
            waiting.add(threading.get_ident())
            if len(waiting) >= n - 1:
                everyone_waiting.set()
        threading.Event().wait(seconds)  # the poll interval itself

    cache = make(r, scripts, sleep=follower_sleep)
    loads = []

    def slow_loader():
        loads.append(1)
        assert everyone_waiting.wait(10), "followers never started waiting"
        return "value"

    barrier = threading.Barrier(n)
    results = []

    def reader():
        barrier.wait(10)
        results.append(cache.get(KEY, LEASE, slow_loader, CachePolicy(wait_timeout=10)))

    run_together(reader, n)
    assert len(loads) == 1
    assert [x.value for x in results] == ["value"] * n
    states = sorted(x.state.value for x in results)
    assert states == ["hit"] * (n - 1) + ["miss"]
    assert sum(x.waited for x in results) == n - 1


def test_naive_version_loads_once_per_concurrent_miss(r, scripts):
    n = 8
    cache = make(r, scripts)
    everyone_loading = threading.Barrier(n)
    loads = []

    def loader():
        loads.append(1)
        everyone_loading.wait(10)  # breaks (and fails the test) unless all n readers load
        return "value"

    run_together(lambda: cache.get(KEY, LEASE, loader, CachePolicy(single_flight=False)), n)
    assert len(loads) == n


def test_stale_while_revalidate_under_concurrency(r, raw_redis, scripts):
    n = 10
    clock = Clock()
    cache = make(r, scripts, clock=clock)
    raw_redis.set(KEY, encode("old", fresh_until=clock.t - 0.001, delta=0.01), px=60_000)
    others_done = threading.Event()
    results, loads = [], []

    def loader():
        loads.append(1)
        assert others_done.wait(10)
        return "new"

    def reader():
        results.append(cache.get(KEY, LEASE, loader, CachePolicy(xfetch_beta=0)))
        if sum(1 for x in results if x.state == CacheState.STALE) == n - 1:
            others_done.set()

    run_together(reader, n)
    assert len(loads) == 1
    assert sorted(x.value for x in results) == ["new"] + ["old"] * (n - 1)


def test_generation_counter_never_goes_back(r, raw_redis, scripts):
    clock = Clock(2_000_000.0)
    cache = make(r, scripts, clock=clock)
    first = cache.generation("t:gen")
    assert first == 2_000_000_000  # created from the clock, in ms
    assert cache.bump_generation("t:gen") == first + 1
    raw_redis.delete("t:gen")  # evicted, or a restart without persistence
    clock.t += 1
    assert cache.bump_generation("t:gen") > first + 1
    assert cache.generation("t:gen") > first + 1


def test_redis_down_bypasses_logs_once_and_recovers(redis_server, scripts, caplog):
    client = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True,
                         socket_connect_timeout=1, socket_timeout=1)
    breaker_clock = Clock(0.0)
    logger = logging.getLogger("test.cache")
    cache = Cache(client, scripts, breaker=Breaker(cooldown=1.0, clock=breaker_clock, logger=logger))
    loader, calls = counting_loader("row")
    redis_server.stop()
    with caplog.at_level(logging.INFO, logger="test.cache"):
        results = [cache.get(KEY, LEASE, loader, CachePolicy()) for _ in range(5)]
        assert [x.state for x in results] == [CacheState.BYPASS] * 5
        assert [x.value for x in results] == ["row"] * 5 and len(calls) == 5
        redis_server.start()
        assert cache.get(KEY, LEASE, loader, CachePolicy()).state == CacheState.BYPASS  # breaker still open
        breaker_clock.t += 1.5
        assert cache.get(KEY, LEASE, loader, CachePolicy()).state == CacheState.MISS
        assert cache.get(KEY, LEASE, loader, CachePolicy()).state == CacheState.HIT
    # this cache's logger only: a listener another test left running in this process (the shop's
    # invalidation bus) rightly warns too when the server stops
    warnings = [rec for rec in caplog.records if rec.levelno == logging.WARNING and rec.name == "test.cache"]
    assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()
    assert any("back" in rec.getMessage() for rec in caplog.records if rec.levelno == logging.INFO)
    client.close()


@pytest.mark.parametrize("corrupt", [b"\xff\xfe\x00not utf-8", b'{"v": 1, "x": "soon"}', b'{"x": 9e99}',
                                     b"[1, 2]", b'{"v": 1, "x": 9e99, "d": "a"}', b"\x80" * 100])
def test_a_corrupt_value_is_a_miss_and_is_replaced(r, raw_redis, scripts, corrupt):
    """Garbage under a cache key (not UTF-8, not JSON, wrong field types) is a miss, never an error."""
    raw_bytes = redis.Redis(connection_pool=redis.ConnectionPool(**{**raw_redis.connection_pool.connection_kwargs,
                                                                    "decode_responses": False}))
    raw_bytes.set(KEY, corrupt)
    cache = make(r, scripts)
    loader, calls = counting_loader({"name": "kettle"})
    got = cache.get(KEY, LEASE, loader, CachePolicy(ttl=100), also=lambda pipe: pipe.incr("t:also"))
    assert (got.state, got.value, got.stored) == (CacheState.MISS, {"name": "kettle"}, True)
    assert raw_redis.get("t:also") == "1"  # the commands that rode along still ran
    assert cache.get(KEY, LEASE, loader, CachePolicy(ttl=100)).state == CacheState.HIT  # overwritten
    assert len(calls) == 1
    assert decode(corrupt) is None
    raw_bytes.close()
