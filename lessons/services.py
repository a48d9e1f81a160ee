"""What the lesson pages' buttons do: each runs a pattern for real against the app's Redis and measures it.

- ``round_trips_compare``: the same 20 reads one by one, pipelined, and as one ``MGET``.
- ``scripts_run``: a script through the loader, optionally after making the server forget it.
- ``check_and_set_race``: 8 threads debiting one balance with Lua, ``WATCH``/``MULTI``/``EXEC``, and naively.
- ``ratelimit_timeline``: one request timeline replayed against all five rate-limit algorithms.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from config.demos import scratch_client
from config.redis import get_redis, redis_config
from lessons import keys
from redis_patterns import check_and_set, roundtrips
from redis_patterns.ratelimit import ALGORITHMS, decide_many
from redis_patterns.scripts import loader
from redis_patterns.tracing import Trace, tracing

# --- round trips ---------------------------------------------------------------------------


def round_trips_compare() -> dict[str, Any]:
    """Write the demo keys (one pipeline), then read them three ways; what each cost."""
    client = get_redis()
    names = keys.round_trip_items()
    expected = [f"value-{i}" for i in range(len(names))]
    with tracing("seed") as seed:
        roundtrips.write_with_ttl(client, dict(zip(names, expected, strict=True)), ttl_seconds=3600)
    results = []
    for label, fn in (("one by one", roundtrips.read_one_by_one), ("pipeline", roundtrips.read_pipelined),
                      ("MGET", roundtrips.read_mget)):
        t0 = time.perf_counter_ns()
        with tracing(label) as trace:
            values = fn(client, names)
        wall_us = (time.perf_counter_ns() - t0) / 1000
        results.append({"label": label, "function": fn.__name__, "commands": trace.command_count,
                        "round_trips": trace.round_trip_count, "redis_us": trace.duration_ms * 1000,
                        "wall_us": wall_us, "values_ok": values == expected})
    base = results[0]["wall_us"] or 1
    slowest = max(row["wall_us"] for row in results) or 1
    for row in results:
        row["ratio"] = row["wall_us"] / base
        # The chart scales to the slowest strategy: a noisy run where a pipeline is slower than one by one
        # must not draw a bar wider than its row (it made the page scroll sideways on a phone).
        row["bar_pct"] = round(100 * row["wall_us"] / slowest)
    # A fresh connection first says hello (CLIENT SETNAME, SETINFO): show those apart.
    pipelined = [rt for rt in seed.round_trips if rt.pipelined]
    return {"results": results, "seed_commands": sum(len(rt.commands) for rt in pipelined),
            "seed_round_trips": len(pipelined), "handshake": seed.round_trip_count - len(pipelined)}


# --- scripts ---------------------------------------------------------------------------------


def scripts_mode() -> dict[str, Any]:
    """The loader's library, its scripts and the mode this process uses (Functions or EVALSHA)."""
    scripts = loader("redis_patterns")
    client = get_redis()
    info: dict[str, Any] = {"library": scripts.library, "scripts": list(scripts.scripts),
                            "mode": scripts.mode(client) or "not decided yet (no call on this process)"}
    if scripts.mode(client) == "functions":
        info["functions"] = [_as_dict(lib) for lib in client.function_list(library=scripts.library)]
    return info


def _as_dict(reply: list | dict) -> dict:
    """A RESP2 flat ``[k1, v1, k2, v2]`` reply (as FUNCTION LIST gives) as a dict."""
    if isinstance(reply, dict):
        return reply
    out = dict(zip(reply[::2], reply[1::2], strict=True))
    if "functions" in out:
        out["functions"] = [_as_dict(f) for f in out["functions"]]
    return out


def scripts_run(*, forget: bool) -> dict[str, Any]:
    """Offer a random high score through ``set_if_higher``; with ``forget``, make a server forget it first.

    Forgetting drops the package's library (or the script cache on a server
    without Functions): what a restart without persistence, or a failover to a
    replica that never saw ``SCRIPT LOAD``, does to you.  It is destructive for
    everyone on that server, so it never runs on the site's Redis: the whole
    forget-then-call sequence runs on a scratch server (``config.demos``), and
    the site's scripts stay loaded for every other visitor.
    """
    scripts = loader("redis_patterns")
    client = scratch_client() if forget else get_redis()
    out: dict[str, Any] = {"scratch": forget}
    if forget:
        scripts.call(client, "set_if_higher", keys=[keys.high_score()], args=[0, 600_000])  # loaded there first
        with tracing("forget") as trace:
            if scripts.mode(client) == "evalsha":
                client.script_flush()
            else:
                try:
                    client.execute_command("FUNCTION", "DELETE", scripts.library)
                except ResponseError:
                    pass  # already gone: nothing to forget
        out["forget"] = trace
    candidate = secrets.randbelow(1000)
    with tracing("call") as call:
        stored, current = scripts.call(client, "set_if_higher", keys=[keys.high_score()], args=[candidate, 600_000])
    return {**out, "call": call, "candidate": candidate, "stored": bool(stored), "current": current}


# --- check-and-set -----------------------------------------------------------------------------

CAS_START = 100
CAS_AMOUNT = 10
CAS_THREADS = 8
CAS_TRIES = 5
CAS_APPROACHES = ("lua", "watch", "naive")


def check_and_set_race(approach: str) -> dict[str, Any]:
    """``CAS_THREADS`` threads each try ``CAS_TRIES`` debits of ``CAS_AMOUNT`` from ``CAS_START``."""
    client = get_redis()
    wallet = keys.wallet(approach)
    client.set(wallet, CAS_START, ex=600)
    fn = {"lua": check_and_set.debit_lua, "watch": check_and_set.debit_watch,
          "naive": check_and_set.debit_naive}[approach]
    granted, attempts, round_trips, errors = [0], [0], [0], []
    lock = threading.Lock()
    start = threading.Barrier(CAS_THREADS)

    def buyer() -> None:
        start.wait()
        with tracing(approach) as trace:
            for _ in range(CAS_TRIES):
                try:
                    result = fn(client, wallet, CAS_AMOUNT)
                except Exception as exc:  # show it on the page rather than lose the thread silently
                    errors.append(str(exc))
                    break
                with lock:
                    granted[0] += result.ok
                    attempts[0] += result.attempts
        with lock:
            round_trips[0] += trace.round_trip_count

    threads = [threading.Thread(target=buyer) for _ in range(CAS_THREADS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed_ms = (time.perf_counter() - t0) * 1000
    final = int(client.get(wallet) or 0)
    calls = CAS_THREADS * CAS_TRIES
    return {"approach": approach, "granted": granted[0], "final": final, "calls": calls,
            "retries": attempts[0] - calls, "round_trips": round_trips[0], "ms": elapsed_ms,
            "correct": granted[0] == CAS_START // CAS_AMOUNT and final == 0, "errors": errors[:3]}


# --- the rate-limit chart ------------------------------------------------------------------------
# The timeline runs on a controlled clock (each decision passes its own
# ``now``), so the page is the same on every load and shows in seconds what
# would take minutes of real traffic.  All decisions of one timeline (5
# algorithms x ~30 requests) go in one pipelined round trip; each is still
# its own atomic script, in order.

RL_LIMIT = 5
RL_PERIOD = 10.0  # simulated seconds
RL_SPAN = 30.0

RL_PATTERNS: dict[str, tuple[str, list[float]]] = {
    "window-edge": ("Quiet, then 5 requests just before a window edge and 10 just after it (every 0.2 s).",
                    [9.0 + 0.2 * i for i in range(5)] + [10.0 + 0.2 * i for i in range(10)]
                    + [20.0 + 0.5 * i for i in range(6)]),
    "steady": ("One request per second: twice the allowed average rate.", [0.5 + i for i in range(30)]),
    "bursty": ("Bursts of 8 requests within 0.7 s, every 7 s.",
               [start + 0.1 * i for start in (1.0, 8.0, 15.0, 22.0) for i in range(8)]),
}

RL_NOTES = {
    "fixed_window": "Aligned windows: 5 before the edge plus 5 after it pass within one second (2x the limit).",
    "sliding_log": "Exact: never more than 5 in any 10 s, at the price of one entry per request.",
    "sliding_window": "Weighs the previous window: no 2x edge burst, constant memory, approximate.",
    "token_bucket": "Bursts up to 5, then one per 2 s as tokens refill: burst + refill may exceed 5 in 10 s, by design.",
    "gcra": "The same admissions as the token bucket, stored as one timestamp.",
}

# chart geometry (SVG user units)
RL_WIDTH, RL_LEFT, RL_RIGHT, RL_ROW = 760, 12, 12, 54


@dataclass
class Mark:
    t: float
    x: float
    allowed: bool


def max_in_any_period(times: list[float], period: float) -> int:
    """The most admissions in any interval of ``period`` (the limit's real meaning)."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= period:
            start += 1
        best = max(best, end - start + 1)
    return best


def ratelimit_timeline(pattern: str) -> tuple[list[dict[str, Any]], Trace]:
    """Replay ``pattern`` on every algorithm; one round trip for all decisions."""
    _, offsets = RL_PATTERNS[pattern]
    client = get_redis()
    # a fresh subject per run, and a base time on a window edge so windows line up with the chart
    subject = "demo-" + secrets.token_hex(6)
    base = (math.floor(time.time() / RL_PERIOD) + 1) * RL_PERIOD
    limiters = {name: cls(client, name="demo", limit=RL_LIMIT, period=RL_PERIOD,
                          key_prefix=redis_config().key_prefix)
                for name, cls in ALGORITHMS.items()}
    requests = [(lim, subject, 1, base + t) for lim in limiters.values() for t in offsets]
    with tracing("timeline") as trace:
        decisions = decide_many(client, requests)
    scale = (RL_WIDTH - RL_LEFT - RL_RIGHT) / RL_SPAN
    rows = []
    for i, name in enumerate(limiters):
        chunk = decisions[i * len(offsets):(i + 1) * len(offsets)]
        marks = [Mark(t, RL_LEFT + t * scale, d.allowed) for t, d in zip(offsets, chunk, strict=True)]
        admitted = [m.t for m in marks if m.allowed]
        peak = max_in_any_period(admitted, RL_PERIOD)
        rows.append({"name": name, "note": RL_NOTES[name], "marks": marks, "allowed": len(admitted),
                     "denied": len(marks) - len(admitted), "peak": peak, "y": i * RL_ROW, "over": peak > RL_LIMIT})
    return rows, trace


# --- what's new in the server ---------------------------------------------------------------------


def whats_new_status() -> dict[str, Any]:
    """The server this site runs on, and which path each feature of ``lessons.whatsnew`` takes on it."""
    from leaderboard import keys as leaderboard_keys
    from leaderboard.boards import BOARDS
    from redis_patterns import hashttl, zrank
    from shop import keys as shop_keys

    client = get_redis()
    info = client.info("server")
    name = str(info.get("server_name") or "redis")
    version = str(info.get(f"{name}_version") or info.get("redis_version", "?"))
    field_ttl = hashttl.supported(client, shop_keys.switches_key())
    # found out as the leaderboard's first rank read does: by asking (read-only) for a rank on its board
    rank_with_score = zrank.supported(client)
    if rank_with_score is None:
        zrank.rev_rank_with_score(client, leaderboard_keys.best_key(next(iter(BOARDS))), "probe")
        rank_with_score = bool(zrank.supported(client))
    cluster = redis_config().mode == "cluster"
    return {
        "server": f"{name.capitalize()} {version}",
        "status": {
            "hash-field-ttl": {"available": field_ttl,
                               "path": "per field (HEXPIRE)" if field_ttl else "whole-key TTL (fallback)"},
            "zrank-withscore": {"available": rank_with_score,
                                "path": "one command (WITHSCORE)" if rank_with_score
                                else "ZREVRANK + ZSCORE pipelined (fallback)"},
            "client-tracking": {"available": not cluster,
                                "path": "tracking tiers on" if not cluster else "plain reads (Cluster)"},
        },
    }
