"""redis_patterns.ratelimit against a real Redis: exact sequences, edges, one round trip, concurrency."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import threading

import pytest
import redis

from redis_patterns import ratelimit
from redis_patterns.ratelimit import (
    ALGORITHMS,
    GCRA,
    LIMITERS,
    FixedWindow,
    PlainFixedWindow,
    SlidingLog,
    SlidingWindow,
    TokenBucket,
)
from redis_patterns.tracing import tracing
from tests.conftest import command_calls

T0 = 1_700_000_000.0  # a multiple of every period used below: window edges fall on T0 + k * period


def seq(limiter, times, subject="s"):
    """Decide at each time; 'A' for allowed, 'D' for denied."""
    return "".join("A" if limiter.decide(subject, now=T0 + t).allowed else "D" for t in times)


@pytest.fixture
def make(r):
    def factory(cls, limit=3, period=1.0, name="t"):
        return cls(r, name=name, limit=limit, period=period, key_prefix="t")
    return factory


# --- exact sequences under a controlled clock -----------------------------------------------


def test_fixed_window_sequence_and_retry_after(make):
    lim = make(FixedWindow)
    assert seq(lim, [0.0, 0.1, 0.2, 0.3]) == "AAAD"
    d = lim.decide("s", now=T0 + 0.3)
    assert (d.allowed, d.remaining, d.retry_after, d.reset) == (False, 0, pytest.approx(0.7), pytest.approx(0.7))
    assert seq(lim, [0.999999, 1.0, 1.5]) == "DAA"


@pytest.mark.parametrize("cls", [FixedWindow, PlainFixedWindow])
def test_fixed_window_lets_twice_the_limit_through_at_the_window_edge(make, cls):
    lim = make(cls)
    # 3 at the end of one window, 3 at the start of the next: 6 within 0.2 s (documented edge)
    assert seq(lim, [0.9, 0.9, 0.9, 1.0, 1.0, 1.0, 1.1]) == "AAAAAAD"


@pytest.mark.parametrize("cls", [SlidingLog, SlidingWindow, TokenBucket, GCRA])
def test_other_algorithms_hold_the_limit_at_the_window_edge(make, cls):
    lim = make(cls)
    assert seq(lim, [0.9, 0.9, 0.9, 1.0, 1.0, 1.0, 1.1]) == "AAADDDD"


def test_sliding_log_is_exact_over_any_interval(make):
    lim = make(SlidingLog)
    assert seq(lim, [0.0, 0.4, 0.8, 0.999999]) == "AAAD"
    d = lim.decide("s", now=T0 + 0.999999)
    assert d.retry_after == pytest.approx(0.000001)  # the entry at 0.0 leaves at 1.0
    # the entry at t leaves the window (now - 1, now] exactly at t + 1
    assert seq(lim, [1.0, 1.0, 1.399999, 1.4, 1.8]) == "ADDAA"
    assert seq(lim, [1.8]) == "D"


def test_sliding_log_logs_every_unit_once_even_when_members_would_collide(make, raw_redis):
    """Members are now + used; a taken one (same microsecond, a clock gone back) moves on, never overwrites."""
    lim = make(SlidingLog, limit=50, period=1.0)
    [key] = lim.keys("s")
    # 20 single units in the same microsecond: members now, now + 1, ... (each a new entry)
    assert seq(lim, [0.5] * 20) == "A" * 20
    # a clock 3 µs behind: now' + used = now + 17 is taken, as are the next two; lands on now + 20
    assert lim.decide("s", now=T0 + 0.499997).allowed
    # a cost of 5 at the first microsecond again: five more distinct members
    assert lim.decide("s", 5, now=T0 + 0.5).remaining == 50 - 26
    entries = raw_redis.zrange(key, 0, -1, withscores=True)
    assert len(entries) == 26 and len({m for m, _ in entries}) == 26
    assert sum(1 for _, score in entries if score == (T0 + 0.5) * 1e6) == 25
    # every unit counts: 24 more pass, the 25th does not
    assert seq(lim, [0.6] * 25) == "A" * 24 + "D"
    # and each leaves exactly one period after its own time
    assert seq(lim, [1.499997, 1.499998]) == "AD"


def test_sliding_window_weights_the_previous_window(make):
    lim = make(SlidingWindow)
    assert seq(lim, [0.9, 0.9, 0.9]) == "AAA"
    d = lim.decide("s", now=T0 + 1.0)  # previous window weighs 100%
    assert not d.allowed and d.retry_after == pytest.approx(0.333334)
    # 3 * (1 - 0.333333) + 1 > 3; 3 * (1 - 0.333334) + 1 <= 3
    assert seq(lim, [1.333333, 1.333334, 1.333334]) == "DAD"
    assert seq(lim, [1.666667, 2.0]) == "AA"


def test_token_bucket_bursts_then_refills_at_the_rate(make):
    lim = make(TokenBucket)
    assert seq(lim, [0.0, 0.0, 0.0, 0.0]) == "AAAD"
    d = lim.decide("s", now=T0)
    assert (d.remaining, d.retry_after, d.reset) == (0, pytest.approx(0.333334), pytest.approx(1.0))
    assert seq(lim, [0.333333, 0.333334, 0.333334, 0.666667, 10.0, 10.0, 10.0, 10.0]) == "DADAAAAD"


def test_gcra_matches_the_token_bucket_exactly(make):
    rng = random.Random(7)
    for limit, period in [(3, 1.0), (5, 0.7), (10, 60.0)]:
        gcra, bucket = make(GCRA, limit, period, name=f"g{limit}"), make(TokenBucket, limit, period, name=f"b{limit}")
        t = 0.0
        for _ in range(150):
            t += rng.choice([0, 0, 0.000001, period / limit / 3, period / limit, period / 2])
            cost = rng.randint(1, min(limit, 2))
            a, b = gcra.decide("s", cost, now=T0 + t), bucket.decide("s", cost, now=T0 + t)
            assert a.allowed == b.allowed, (limit, period, t)
            if not a.allowed:
                assert a.retry_after == pytest.approx(b.retry_after, abs=2e-6)


@pytest.mark.parametrize("name", list(LIMITERS))
def test_retry_after_is_exactly_when_the_request_passes(make, name):
    lim = make(LIMITERS[name], 4, 1.0)
    t = 0.3
    assert seq(lim, [t] * 4) == "AAAA"
    d = lim.decide("s", now=T0 + t)
    assert not d.allowed and d.retry_after > 0
    # one microsecond before retry_after: still denied; at retry_after: allowed
    assert not lim.decide("s", now=T0 + t + d.retry_after - 0.000001).allowed
    assert lim.decide("s", now=T0 + t + d.retry_after).allowed


@pytest.mark.parametrize("name", list(LIMITERS))
def test_cost_and_remaining(make, name):
    lim = make(LIMITERS[name], 5, 1.0)
    d = lim.decide("s", 3, now=T0)
    assert d.allowed and d.remaining == 2 and d.limit == 5
    assert not lim.decide("s", 3, now=T0).allowed
    assert lim.decide("s", 2, now=T0).allowed
    with pytest.raises(ValueError):
        lim.decide("s", 6, now=T0)
    with pytest.raises(ValueError):
        lim.decide("s", 0, now=T0)


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_one_round_trip_from_redis_time_with_ttl_on_every_key(make, raw_redis, name):
    lim = make(ALGORITHMS[name], 2, 30.0)
    lim.decide("warm-up")  # the loader's first call loads the library
    with tracing() as trace:
        first = lim.decide("user:1")
    assert trace.round_trip_count == 1 and trace.command_count == 1
    assert first.allowed
    lim.decide("user:1")
    assert not lim.decide("user:1").allowed  # the Redis clock: same window, no refill yet
    keys = list(raw_redis.scan_iter("t:rl:*user:1*"))
    assert keys == lim.keys("user:1")  # one key per subject, every algorithm
    assert all(0 < raw_redis.pttl(k) <= 31_000 * 2 for k in keys)


@pytest.mark.parametrize("cls", [FixedWindow, SlidingWindow])
def test_the_window_ttl_is_set_when_the_window_opens(make, raw_redis, cls):
    """By Redis TIME, the window's first write sets a TTL that outlives the window: later writes skip PEXPIRE."""
    lim = make(cls, 10, 1_000_000.0)  # an 11.6-day window: this test does not cross an edge
    lim.decide("warm-up")
    raw_redis.config_resetstat()
    decisions = [lim.decide("s") for _ in range(5)]
    assert all(d.allowed for d in decisions)
    assert command_calls(raw_redis, "hset") == 5 and command_calls(raw_redis, "pexpire") == 1
    [key] = lim.keys("s")
    # the TTL set when the window opened lasts as long as the state matters: the rest of the
    # window (fixed), the rest of it and the next one (sliding): the decision's `reset`
    assert raw_redis.pttl(key) >= decisions[-1].reset * 1000 > 0
    # a caller's clock is not Redis's expiry clock: each of its writes sets the TTL
    raw_redis.config_resetstat()
    assert seq(lim, [0.1, 0.2, 0.3], subject="c") == "AAA"
    assert command_calls(raw_redis, "pexpire") == 3


def test_hostile_subjects_stay_inside_the_hash_tag(make, raw_redis):
    lim = make(SlidingLog)
    evil = "x}{y*:[a]\n" + "z" * 200
    assert lim.decide(evil, now=T0).allowed
    [log] = lim.keys(evil)
    assert "}" not in log.split("{", 1)[1][:-1] and "*" not in log
    assert log.count("{") == 1
    assert lim.keys("plain:1")[0] == "t:rl:sliding_log:t:{plain:1}"


def test_decide_many_is_one_round_trip(make, r):
    limiters = [make(cls, name=f"m{i}") for i, cls in enumerate(ALGORITHMS.values())]
    ratelimit.decide_many(r, [(lim, "s", 1) for lim in limiters], now=T0)
    with tracing() as trace:
        out = ratelimit.decide_many(r, [(lim, "s", 1) for lim in limiters], now=T0)
    assert trace.round_trip_count == 1 and trace.command_count == 5
    assert [d.remaining for d in out] == [1, 1, 1, 1, 1]


def test_adecide_gives_the_same_answers(redis_server):
    async def run():
        client = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
        try:
            out = []
            for cls in ALGORITHMS.values():
                lim = cls(aclient=client, name="async", limit=2, period=1.0)
                marks = ""
                for t in (0, 0, 0, 0.9, 1.0):
                    marks += "A" if (await lim.adecide("s", now=T0 + t)).allowed else "D"
                out.append(marks)
            return out
        finally:
            await client.aclose()

    # fixed, sliding log, sliding window, token bucket, GCRA (2 per second; 1.8 tokens back at 0.9 s)
    assert asyncio.run(run()) == ["AADDA", "AADDA", "AADDD", "AADAA", "AADAA"]


# --- concurrency: two processes x many threads, one limit ----------------------------------------

N = 20
THREADS = 8
ATTEMPTS = 8  # per thread and phase: 2 x 8 x 8 = 128 attempts against N = 20


def _hammer(url: str, barrier, results, process: int) -> None:
    client = redis.Redis.from_url(url, decode_responses=True, max_connections=THREADS + 2)
    out = {}
    for name, cls in LIMITERS.items():
        # phase 1: Redis TIME; a long period so no window edge falls inside the run
        lim = cls(client, name="conc", limit=N, period=1_000_000, key_prefix="t")
        # phase 2: a controlled clock straddling a window edge (T0 is a multiple of 1000 s)
        edge = cls(client, name="edge", limit=N, period=1000, key_prefix="t")
        # edge: first every thread just before the edge, then (after both processes
        # finished that) every thread just after it
        for phase, offset in (("time", None), ("before", -0.001), ("after", 0.001)):
            counts: list[int] = []
            barrier.wait()

            def worker(offset=offset, lim=lim, edge=edge, counts=counts) -> None:
                n = 0
                for _ in range(ATTEMPTS):
                    if offset is None:
                        n += lim.decide("one-key").allowed
                    else:
                        n += edge.decide("one-key", now=T0 + offset).allowed
                counts.append(n)

            threads = [threading.Thread(target=worker) for _ in range(THREADS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            out[(name, phase)] = sum(counts)
    results.put((process, out))
    client.close()


def test_two_processes_many_threads_never_exceed_the_limit(redis_server):
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(redis_server.url, barrier, results, p)) for p in range(2)]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    total = {k: got[0][1][k] + got[1][1][k] for k in got[0][1]}
    for name in LIMITERS:
        assert total[(name, "time")] == N, name
        # straddling an edge only the fixed windows admit a second full window
        edge = total[(name, "before")] + total[(name, "after")]
        assert total[(name, "before")] == N, name
        assert edge == (2 * N if name.startswith("fixed_window") else N), name


@pytest.mark.parametrize("name", ["fixed_window", "sliding_window"])
def test_a_clock_behind_the_writer_never_reopens_an_old_window(make, name):
    lim = make(ALGORITHMS[name])
    assert seq(lim, [1.0, 1.0, 1.0]) == "AAA"
    assert seq(lim, [0.99]) == "D"  # another server's clock a little behind


# --- the fixed window without Lua ----------------------------------------------------------------


def test_plain_fixed_window_sequence_and_retry_after(make):
    lim = make(PlainFixedWindow)
    assert seq(lim, [0.0, 0.1, 0.2, 0.3]) == "AAAD"
    d = lim.decide("s", now=T0 + 0.3)
    assert (d.allowed, d.remaining, d.retry_after, d.reset) == (False, 0, pytest.approx(0.7), pytest.approx(0.7))
    assert seq(lim, [0.999999, 1.0, 1.5]) == "DAA"


def test_plain_fixed_window_is_one_round_trip_of_two_commands_and_never_leaves_a_key_without_ttl(make, raw_redis):
    lim = make(PlainFixedWindow, 2, 30.0)
    with tracing() as trace:
        first = lim.decide("user:1")
    assert first.allowed and first.remaining == 1
    assert trace.round_trip_count == 1 and trace.command_count == 2
    assert [c[0] for c in trace.round_trips[0].commands] == ["SET", "INCRBY"]
    lim.decide("user:1")
    assert not lim.decide("user:1").allowed
    (key,) = raw_redis.scan_iter("t:rl:fixed_window_plain:*")
    assert key == lim.keys("user:1")[0]
    assert raw_redis.get(key) == "3"  # a refused request of cost 1 is counted: harmless, already at the limit
    # the TTL covers the rest of the window and one more period: the INCRBY always finds a key with a TTL
    assert 30_000 < raw_redis.pttl(key) <= 60_000


def test_plain_fixed_window_refunds_a_refused_request_that_would_have_burned_the_rest(make, raw_redis):
    lim = make(PlainFixedWindow, 5, 1.0)
    assert lim.decide("s", 3, now=T0).allowed
    refused = lim.decide("s", 3, now=T0 + 0.1)
    assert not refused.allowed and refused.remaining == 2
    assert raw_redis.get(lim.keys("s", now=T0)[0]) == "3"  # given back
    assert lim.decide("s", 2, now=T0 + 0.2).allowed


def test_plain_fixed_window_in_decide_many_and_async(make, r, redis_server):
    plain, bucket = make(PlainFixedWindow, name="p"), make(TokenBucket, name="b")
    ratelimit.decide_many(r, [(bucket, "warm", 1)], now=T0)
    with tracing() as trace:
        out = ratelimit.decide_many(r, [(plain, "s", 1), (bucket, "s", 1), (plain, "s", 2)], now=T0,
                                    raise_on_error=False)
    assert trace.round_trip_count == 1 and trace.command_count == 5
    assert [(d.allowed, d.remaining) for d in out] == [(True, 2), (True, 2), (True, 0)]

    async def run() -> str:
        client = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
        try:
            lim = PlainFixedWindow(aclient=client, name="async", limit=2, period=1.0)
            marks = ""
            for t in (0, 0, 0, 1.0):
                marks += "A" if (await lim.adecide("s", now=T0 + t)).allowed else "D"
            return marks
        finally:
            await client.aclose()

    assert asyncio.run(run()) == "AADA"


def test_make_limiter_knows_the_plain_variant_but_the_demo_list_stays_at_five():
    assert isinstance(ratelimit.make_limiter("fixed_window_plain", None, name="x", limit=1, period=1),
                      PlainFixedWindow)
    assert "fixed_window_plain" not in ALGORITHMS and len(ALGORITHMS) == 5
