"""What the command trace costs a request: the same pages with tracing on and off.

    python -m bench tracing_overhead [--pairs 7] [--requests 400]

Runs the full Django stack in-process (Django's test ``Client``: every
middleware, template rendering, the real Redis client against a private
``redis-server``), so the difference between the two modes is exactly the
tracing code: the middleware, the tracing connection classes and the panel.

- on:  ``RedisTraceMiddleware`` + ``TracingConnection`` (the default)
- off: no middleware, plain ``redis.Connection``

Short blocks alternate (on, off, off, on, ...) with a warm-up before each;
the ratio is computed per pair and the table gives its median and IQR.
Pages: ``/`` (one cached health probe, a light page) and
``/patterns/pipelining/`` (61 commands in 41 round trips: the worst case for
per-command bookkeeping).
"""

from __future__ import annotations

import statistics
import sys
import time

from bench.common import (
    ab_order,
    add_state_argument,
    arguments,
    emit,
    machine_state,
    md_table,
    setup_django,
    spread,
    target,
    target_table,
)
from redis_patterns.servers import RedisServer

PAGES = ["/", "/patterns/pipelining/"]


def _block(traced: bool, path: str, requests: int, warmup: int) -> tuple[float, float]:
    """Mean wall-clock and CPU µs per request for one block in one mode."""
    from django.conf import settings
    from django.test import Client, override_settings

    from config.redis import forget_redis_health, reset_clients

    middleware = [m for m in settings.MIDDLEWARE if m != "config.middleware.RedisTraceMiddleware"]
    if traced:
        middleware = ["config.middleware.RedisTraceMiddleware", *middleware]
    redis_settings = {**settings.REDIS, "trace": traced}
    with override_settings(MIDDLEWARE=middleware, REDIS=redis_settings, ALLOWED_HOSTS=["testserver"]):
        reset_clients()
        forget_redis_health()
        client = Client()
        for _ in range(warmup):
            assert client.get(path).status_code == 200
        t0, c0 = time.perf_counter_ns(), time.process_time_ns()
        for _ in range(requests):
            client.get(path)
        elapsed, cpu = time.perf_counter_ns() - t0, time.process_time_ns() - c0
        if traced:
            assert "Server-Timing" in client.get(path)
    return elapsed / requests / 1000, cpu / requests / 1000


def _micro(server: RedisServer, pairs: int = 7, n: int = 3000) -> tuple[float, float, float, float]:
    """Per-command cost (GET through a plain vs a tracing connection inside an
    open trace) and the cost of rendering the panel for the pipelining page."""
    import redis

    from config.middleware import render_panel
    from redis_patterns.tracing import TracingConnection, tracing

    plain = redis.Redis.from_url(server.url)
    traced = redis.Redis.from_url(server.url, connection_class=TracingConnection)
    plain.ping()
    traced.ping()

    def loop(client) -> float:
        # CPU time of this process: the bookkeeping is Python work, and waiting
        # for Redis (the same for both) would only add noise.
        with tracing():
            t0 = time.process_time_ns()
            for _ in range(n):
                client.get("k")
            return (time.process_time_ns() - t0) / n / 1000

    plains, traceds = [], []
    for _ in range(pairs):
        plains.append(loop(plain))
        traceds.append(loop(traced))
    hooks_us = _hooks_per_round_trip_us()
    with tracing() as trace:
        for i in range(20):
            traced.get(f"k{i}")
        pipe = traced.pipeline(transaction=False)
        for i in range(20):
            pipe.get(f"k{i}")
        pipe.execute()
        traced.mget([f"k{i}" for i in range(20)])
    t0 = time.process_time_ns()
    for _ in range(500):
        render_panel(trace)
    panel_us = (time.process_time_ns() - t0) / 500 / 1000
    return statistics.median(plains), statistics.median(traceds), panel_us, trace.round_trip_count, hooks_us


def _hooks_per_round_trip_us(n: int = 200_000, pairs: int = 7) -> float:
    """The bookkeeping of one traced round trip, measured directly: the connection hooks that run
    for a single command (note the arguments, open the round trip, time the write and the read)
    with a trace open, minus the same hooks with none open.  No socket: a GET's own time varies by
    more than this between two loops, which is why a difference of two GET loops came out negative."""
    from redis_patterns.tracing import _current, _TracingMixin, tracing

    class Hooks(_TracingMixin):
        pass

    hooks = Hooks()
    args = (("GET", "k"),)

    def loop() -> float:
        t0 = time.process_time_ns()
        for _ in range(n):
            if _current.get() is not None:  # send_command
                hooks._trace_pending = args
            begun = hooks._trace_begin()     # send_packed_command
            if begun is not None:
                w0 = time.perf_counter_ns()
                hooks._trace_end(begun, w0, None)
            rt = hooks._trace_read_rt()      # read_response
            if rt is not None:
                r0 = time.perf_counter_ns()
                rt.duration_ns += time.perf_counter_ns() - r0
        return (time.process_time_ns() - t0) / n / 1000

    diffs = []
    for _ in range(pairs):
        off = loop()
        with tracing():
            on = loop()
        diffs.append(on - off)
    return statistics.median(diffs)


def main(argv: list[str] | None = None) -> str:
    parser = arguments(__doc__)
    parser.add_argument("--pairs", type=int, default=31)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    add_state_argument(parser)
    args = parser.parse_args(argv)
    if args.state == "both":
        parser.error("tracing_overhead runs in one state at a time")

    wall_rows, cpu_rows, found = [], [], []
    with RedisServer(name="bench-tracing") as server, machine_state(args.state) as ms:
        setup_django(server)
        for path in PAGES:
            wall = {True: [], False: []}
            cpu = {True: [], False: []}
            wall_ratios, cpu_ratios = [], []
            for pair in range(args.pairs):
                # alternate which mode goes first, so drift hurts both alike
                result = {mode: _block(mode, path, args.requests, args.warmup) for mode in ab_order(pair, True, False)}
                for mode in (True, False):
                    wall[mode].append(result[mode][0])
                    cpu[mode].append(result[mode][1])
                wall_ratios.append(result[True][0] / result[False][0])
                cpu_ratios.append(result[True][1] / result[False][1])
                sys.stderr.write(f"\r[tracing overhead] {path} pair {pair + 1}/{args.pairs}: "
                                 f"on {result[True][0]:.0f} µs, off {result[False][0]:.0f} µs   ")
            sys.stderr.write("\n")
            for rows, times, ratios in ((wall_rows, wall, wall_ratios), (cpu_rows, cpu, cpu_ratios)):
                rows.append((f"`{path}`", f"{statistics.median(times[False]):.0f}",
                             f"{statistics.median(times[True]):.0f}", f"{statistics.median(ratios):.3f}x",
                             spread(ratios, 3)))
            found.append(target("tracing_overhead", f"tracing on/off, CPU per request, `{path}`",
                                 statistics.median(cpu_ratios), 1.05, state=args.state))
        get_plain, get_traced, panel_us, panel_rts, hooks_us = _micro(server)

    return emit([
        "## Targets", "", *target_table(found), "",
        ms.describe() + ".", "",
        f"{args.pairs} alternating pairs × {args.requests} requests per block (after {args.warmup} warm-up "
        "requests), Django test client in-process, one private redis-server on loopback.",
        "",
        "Wall clock (what a visitor waits; includes Redis and the noise of a shared machine):",
        "",
        *md_table(["page", "off µs/req", "on µs/req", "ratio on/off (median of pairs)", "interquartile range"],
                  wall_rows),
        "",
        "CPU time of the web process (what tracing adds is Python work; this excludes waiting and other "
        "processes, so it is the steadier measure):",
        "",
        *md_table(["page", "off CPU µs/req", "on CPU µs/req", "ratio on/off (median of pairs)",
                   "interquartile range"], cpu_rows),
        "",
        "Target: at most 1.05x (tracing costs at most 5% of a request).",
        "",
        "Where the cost is (CPU time, measured directly in the same run; steadier than whole requests):",
        "",
        *md_table(["what", "CPU µs"], [
            ("GET, plain connection (median of 7 × 3,000)", f"{get_plain:.1f}"),
            ("GET, tracing connection inside an open trace", f"{get_traced:.1f}"),
            ("bookkeeping per round trip, measured directly (the hooks alone, trace open minus none)",
             f"{hooks_us:.2f}"),
            ("difference of the two GET lines above (noisy: a GET varies by more than the bookkeeping)",
             f"{get_traced - get_plain:.1f}"),
            (f"rendering the panel for a {panel_rts}-round-trip page", f"{panel_us:.0f}"),
        ]),
    ])


if __name__ == "__main__":
    main()
