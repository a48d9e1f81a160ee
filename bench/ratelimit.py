"""Rate limiter cost: per-decision latency of each limiter vs a plain GET, the middleware path, throughput.

    python -m bench ratelimit [--pairs 31] [--calls 100] [--state busy|idle|both] [--seconds 2]

All in a pinned machine state (``--state``; default ``busy``: one ``nice -n
19`` busy loop per core for the whole run, see ``bench.common.machine_state``),
against a private ``redis-server`` on loopback, redis-py + hiredis.

1. **Latency per decision**: for each limiter (the five Lua algorithms and
   ``fixed_window_plain``, the fixed window without Lua), alternating blocks
   (GET, decide, decide, GET, ...) of ``--calls`` calls on one client.  The
   ratio is per pair (median decide / median GET of the two neighbouring
   blocks); the table gives its median and interquartile range, p50/p99 of
   all per-call samples, and Redis's own time per call (``INFO
   commandstats``: ``FCALL`` alone for the scripts, whose inner commands
   Redis also lists separately).  Targets: the Lua algorithms at most 1.5x a
   GET, the fixed window without Lua at most 1.25x.
2. **The middleware path**: ``RateLimitMiddleware`` with one matching rule
   (GCRA), a ``RequestFactory`` request and a view that returns a ready
   response, on the app's own client (retries, health checks, the tracing
   connection class) with a request trace open, as every request has,
   against a bare ``decide()`` of the same limiter on a plain client; and
   each layer in between, so the table says where the microseconds go.
   Target: at most 10 µs over the bare decision.
3. **Throughput**: 2 processes hammer *one* subject for ``--seconds`` each,
   per limiter, next to 2 processes doing plain GETs on one key; checks that
   the admitted count never exceeds what the limit allows.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import statistics
import sys
import time

import redis

from bench.common import (
    add_state_argument,
    arguments,
    compare,
    emit,
    get_floors,
    machine_state,
    md_table,
    over_get,
    percentile,
    setup_django,
    spread,
    states,
    target,
    target_table,
)
from redis_patterns import ratelimit
from redis_patterns.servers import RedisServer

BENCH = "ratelimit"
LIMITERS = getattr(ratelimit, "LIMITERS", ratelimit.ALGORITHMS)
GOALS = {"fixed_window_plain": 1.25}  # the rest (Lua): 1.5


def _in_server_us(stats: dict, calls: int) -> float:
    """Redis's own µs per decision: FCALL alone for a script (its inner commands are listed too)."""
    if "cmdstat_fcall" in stats:
        return stats["cmdstat_fcall"]["usec"] / calls
    return sum(v["usec"] for k, v in stats.items() if k not in ("cmdstat_get",) and "config" not in k) / calls


def latency(client: redis.Redis, pairs: int, calls: int, state: str) -> tuple[list[tuple], list]:
    client.set("bench:get", "x")
    rows, found = [], []
    for name, cls in LIMITERS.items():
        # a limit high enough that (nearly) every call is admitted: the admit path writes, the costlier one
        lim = cls(client, name="bench", limit=1_000_000, period=60)
        for _ in range(300):  # warm-up (and the library load)
            lim.decide("hot")
            client.get("bench:get")
        client.config_resetstat()
        result = compare(lambda: client.get("bench:get"), lambda lim=lim: lim.decide("hot"), pairs=pairs,
                         calls=calls, desc=f"[ratelimit {state}] {name}")
        stats = client.info("commandstats")
        goal = GOALS.get(name, 1.5)
        t = target(BENCH, f"`{name}` decision vs a GET", result.ratio, goal, state=state,
                   detail=over_get(percentile(result.a_ns, 0.5) / 1000, percentile(result.b_ns, 0.5) / 1000))
        found.append(t)
        rows.append((f"`{name}`", f"{percentile(result.a_ns, 0.5) / 1000:.1f}",
                     f"{percentile(result.b_ns, 0.5) / 1000:.1f}", f"{percentile(result.a_ns, 0.99) / 1000:.0f}",
                     f"{percentile(result.b_ns, 0.99) / 1000:.0f}", f"**{result.ratio:.2f}x**", spread(result.ratios),
                     f"{stats['cmdstat_get']['usec_per_call']:.1f} / {_in_server_us(stats, pairs * calls):.1f}",
                     f"≤ {goal:.2f}x", t.verdict))
        for key in lim.keys("hot"):
            client.delete(key)
    return rows, found


def middleware(client: redis.Redis, pairs: int, calls: int, state: str) -> tuple[list[tuple], list]:
    from django.conf import settings
    from django.http import HttpResponse
    from django.test import RequestFactory

    from config import ratelimit as adapter
    from config.redis import get_redis, reset_clients
    from redis_patterns.tracing import tracing

    rules = {"api": {"path": r"^/api/", "key": "ip", "algorithm": "gcra", "limit": 1_000_000, "period": 60,
                     "fail": "open"}}
    # Set as a deployment sets it, not through override_settings, whose settings lookups are slower
    # than a configured process's (they would be counted as the middleware's).
    saved = settings.RATELIMIT_RULES
    settings.RATELIMIT_RULES = rules
    adapter._forget_rules("RATELIMIT_RULES")
    try:
        reset_clients()
        app_client = get_redis()
        ok = HttpResponse("ok")  # the view's own work is not the middleware's: one response, reused
        mw = adapter.RateLimitMiddleware(lambda request: ok)
        request = RequestFactory().get("/api/leaderboards/reaction/top")
        assert mw(request).status_code == 200
        rule = adapter.rules()["api"]
        subject = rule.subject(request)
        bare = ratelimit.GCRA(client, name="api", limit=1_000_000, period=60, key_prefix="bench")
        bare.decide(subject)

        def traced() -> None:
            mw(request)

        # what each layer adds, from the bare decision outwards
        steps = (
            ("the rule's limiter on the app's client (retries, timeouts, tracing connection class)",
             lambda: rule.limiter.decide(subject)),
            ("+ rule matching, client identity, the outcome on the request (`check`)",
             lambda: adapter.check(request, [rule])),
            ("+ the middleware and the `RateLimit-*` headers, no trace open", lambda: mw(request)),
            ("+ the request's trace recording the round trip, as in every request: **the middleware path**",
             traced),
        )
        rows, found = [], []
        for label, fn in steps:
            # The last step runs inside the request's trace, opened once outside the timed calls:
            # opening and closing it is RedisTraceMiddleware's cost (bench tracing_overhead); recording
            # the limiter's round trip in it is the middleware path's. (The bare decision's plain client
            # records nothing.)
            with tracing("request") if fn is traced else contextlib.nullcontext():
                for _ in range(300):
                    fn()
                    bare.decide(subject)
                result = compare(lambda: bare.decide(subject), fn, pairs=pairs, calls=calls,
                                 desc=f"[ratelimit {state}] {label[:40]}")
                cpu = _cpu_added_us(lambda: bare.decide(subject), fn, calls * 10)
            rows.append((label, f"{percentile(result.a_ns, 0.5) / 1000:.1f}", f"{percentile(result.b_ns, 0.5) / 1000:.1f}",
                         f"{percentile(result.b_ns, 0.99) / 1000:.0f}", f"**+{result.difference_us:.1f} µs**",
                         f"{result.ratio:.2f}x", f"+{cpu:.1f} µs"))
            if fn is traced:
                found.append(target(BENCH, "middleware path over a bare `decide()`", result.difference_us, 10.0,
                                    unit="µs", state=state))
        app_client.close()
    finally:
        settings.RATELIMIT_RULES = saved
        adapter._forget_rules("RATELIMIT_RULES")
    return rows, found


def _cpu_added_us(a, b, calls: int, pairs: int = 7) -> float:
    """Median over pairs of the CPU time per call of ``b`` minus ``a`` (this process only): the Python
    work ``b`` adds, without the waiting that makes wall-clock figures move on a shared machine."""
    diffs = []
    for pair in range(pairs):
        cpu = {}
        for name, fn in ((("a", a), ("b", b)) if pair % 2 == 0 else (("b", b), ("a", a))):
            t0 = time.process_time_ns()
            for _ in range(calls):
                fn()
            cpu[name] = (time.process_time_ns() - t0) / calls / 1000
        diffs.append(cpu["b"] - cpu["a"])
    return statistics.median(diffs)


def _hammer(url: str, algorithm: str | None, seconds: float, limit: int, barrier, results) -> None:
    client = redis.Redis.from_url(url, decode_responses=True)
    lim = ratelimit.make_limiter(algorithm, client, name="tp", limit=limit, period=1.0) if algorithm else None
    if lim:
        lim.decide("warm")
    barrier.wait()
    calls = admitted = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while time.perf_counter() < deadline:
        for _ in range(50):
            if lim is None:
                client.get("bench:get")
            else:
                admitted += lim.decide("one-hot-key").allowed
        calls += 50
    results.put((calls, admitted, time.perf_counter() - t0))
    client.close()


def throughput(url: str, seconds: float, limit: int) -> list[tuple]:
    ctx = multiprocessing.get_context("spawn")
    rows = []
    for algorithm in (None, *LIMITERS):
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_hammer, args=(url, algorithm, seconds, limit, barrier, results))
                 for _ in range(2)]
        for p in procs:
            p.start()
        got = [results.get(timeout=seconds * 10 + 60) for _ in procs]
        for p in procs:
            p.join()
        calls = sum(g[0] for g in got)
        admitted = sum(g[1] for g in got)
        wall = max(g[2] for g in got)
        rows.append((algorithm or "GET (baseline)", calls / wall, admitted, wall))
        sys.stderr.write(f"[ratelimit throughput] {algorithm or 'GET'}: {calls / wall:,.0f}/s\n")
    return rows


def main(argv: list[str] | None = None) -> str:
    parser = arguments(__doc__)
    parser.add_argument("--pairs", type=int, default=31)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--limit", type=int, default=100, help="per second, for the throughput run")
    parser.add_argument("--no-throughput", action="store_true")
    add_state_argument(parser)
    args = parser.parse_args(argv)
    out: list[str] = []
    found: list = []
    with RedisServer(name="bench-ratelimit") as server:
        setup_django(server)
        client = redis.Redis.from_url(server.url, decode_responses=True)
        for state in states(args.state):
            with machine_state(state) as ms:
                floors = get_floors(client, server.port)
                lat, lat_targets = latency(client, args.pairs, args.calls, state)
                mw, mw_targets = middleware(client, args.pairs, args.calls, state)
                tp = throughput(server.url, args.seconds, args.limit) if not args.no_throughput else []
            found += lat_targets + mw_targets
            out += [
                f"## Machine state: {state}", "",
                ms.describe() + ".", "",
                floors.line() + ".", "",
                f"### Latency per decision vs a plain GET ({args.pairs} alternating pairs × {args.calls} calls, "
                "one client, redis-py + hiredis, loopback; limit 1,000,000/min so calls are admitted)",
                "",
                *md_table(["limiter", "GET p50 µs", "decide p50 µs", "GET p99 µs", "decide p99 µs",
                           "ratio (median of pairs)", "IQR", "in-server µs: GET / decision", "target", ""], lat),
                "",
                f"### The middleware path vs a bare `decide()` ({args.pairs} pairs × {args.calls} calls)",
                "",
                *md_table(["path (each row includes the ones above)", "bare decide p50 µs", "path p50 µs", "path p99 µs",
                           "added (median of pairs)", "ratio", "CPU added per call"], mw),
                "",
            ]
            if tp:
                base = tp[0][1]
                rows = []
                for name, rate, admitted, wall in tp:
                    if name.startswith("GET"):
                        rows.append((name, f"{rate:,.0f}", "1.00x", "–", "–"))
                    else:
                        # fixed windows: 2 windows per period at most at each edge; bucket/GCRA: burst + refill
                        bound = args.limit * (int(wall) + 2)
                        rows.append((f"`{name}`", f"{rate:,.0f}", f"{rate / base:.2f}x", f"{admitted:,}",
                                     f"{bound:,}"))
                out += [f"### Throughput: 2 processes hammering one key for {args.seconds:g} s "
                        f"(limit {args.limit}/s per key)", "",
                        *md_table(["", "decisions/s", "vs GET", "admitted", "most the limit allows"], rows), ""]
        client.close()
    return emit([
        "## Targets", "", *target_table(found), "",
        *out,
        "What the figures are: each Lua decision is one `FCALL` (Redis 7 Functions) sent with "
        "`roundtrips.direct_call`, one round trip (the tests count it); the in-server column is what the "
        "script itself costs inside Redis (`TIME` plus 2-4 `redis.call`s and the function call), against about "
        "1 µs for a GET, and it is most of the gap to a GET. `fixed_window_plain` runs no script (`SET ... NX PX` "
        "+ `INCRBY`, one write): it costs about a GET; its trade-offs (the app server's clock, refused requests "
        "counted) are in `redis_patterns.ratelimit.PlainFixedWindow`. The middleware row adds the rule "
        "matching, the client identity (`client_ip`), the `request.ratelimit` outcome, the app client's layers "
        "and the trace bookkeeping of the request.",
        "",
        "The machine has 2 cores shared by the client, the server and other engineers' jobs, so absolute "
        "numbers move between runs; the ratios, in the pinned state, are the claim. One hot key is served by "
        "one Redis thread: throughput on it is bounded by the script's run time plus the round trip.",
    ])


if __name__ == "__main__":
    main()
