"""A stampede on one key: 200 concurrent reads of a just-expired (and of a cold) entry.

    python -m bench shop_stampede [--pairs 5] [--requests 200] [--load-ms 50]

Runs ``shop.demos.stampede_run`` (the code behind the stampede demo page):
``--requests`` threads released together by a barrier read one product
through ``redis_patterns.cache.Cache.get`` against a private ``redis-server``
and a temporary SQLite database.  The loader runs the real product query plus
``--load-ms`` of simulated query cost (the stampede hurts in proportion to
it).  Naive and single-flight alternate (A B, B A, ...) for ``--pairs`` pairs
per scenario; the table gives medians and ranges.

- ``expired``: the entry's freshness ended a moment ago; the key is still
  there (stale window).  Single-flight: one request reloads, the others get
  the stale value at once.
- ``cold``: nothing cached.  Single-flight: one request loads, the others
  wait for its value (polling with backoff, bounded).
"""

from __future__ import annotations

import statistics
import sys

from bench.common import (
    ab_order,
    add_state_argument,
    arguments,
    emit,
    machine_state,
    manage,
    md_table,
    setup_django,
)
from redis_patterns.servers import RedisServer


def main(argv: list[str] | None = None) -> str:
    parser = arguments(__doc__)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--load-ms", type=float, default=50.0)
    add_state_argument(parser)
    args = parser.parse_args(argv)
    if args.state == "both":
        parser.error("shop_stampede runs in one state at a time")

    rows = []
    with RedisServer(name="bench-stampede") as server, machine_state(args.state) as ms:
        env = setup_django(server)
        manage(env, "migrate", "-v0")
        manage(env, "seed_demo", "--products", "50", "--quiet")
        from shop import demos

        demos.stampede_run(strategy="single_flight", scenario="cold", requests=20, load_ms=1)  # warm-up
        for scenario in ("expired", "cold"):
            runs: dict[str, list] = {"naive": [], "single_flight": []}
            for pair in range(args.pairs):
                for strategy in ab_order(pair, "naive", "single_flight"):
                    runs[strategy].append(demos.stampede_run(strategy=strategy, scenario=scenario,
                                                             requests=args.requests, load_ms=args.load_ms))
                    sys.stderr.write(f"\r[shop_stampede] {scenario} pair {pair + 1}/{args.pairs} {strategy:14}")
            sys.stderr.write("\n")
            for strategy, results in runs.items():
                loads = [r.db_loads for r in results]
                p99s = [r.p99 for r in results]
                rows.append((scenario, strategy, f"{statistics.median(loads):.0f}", f"{min(loads)}–{max(loads)}",
                             f"{statistics.median(r.p50 for r in results):.1f}", f"{statistics.median(p99s):.1f}",
                             f"{min(p99s):.1f}–{max(p99s):.1f}"))

    return emit([
        ms.describe() + ".",
        "",
        f"{args.requests} concurrent readers (threads released by a barrier) on one key, {args.pairs} alternating "
        f"pairs per scenario; loader = real SQLite product query + {args.load_ms:.0f} ms simulated query cost; "
        "one private redis-server on loopback; 2 shared cores.",
        "",
        *md_table(["key", "strategy", "database loads (median)", "loads min–max", "p50 ms", "p99 ms (median)",
                   "p99 min–max"], rows, align="llrrrrr"),
        "",
        "Target (issue 3): with protection, 1 database load for the whole burst. Naive loads fewer than 200 "
        "times only because the first loads finish while later threads are still being scheduled (the GIL "
        "and 2 cores spread the burst out): the more expensive the query, the closer it gets to one load "
        "per request.",
    ])


if __name__ == "__main__":
    main()
