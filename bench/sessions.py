"""Session load + save per request: this app's Redis engine against Django's db, cache and cached_db engines.

    python -m bench sessions [--rounds 11] [--requests 300] [--sessions 10000] [--idle]

One process, the real settings (``config.settings``) on a private
``redis-server`` and a SQLite file, both on this machine.  A "request" is
what the session middleware does for a logged-in visitor: a fresh store
object on an existing key, read one value (load), change one value and save.
For this app's engine a second row shows its usual request, where nothing
changed and the save only slides the expiry (``seen``, ``PEXPIRE``, the
user's list, the daily-active bit: still one round trip).

Method: each round runs a block of ``--requests`` requests per engine, the
engines in a rotated order each round, after a warm-up; every request is
timed with ``perf_counter_ns``.  Ratios are per round (median against median
of this app's engine in the same round), then the median and interquartile
range over rounds.  Round trips are counted with the command trace, database
queries with ``CaptureQueriesContext``.  Bytes per session: ``INFO memory``
before and after ``--sessions`` logged-in sessions, divided (key overhead,
the per-user list and allocator slack included), and ``MEMORY USAGE`` of one.

Machine state: by default one ``nice -n 19`` busy loop per core runs for the
whole benchmark (BENCHMARKS.md: a loopback round trip is slowest on an idle
VM and moves 40% between idle runs); ``--idle`` runs without them.  Self-
contained (it shares nothing with the other benchmarks' helpers).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import import_module

from tqdm import tqdm

from redis_patterns.servers import RedisServer

ENGINES = ["redis", "cache", "cached_db", "db"]
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
#: What a logged-in visitor's session holds (Django's three auth fields, plus a little of the app's own).
PAYLOAD = {"_auth_user_id": "1", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
           "_auth_user_hash": "a3f5" * 16, "theme": "dark", "n": 0}


def _setup(server: RedisServer) -> None:
    os.environ.update({
        "REDIS_URL": server.url, "VAR_DIR": tempfile.mkdtemp(prefix="bench-sessions-"),
        "SECRET_KEY": "bench-" + "k" * 50, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "0",
        "REDIS_KEY_PREFIX": "", "LOG_LEVEL": "WARNING",
    })
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _store(backend: str) -> type:
    from django.conf import settings

    return import_module(settings.SESSION_ENGINES[backend]).SessionStore


def _client_info(store: object) -> None:
    from sessions_app.store import ClientInfo, SessionStore

    if isinstance(store, SessionStore):
        store.client_info = ClientInfo(user_agent=UA, ip="192.0.2.10")


def _make_sessions(backend: str, n: int) -> list[str]:
    cls = _store(backend)
    out = []
    for _ in range(n):
        s = cls()
        _client_info(s)
        s.update(PAYLOAD)
        s.create()
        s.save()
        out.append(s.session_key)
    return out


def _request(backend: str, keys: list[str], change: bool) -> Callable[[int], None]:
    cls = _store(backend)

    def one(i: int) -> None:
        s = cls(keys[i % len(keys)])
        _client_info(s)
        s.get("theme")  # load
        if change:
            s["n"] = i
        else:
            s.modified = True  # what sessions_app.middleware asks for on every request that used its session
        s.save()

    return one


def _block(op: Callable[[int], None], n: int, start: int) -> list[int]:
    times = []
    for i in range(start, start + n):
        t0 = time.perf_counter_ns()
        op(i)
        times.append(time.perf_counter_ns() - t0)
    return times


def _pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def _counts(op: Callable[[int], None]) -> tuple[int, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from redis_patterns.tracing import tracing

    with tracing() as trace, CaptureQueriesContext(connection) as queries:
        op(10**6)
    return trace.round_trip_count, trace.command_count, len(queries)


def _bytes_per_session(backend: str, n: int, listpack_value: int | None = None) -> tuple[float, int]:
    from django.conf import settings
    from django.core.cache import caches

    from config.redis import get_redis
    from sessions_app import keys as session_keys

    r = get_redis()
    r.flushall()
    default = r.config_get("hash-max-listpack-value")["hash-max-listpack-value"]
    if listpack_value is not None:  # our own private server: the encoding threshold, course section 3
        r.config_set("hash-max-listpack-value", listpack_value)
    before = int(r.info("memory")["used_memory"])
    made = _make_sessions(backend, n)
    after = int(r.info("memory")["used_memory"])
    sample = made[0]
    if backend == "redis":
        one = r.memory_usage(session_keys.session_key(session_keys.session_id(sample)))
    else:
        cls = _store(backend)
        one = r.memory_usage(caches[settings.SESSION_CACHE_ALIAS].make_key(cls.cache_key_prefix + sample))
    r.flushall()
    r.config_set("hash-max-listpack-value", default)
    return (after - before) / n, int(one or 0)


def _busy_loops() -> list[subprocess.Popen]:
    return [subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"])
            for _ in range(os.cpu_count() or 1)]


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--requests", type=int, default=300, help="requests per engine per round")
    parser.add_argument("--sessions", type=int, default=10_000, help="sessions stored for the bytes figure")
    parser.add_argument("--idle", action="store_true", help="no busy loops (report the idle machine)")
    args = parser.parse_args(argv)

    server = RedisServer(name="bench-sessions").start()
    busy = [] if args.idle else _busy_loops()
    try:
        _setup(server)
        import redis

        rows = {name: {"change": True} for name in ENGINES}
        rows["redis (unchanged: refresh only)"] = {"change": False, "backend": "redis"}
        pools = {name: _make_sessions(name, 200) for name in ENGINES}
        ops = {name: _request(spec.get("backend", name), pools[spec.get("backend", name)], spec["change"])
               for name, spec in rows.items()}
        plain = redis.Redis(host=server.host, port=server.port)
        plain.set("bench:plain", "x")
        ops["GET (redis-py, floor)"] = lambda i: plain.get("bench:plain")
        counts = {name: _counts(op) for name, op in ops.items()}
        counts["GET (redis-py, floor)"] = (1, 1, 0)  # an untraced client: the floor as it is
        for op in ops.values():
            _block(op, max(50, args.requests // 5), 0)  # warm-up: connections, scripts, SQLite pages
        names = list(ops)
        samples: dict[str, list[int]] = {name: [] for name in names}
        ratios: dict[str, list[float]] = {name: [] for name in names}
        for rnd in tqdm(range(args.rounds), desc="rounds", file=sys.stderr):
            order = names[rnd % len(names):] + names[:rnd % len(names)]
            medians = {}
            for name in order:
                times = _block(ops[name], args.requests, rnd * args.requests)
                samples[name].extend(times)
                medians[name] = statistics.median(times)
            for name in names:
                ratios[name].append(medians[name] / medians["redis"])
        memory = {}
        for name in tqdm(ENGINES[:3], desc="bytes per session", file=sys.stderr):
            memory[name] = _bytes_per_session(name, args.sessions)
        memory["redis, hash-max-listpack-value 512"] = _bytes_per_session("redis", args.sessions, 512)
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
        server.cleanup()

    state = "idle" if args.idle else f"{len(busy) or os.cpu_count()} `nice -n 19` busy loops (one per core)"
    lines = [
        f"{args.rounds} rounds × {args.requests} requests per engine, engines rotated each round; per-request "
        f"timings. One process, the real settings, a private redis-server and a SQLite file (WAL) on this "
        f"machine; redis-py with hiredis; machine state: {state}. A request: a fresh store on an existing "
        "logged-in session, read a value, change one, save (Django's `cache` and `cached_db` engines go "
        "through django-redis, JSON serializer).",
        "",
        "| engine | round trips | Redis commands | SQL queries | p50 µs | p99 µs | × this app's engine (median of rounds) | IQR |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        rtt, cmds, queries = counts[name]
        q1, _, q3 = statistics.quantiles(ratios[name], n=4)
        lines.append(f"| {name} | {rtt} | {cmds} | {queries} | {_pct(samples[name], 0.5):.0f} | "
                     f"{_pct(samples[name], 0.99):.0f} | {statistics.median(ratios[name]):.2f}x | "
                     f"{q1:.2f}–{q3:.2f} |")
    lines += [
        "",
        f"Bytes per logged-in session in Redis ({args.sessions:,} sessions; `INFO memory` used_memory delta / n, "
        "and `MEMORY USAGE` of one key):",
        "",
        "| engine | bytes per session (all keys, allocator included) | MEMORY USAGE of the session key |",
        "|---|---:|---:|",
    ]
    for name, (per, one) in memory.items():
        lines.append(f"| {name} | {per:,.0f} | {one:,} |")
    lines += [
        "",
        "A session hash holds values longer than `hash-max-listpack-value` (64 bytes by default: the JSON "
        "payload, the user agent), so Redis keeps it as a `hashtable`, not a compact `listpack`; raising the "
        "threshold on the server (last row) keeps it a listpack. The per-session figure also carries the "
        "user's list (one sorted-set member per session) and the daily-active bitmap.",
    ]
    lines += [
        "",
        "Reading: this app's engine costs one round trip to load and one to save, where Django's `cache` engine "
        "adds a `GET` before every save to check the key still exists (the save script checks that inside "
        "Redis, atomically); `cached_db` and `db` pay SQL on every save, and SQLite's commits on this shared "
        "disk make their spread wide. On loopback a round trip is cheap (the GET row), so the `cache` engine's "
        "extra one costs less than what this engine adds to each request: the script's run inside Redis, the "
        "user's list and the daily-active bit in the same pipeline, and more Python; the ratio column says by "
        "how much here. Where a round trip costs more (a real network), the saved round trip weighs more. The "
        "Redis engine's session is larger than the `cache` engine's string because it also keeps the device, "
        "the address, the creation and last-seen times and the user's list entry that make \"Your sessions\" "
        "and revocation possible; the `db` engine keeps nothing in Redis.",
    ]
    out = "\n".join(lines)
    sys.stdout.write(out + "\n")
    return out


if __name__ == "__main__":
    main()
