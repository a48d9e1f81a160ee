"""What a lock costs: acquire+release round trips against a plain GET, and Redlock against one server.

    python -m bench locks [--pairs 11] [--ops 2000] [--redlock-ops 500]

Private ``redis-server`` processes on loopback (one, plus three independent
ones for Redlock), redis-py with hiredis, scripts loaded as Functions.  Each
measurement is a block of sequential calls timed per call with
``perf_counter_ns``; blocks alternate (A B, B A, ...) after a warm-up, and
the ratio is taken per pair, then its median and interquartile range.

Rows:

- ``GET`` (baseline): one round trip.
- ``Lock`` acquire + release: two scripts (``lock_acquire``, ``compare_and_delete``), two round trips.
- ``Redlock`` acquire + release on 3 servers vs ``Lock`` on 1: six round trips, sent
  one server after another.
"""

from __future__ import annotations

import redis

from bench.common import (
    add_state_argument,
    arguments,
    compare,
    emit,
    get_floors,
    machine_state,
    md_table,
    per_second,
    percentile,
    private_servers,
    spread,
)
from redis_patterns.lock import Lock, Redlock

KEY, FENCE = "bench:lock:{b}", "bench:lock:{b}:fence"


def _row(name: str, times_ns: list[int], round_trips: int) -> tuple:
    return (name, round_trips, f"{percentile(times_ns, 0.5) / 1000:.0f}", f"{percentile(times_ns, 0.99) / 1000:.0f}",
            f"{per_second(times_ns):,.0f}")


def main(argv: list[str] | None = None) -> str:
    parser = arguments(__doc__)
    parser.add_argument("--pairs", type=int, default=11)
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--redlock-ops", type=int, default=500)
    add_state_argument(parser)
    args = parser.parse_args(argv)
    if args.state == "both":
        parser.error("locks runs in one state at a time")

    with private_servers(3, "bench-lock") as servers, machine_state(args.state) as ms:
        clients = [redis.Redis(host=s.host, port=s.port, decode_responses=True, socket_timeout=1) for s in servers]
        main_client = clients[0]
        main_client.set("bench:plain", "x")
        floors = get_floors(main_client, servers[0].port)
        lock = Lock(main_client, KEY, FENCE, ttl_ms=10_000)
        redlock = Redlock(clients, KEY, FENCE, ttl_ms=10_000)

        def get() -> None:
            main_client.get("bench:plain")

        def lock_cycle() -> None:
            lease = lock.try_acquire()
            assert lease is not None
            lock.release(lease)

        def redlock_cycle() -> None:
            result = redlock.attempt()
            assert result.lease is not None
            redlock.release(result.lease)

        # warm-up: connections open, scripts loaded
        single = compare(get, lock_cycle, pairs=args.pairs, calls=args.ops, warmup=max(100, args.ops // 10),
                         desc="Lock acquire+release vs GET")
        multi = compare(lock_cycle, redlock_cycle, pairs=args.pairs, calls=args.redlock_ops,
                        warmup=max(100, args.redlock_ops // 10),
                        desc="Redlock acquire+release (3 servers) vs Lock acquire+release (1 server)")
        fences = int(main_client.get(FENCE))

    return emit([
        ms.describe() + ".", "", floors.line() + ".", "",
        f"{args.pairs} alternating pairs; {args.ops} calls per block for the single server, "
        f"{args.redlock_ops} for Redlock; per-call timings. Private redis-server processes on loopback, "
        "redis-py with hiredis, scripts as Functions (FCALL). The machine has 2 cores shared with other "
        "work: absolute numbers are noisy, the ratios (same run, alternating) are the claim.",
        "",
        *md_table(["operation", "round trips", "p50 µs", "p99 µs", "ops/s"], [
            _row("GET", single.a_ns, 1),
            _row("Lock acquire+release", single.b_ns, 2),
            _row("Redlock acquire+release (3 servers)", multi.b_ns, 6),
        ]),
        "",
        *md_table(["comparison", "ratio (median of per-pair median latencies)", "interquartile range"], [
            ("Lock acquire+release / GET", f"{single.ratio:.2f}x", spread(single.ratios)),
            ("Redlock (3 servers) / Lock (1 server)", f"{multi.ratio:.2f}x", spread(multi.ratios)),
        ]),
        "",
        f"Fencing tokens issued on the main server during the run: {fences:,} (one per acquisition).",
        "",
        "Reading: a lock cycle is two script round trips, so about twice a GET plus the scripts' own work; "
        "Redlock talks to three servers one after another, so about three single-server cycles. Where the "
        "lock guards work that takes milliseconds (a database write), either cost is small; on a hot path "
        "prefer one atomic script over lock + several commands.",
    ])


if __name__ == "__main__":
    main()
