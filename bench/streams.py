"""Stream workers: the framework against the raw floor, real order throughput, where time goes, latency.

    python -m bench streams [--pairs 7] [--entries 20000] [--orders 600] [--rate 40] [--seconds 15]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test python -m bench streams   # on PostgreSQL

One private ``redis-server``; the database is PostgreSQL when ``DATABASE_URL``
names one (the benchmark creates a database of its own on that server,
``bench_streams_<pid>``, and drops it at the end), else a file SQLite
database (WAL) in a temp dir.  In a pinned machine state (``--state``).

1. **Framework vs raw floor** (in-process, alternating pairs): the raw floor is
   a bare loop of ``XREADGROUP COUNT n`` + one multi-id ``XACK`` (no handler,
   no bookkeeping); the framework is ``StreamWorker.run_once`` with a no-op
   handler (its tracing, error handling, stats counters).  At ``COUNT`` 100
   and 1.  Ratio per pair, median and spread.
2. **Order throughput** with the real handler: 1, 2 and 4 ``run_stream_worker``
   processes, N orders produced at once, orders/s until the last is acknowledged
   (rounds in rotating order: 1 2 4, 4 2 1, ...), and the CPU each kind of
   process spent per order (workers, their PostgreSQL backends, redis-server,
   this process) with what the busy state's loops took meanwhile.  Target on
   PostgreSQL: 2 processes at least 1.6x one.
3. **Where the time goes** with the real handler: ``cProfile`` of one
   in-process worker over N orders, self time grouped by library; database
   queries and Redis round trips per order counted.
4. **End-to-end latency**: checkout (the service, in-process) at a steady
   rate, 2 worker processes; per order, time from the checkout call to the
   ``completed`` transition; p50/p99.

The machine has 2 cores shared by the benchmark, the workers and Redis (and
by other engineers' jobs while it ran): read ratios, not absolute numbers.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from bench.common import (
    ROOT,
    ab_order,
    add_state_argument,
    arguments,
    emit,
    machine_state,
    md_table,
    percentile,
    setup_django,
    spread,
    states,
    target,
    target_table,
)
from redis_patterns.servers import RedisServer

NOOP_STREAM = "bench:{b}:stream"


# --- 1. framework vs raw floor ----------------------------------------------------------------


def _fill(client, n: int) -> None:
    client.delete(NOOP_STREAM)
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(NOOP_STREAM, {"order_id": str(i)})
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    client.xgroup_create(NOOP_STREAM, "g", id="0")


def _raw(client, count: int) -> int:
    """The floor: XREADGROUP COUNT n, then one XACK with every id; nothing else."""
    done = 0
    while True:
        reply = client.xreadgroup("g", "raw", {NOOP_STREAM: ">"}, count=count)
        if not reply:
            return done
        ids = [entry_id for entry_id, _ in reply[0][1]]
        client.xack(NOOP_STREAM, "g", *ids)
        done += len(ids)


def _framework(client, count: int) -> int:
    from redis_patterns.streams import StreamWorker, WorkerConfig

    cfg = WorkerConfig(stream=NOOP_STREAM, group="g", consumer="fw", dead_letter="bench:{b}:dead",
                       stats="bench:{b}:stats", count=count, block_ms=1, claim_every_s=1e9, trim_every_s=0)
    worker = StreamWorker(client, cfg, lambda msg: None)
    worker._ready = True  # the group exists; skip the own-PEL recovery read
    worker._next_claim = float("inf")
    done = 0
    while True:
        n = worker.run_once()
        if not n:
            return done
        done += n


def bench_floor(pairs: int, entries: int) -> list[tuple]:
    from config.redis import build_client

    client = build_client(socket_timeout=10)
    rows = []
    for count, n in ((100, entries), (1, max(1000, entries // 7))):
        raw_rates, fw_rates, ratios = [], [], []
        for pair in range(-1, pairs):  # pair -1 is the warm-up
            result = {}
            for mode in ab_order(pair, "raw", "fw"):
                _fill(client, n)
                t0 = time.perf_counter()
                done = (_raw if mode == "raw" else _framework)(client, count)
                result[mode] = done / (time.perf_counter() - t0)
                assert done == n, (mode, done, n)
            if pair >= 0:
                raw_rates.append(result["raw"])
                fw_rates.append(result["fw"])
                ratios.append(result["fw"] / result["raw"])
            sys.stderr.write(f"\r[streams] floor COUNT {count} pair {pair + 1}/{pairs}: raw {result['raw']:,.0f}/s, "
                             f"framework {result['fw']:,.0f}/s   ")
        sys.stderr.write("\n")
        rows.append((count, f"{n:,}", f"{statistics.median(raw_rates):,.0f}", f"{statistics.median(fw_rates):,.0f}",
                     f"**{statistics.median(ratios):.2f}x**", spread(ratios)))
    client.delete(NOOP_STREAM, "bench:{b}:stats")
    client.close()
    return rows


# --- helpers for the order runs --------------------------------------------------------------


def _product(stock: int = 10**9):
    from shop.models import Category, Product

    category, _ = Category.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    n = Product.objects.count()
    return Product.objects.create(category=category, name=f"Bench {n}", slug=f"bench-{n}-{time.time_ns()}",
                                  description="", price=Decimal("1.00"), stock=stock, image_hue=1)


def _orders(n: int) -> list[int]:
    from shop.models import Order, OrderItem

    product = _product()
    # each order its own visitor, as in a shop: a batch's notifications go to as many audiences as orders
    orders = Order.objects.bulk_create([Order(owner=f"session:bench{i}", total=Decimal(1)) for i in range(n)])
    OrderItem.objects.bulk_create([OrderItem(order=o, product=product, quantity=1, unit_price=Decimal(1))
                                   for o in orders])
    return [o.pk for o in orders]


def _reset(client) -> None:
    from shop.models import Order, OutboxMessage
    from workers import keys

    Order.objects.all().delete()
    OutboxMessage.objects.all().delete()
    client.delete(keys.orders_stream(), keys.orders_dead_letter(), keys.orders_stats("bench"))


def _start_workers(env: dict[str, str], n: int, tag: str) -> list[subprocess.Popen]:
    procs = []
    for i in range(n):
        procs.append(subprocess.Popen(
            [sys.executable, "manage.py", "run_stream_worker", "orders", "--group", "bench", "--consumer",
             f"{tag}-{i}", "--no-relay", "--block-ms", "200"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


def _wait_consumers(client, n: int) -> None:
    from workers import keys

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if len(client.xinfo_consumers(keys.orders_stream(), "bench")) >= n:
                return
        except Exception:  # noqa: S110 - the group does not exist before the first worker starts
            pass
        time.sleep(0.05)
    raise RuntimeError("workers did not start")


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def _completed() -> int:
    from shop.models import Order

    return Order.objects.filter(status=Order.Status.COMPLETED).count()


# --- 2. throughput with 1 and 2 processes --------------------------------------------------------


def _cpu_ticks(pids) -> dict[int, int]:
    """User + system CPU of each live process so far, in clock ticks (``/proc/<pid>/stat``)."""
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone, or not on this machine
        out[pid] = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat(5))
    return out


def _spent_ms(before: dict[int, int], after: dict[int, int], pids) -> float:
    """CPU milliseconds ``pids`` used between two ``_cpu_ticks`` readings (a process absent before: all of it)."""
    return sum(after.get(pid, 0) - before.get(pid, 0) for pid in pids) * 1000 / os.sysconf("SC_CLK_TCK")


def _db_backends() -> list[int]:
    """The PostgreSQL server processes serving this database's other connections (none on SQLite)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return [row[0] for row in cursor.fetchall()]


def _all_acked(client, last_id: str) -> bool:
    """The group has been handed every entry up to ``last_id`` and acknowledged them all (a worker acks
    after its commit)."""
    from workers import keys

    group = next(g for g in client.xinfo_groups(keys.orders_stream()) if g["name"] == "bench")
    return group["last-delivered-id"] == last_id and group["pending"] == 0


def bench_processes(env: dict[str, str], orders: int, rounds: int, redis_pid: int, loops: tuple[int, ...] = (),
                    counts: tuple[int, ...] = (1, 2, 4)) -> dict:
    """Orders/s with each number of worker processes, and the CPU every process spent per order.

    The clock stops at the last ``XACK`` (``XINFO GROUPS``: every entry read and
    none pending), polled every 20 ms; a database count then checks that every
    order really is ``completed``.  CPU is ``/proc/<pid>/stat`` before and
    after, for the workers, their PostgreSQL backends, redis-server and this
    process (the ``XADD`` s and the polling), so the page shows how much of the
    machine a run used: where 2 processes are short of 2x, whether the cores
    were full; and what the machine state's busy loops (``loops``) took meanwhile.
    """
    from config.redis import get_redis
    from workers import keys

    client = get_redis()
    rates: dict[int, list[float]] = {k: [] for k in counts}
    cpu: dict[int, list[dict[str, float]]] = {k: [] for k in counts}  # ms per order, by process kind
    for rnd in range(rounds):
        order = counts if rnd % 2 == 0 else tuple(reversed(counts))
        for k in order:
            _reset(client)
            ids = _orders(orders)
            client.xgroup_create(keys.orders_stream(), "bench", id="$", mkstream=True)
            procs = _start_workers(env, k, f"p{k}")
            try:
                _wait_consumers(client, k)
                kinds = {"workers": [p.pid for p in procs], "redis-server": [redis_pid]}
                before = _cpu_ticks([*kinds["workers"], redis_pid, *_db_backends(), *loops])
                own = time.process_time()
                t0 = time.perf_counter()
                pipe = client.pipeline(transaction=False)
                for oid in ids:
                    pipe.xadd(keys.orders_stream(), {"order_id": str(oid)})
                last_id = pipe.execute()[-1]
                while not _all_acked(client, last_id):
                    time.sleep(0.02)
                wall = time.perf_counter() - t0
                own = time.process_time() - own
                kinds["PostgreSQL"] = _db_backends()  # the workers' connections, opened by now
                after = _cpu_ticks([*(pid for pids in kinds.values() for pid in pids), *loops])
                done = _completed()
                if done != orders:
                    raise RuntimeError(f"{k} worker(s) acknowledged {orders} entries but {done} orders are completed")
                rates[k].append(orders / wall)
                used = {kind: _spent_ms(before, after, pids) / orders for kind, pids in kinds.items()}
                used["this process"] = own * 1000 / orders
                used["cores busy"] = sum(used.values()) * orders / 1000 / wall
                used["loops"] = _spent_ms(before, after, loops) / 1000 / wall
                cpu[k].append(used)
            finally:
                _stop(procs)
            sys.stderr.write(f"\r[streams] processes round {rnd + 1}/{rounds}: {k} -> {rates[k][-1]:.0f} orders/s   ")
    sys.stderr.write("\n")
    base = statistics.median(rates[counts[0]])
    rows, cpu_rows = [], []
    ratios: dict[int, list[float]] = {}
    for k in counts:
        ratios[k] = [b / a for a, b in zip(rates[counts[0]], rates[k], strict=True)]
        rows.append((k, f"{statistics.median(rates[k]):.0f}", f"{min(rates[k]):.0f}–{max(rates[k]):.0f}",
                     f"**{statistics.median(ratios[k]):.2f}x**" if k != counts[0] else "1.00x",
                     spread(ratios[k]) if k != counts[0] else ""))
        med = {kind: statistics.median(run[kind] for run in cpu[k]) for kind in cpu[k][0]}
        total = sum(med[kind] for kind in CPU_KINDS)
        cpu_rows.append((k, *(f"{med[kind]:.2f}" for kind in CPU_KINDS), f"**{total:.2f}**",
                         f"{med['cores busy']:.2f}", f"{med['loops']:.2f}" if loops else "–"))
    return {"rows": rows, "cpu": cpu_rows, "ratio": {k: statistics.median(v) for k, v in ratios.items()},
            "base": base}


CPU_KINDS = ("workers", "PostgreSQL", "redis-server", "this process")


# --- 3. profile ---------------------------------------------------------------------------------


def _bucket(filename: str) -> str:
    if "/realtime/" in filename:
        return "status notifications (publish_events: stream appends + channel layer)"
    if "/django/db/" in filename or "sqlite3" in filename or "/psycopg" in filename:
        return "database (Django ORM + driver)"
    if "/redis/" in filename or "hiredis" in filename or filename.endswith("socket.py") or "selectors" in filename:
        return "Redis (redis-py + socket)"
    if "/channels/" in filename or "/channels_redis/" in filename or "/asgiref/" in filename or "asyncio" in filename \
            or "concurrent/futures" in filename or "threading.py" in filename:
        return "status notifications (publish_events: stream appends + channel layer)"
    return "other Python (Django, handler, worker loop)"


def bench_profile(orders: int) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from config.redis import build_client, get_redis
    from redis_patterns.streams import StreamWorker, WorkerConfig
    from redis_patterns.tracing import tracing
    from workers import keys
    from workers.handlers import order_batch_handler, order_handler

    client = get_redis()
    _reset(client)
    ids = _orders(orders)
    pipe = client.pipeline(transaction=False)
    for oid in ids:
        pipe.xadd(keys.orders_stream(), {"order_id": str(oid)})
    pipe.execute()
    wclient = build_client(socket_timeout=10)
    cfg = WorkerConfig(stream=keys.orders_stream(), group="bench", consumer="prof", dead_letter=keys.orders_dead_letter(),
                       stats=keys.orders_stats("bench"), count=10, block_ms=1, claim_every_s=1e9, trim_every_s=0)
    # as run_stream_worker runs it: batches of 10, each one transaction (order_batch_handler)
    worker = StreamWorker(wclient, cfg, order_handler(cfg), handle_many=order_batch_handler(cfg))
    profile = cProfile.Profile()
    with CaptureQueriesContext(connection) as queries, tracing("profile") as trace:
        t0 = time.perf_counter()
        profile.enable()
        done = 0
        while done < orders:
            done += worker.run_once()
        profile.disable()
        wall = time.perf_counter() - t0
    stats = pstats.Stats(profile)
    buckets: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if filename == "~" and callers:
            # A C function (socket recv, sqlite3 commit, lock wait): charge its self time
            # to whoever called it, so waiting on a socket counts as Redis, not "Python".
            for (caller_file, _l, _n), caller_stats in callers.items():
                buckets[_bucket(caller_file)] = buckets.get(_bucket(caller_file), 0.0) + caller_stats[2]
            continue
        buckets[_bucket(filename)] = buckets.get(_bucket(filename), 0.0) + tottime
    total = sum(buckets.values()) or 1
    rows = [(name, f"{seconds * 1000 / orders:.2f}", f"{seconds / total:.0%}")
            for name, seconds in sorted(buckets.items(), key=lambda kv: -kv[1])]
    rows.append(("**total (profiled)**", f"{total * 1000 / orders:.2f}", "100%"))
    summary = (f"{orders} orders in {wall:.2f} s in one in-process worker ({orders / wall:.0f} orders/s under "
               f"the profiler); per order: {len(queries) / orders:.1f} database queries, "
               f"{trace.round_trip_count / orders:.2f} Redis round trips.")
    wclient.close()
    return [summary, "", *md_table(["where", "ms per order", "share"], rows)]


# --- 4. end-to-end latency -------------------------------------------------------------------------


def bench_latency(env: dict[str, str], rate: float, seconds: float) -> list[tuple]:
    from config.redis import get_redis
    from shop import checkout
    from shop.models import Order
    from workers import keys

    client = get_redis()
    _reset(client)
    product = _product()
    client.xgroup_create(keys.orders_stream(), "bench", id="$", mkstream=True)
    procs = _start_workers(env, 2, "lat")
    starts: dict[int, float] = {}
    try:
        _wait_consumers(client, 2)
        lines = [checkout.CartLine(product.pk, 1)]
        interval = 1 / rate
        t_next = time.time()
        end = t_next + seconds
        while t_next < end:
            now = time.time()
            if now < t_next:
                time.sleep(t_next - now)
            t0 = time.time()
            result = checkout.order_checkout(owner="session:lat", user_id=None, lines=lines)
            starts[result.order.pk] = t0
            t_next += interval
        deadline = time.monotonic() + 120
        while Order.objects.filter(pk__in=list(starts), status=Order.Status.COMPLETED).count() < len(starts):
            if time.monotonic() > deadline:
                raise RuntimeError("orders did not complete")
            time.sleep(0.05)
    finally:
        _stop(procs)
    done = dict(Order.objects.filter(pk__in=list(starts)).values_list("pk", "updated_at"))
    latencies = [(done[pk].timestamp() - t0) * 1000 for pk, t0 in starts.items()]
    achieved = len(starts) / seconds
    return [(f"{rate:.0f}/s ({achieved:.0f}/s achieved)", len(starts), 2, f"{percentile(latencies, 0.5):.1f}",
             f"{percentile(latencies, 0.99):.1f}", f"{max(latencies):.1f}")]


def _database(tmp: Path) -> tuple[str, str, str | None]:
    """``(DATABASE_URL for the run, label, PostgreSQL database to drop afterwards)``."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{tmp / 'db.sqlite3'}", "file SQLite (WAL)", None
    import dj_database_url
    import psycopg
    from psycopg import sql

    parsed = dj_database_url.parse(url)
    name = f"bench_streams_{os.getpid()}"
    params = {k: v for k, v in {"host": parsed.get("HOST"), "port": parsed.get("PORT"), "user": parsed.get("USER"),
                                "password": parsed.get("PASSWORD")}.items() if v}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        version = conn.execute("SHOW server_version").fetchone()[0]
    return url.rsplit("/", 1)[0] + f"/{name}", f"PostgreSQL {version}", name


def _drop(url: str, name: str) -> None:
    import dj_database_url
    import psycopg
    from django.db import connections
    from psycopg import sql

    connections.close_all()
    parsed = dj_database_url.parse(url)
    params = {k: v for k, v in {"host": parsed.get("HOST"), "port": parsed.get("PORT"), "user": parsed.get("USER"),
                                "password": parsed.get("PASSWORD")}.items() if v}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main(argv: list[str] | None = None) -> str:
    parser = arguments(__doc__)
    parser.add_argument("--pairs", type=int, default=11)
    parser.add_argument("--entries", type=int, default=20_000, help="entries per floor run at COUNT 100")
    parser.add_argument("--orders", type=int, default=2000, help="orders per throughput run")
    parser.add_argument("--process-pairs", type=int, default=9, help="rounds of the 1/2/4-process runs")
    parser.add_argument("--profile-orders", type=int, default=500)
    parser.add_argument("--rate", type=float, default=40, help="checkouts per second for the latency run")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--only", choices=["floor", "processes", "profile", "latency"], action="append",
                        help="run only these sections (repeatable)")
    add_state_argument(parser, default="both")
    args = parser.parse_args(argv)
    only = set(args.only or ["floor", "processes", "profile", "latency"])

    tmp = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    url, db_label, drop = _database(tmp)
    found = []
    floor, profile, latency = [], [], []
    procs: dict[str, dict] = {}  # machine state -> the processes section's results
    described: list[str] = []
    try:
        with RedisServer(name="bench-streams") as server:
            # the worker processes share this database; they keep their connection between batches
            env = setup_django(server, migrate=True, VAR_DIR=str(tmp), DATABASE_URL=url, DB_CONN_MAX_AGE="600")
            # The process counts in every state asked for; the other sections in the first one only.
            for n, state in enumerate(states(args.state)):
                with machine_state(state) as ms:
                    if n == 0 and "floor" in only:
                        floor = bench_floor(args.pairs, args.entries)
                    if "processes" in only:
                        procs[state] = bench_processes(env, args.orders, args.process_pairs, server.pid, ms.pids)
                    if n == 0 and "profile" in only:
                        profile = bench_profile(args.profile_orders)
                    if n == 0 and "latency" in only:
                        latency = bench_latency(env, args.rate, args.seconds)
                described.append(ms.describe() + ("" if n else " (every section)" if len(states(args.state)) > 1
                                                  else "") + ".")
    finally:
        if drop:
            _drop(url, drop)
    for state, result in procs.items():
        found.append(target("streams", f"orders/s, 2 worker processes vs 1 ({db_label})", result["ratio"][2], 1.6,
                            higher_is_better=True, state=state))

    out = [
        "## Targets", "", *target_table(found), "",
        *described, "",
        f"Database: **{db_label}**. The machine has 2 cores shared by this benchmark, the worker processes, "
        "redis-server and the database server, and by other engineers' jobs while it ran: absolute numbers are "
        "noisy; read the ratios.",
        "",
    ]
    if floor:
        out += [
            "## 1. Framework with a no-op handler vs the raw floor",
            "",
            f"{args.pairs} alternating pairs (after a warm-up pair). Raw floor: `XREADGROUP COUNT n` then one "
            "multi-id `XACK`, nothing else. Framework: `StreamWorker.run_once()` with a no-op handler (per-batch "
            "trace, per-entry error handling, claim/trim scheduling, stats `HINCRBY`+`EXPIRE` pipelined into an "
            "`XACK` once a second). Target: ≥ 0.8x.",
            "",
            *md_table(["COUNT", "entries per run", "raw floor msg/s", "framework msg/s", "framework / floor (median)",
                       "IQR"], floor, align="rrrrrr"),
            "",
        ]
    if procs:
        out += [
            "## 2. Order throughput with the real handler: 1, 2 and 4 worker processes",
            "",
            f"{args.orders} orders produced at once; `run_stream_worker` processes (its default `--count`), "
            f"{db_label}; orders/s from the first `XADD` to the last `XACK` (each after its commit; every order then checked `completed` in the database); {args.process_pairs} rounds, the "
            "order of the three runs rotating.",
            "",
        ]
        for state, result in procs.items():
            out += [
                f"**{state}**:", "",
                *md_table(["processes", "orders/s (median)", "range", "vs 1 process (median of rounds)", "IQR"],
                          result["rows"], align="rrrrr"),
                "",
                f"CPU per order ({state}; ms, median of rounds; `/proc/<pid>/stat` before and after each run):",
                "",
                *md_table(["processes", *(f"{kind} ms" for kind in CPU_KINDS), "total ms", "cores busy",
                           "cores the busy loops took"], result["cpu"], align="rrrrrrrr"),
                "",
            ]
        out += [
            "Each batch of orders a worker reads (10 by default) is one database transaction "
            "(`shop.orders.order_process_many`: the orders read and locked with whether they have items, one "
            "guarded `UPDATE` per outcome, one `INSERT` of the fulfilment rows, one commit), then its status "
            "notifications (two per order, each order a different visitor's): the appends in one pipelined round "
            "trip, then the live copies: all the visitors' channel-layer groups asked for members in one round trip, "
            "and a `group_send` only to those with a socket open (`realtime.services.publish_events`, "
            "`realtime.layers.CoreChannelLayer.group_send_many`; here none are, so 4 Redis round trips per batch). "
            "On SQLite the processes queue for the file's one writer; on PostgreSQL "
            "their transactions run side by side. "
            "Every hand-off between processes (the worker, its PostgreSQL backend, Redis) is a wake-up, and in "
            "the `busy` state each wake-up first takes a core back from a nice-19 loop: with one transaction per "
            "order (about a dozen hand-offs per order), 2 processes made 1.39–1.56x one in the busy state against "
            "1.90x idle; with one transaction per batch but each "
            "notification still its own call (three round trips each), 1.28–1.30x busy and 1.95x idle, one "
            "process making 732 orders/s busy and 657 idle (2026-12-01); with channels-redis's `group_send` for each "
            "visitor (two round trips each to find nobody listening, 23 per batch), 1,058 orders/s busy and 1,012 "
            "idle, 2 processes 1.51x busy and 1.76x idle (2026-12-02). Both states are reported, the target judged in each. "
            "The CPU tables say where a shortfall comes from: the work per order barely grows with the processes "
            "(no lock or queue between them), but in the busy state the nice-19 loops are not only filling time "
            "nobody wants: each hand-off leaves a core idle for a moment, a loop takes it, and the woken process "
            "waits for it; with 2 worker processes the loops still got a large share of the machine (last column), "
            "with 4 (fewer gaps) little. The idle state has no loops, and there 2 processes come near 2x.",
            "",
        ]
    if profile:
        out += ["## 3. Where the time goes with the real order handler", "", *profile, ""]
    if latency:
        out += [
            "## 4. End-to-end latency: checkout → completed",
            "",
            f"The checkout service called in-process at a steady rate for {args.seconds:.0f} s; 2 worker processes; "
            "latency from the checkout call to the `completed` transition's timestamp.",
            "",
            *md_table(["load", "orders", "worker processes", "p50 ms", "p99 ms", "max ms"], latency),
        ]
    return emit(out)


if __name__ == "__main__":
    main()
