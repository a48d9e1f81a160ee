"""Which redis-py to pin: the same two measurements against several releases.

Each candidate release gets its own virtualenv under ``var/bench/`` (created on
first use; hiredis installed in each), and runs the probe below in a
subprocess against one private ``redis-server``.  Rounds alternate between the
candidates (A B C A B C ...) so a noisy neighbour hurts all of them alike; the
table reports the median over rounds and the ratio to the first candidate.

    python -m bench.redis_py_versions [--rounds 5] [--versions 6.4.0 7.0.1 8.1.0]

Measures:
- GET round trip: p50/p99 of 3,000 sequential ``GET`` calls (µs).
- pipelined SET: 20 pipelines of 1,000 ``SET`` (``transaction=False``), ops/s.
- raw socket GET: the floor (no client library), measured by this process.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.common import ROOT, add_state_argument, arguments, emit, machine_state, md_table, raw_get_floor_us
from redis_patterns.servers import RedisServer

VENVS = ROOT / "var" / "bench"
DEFAULT_VERSIONS = ["6.4.0", "7.0.1", "8.1.0"]
HIREDIS = "hiredis==3.5.0"

PROBE = r"""
import json, sys, time, os
import redis
url = sys.argv[1]
extra = json.loads(sys.argv[2])
r = redis.Redis.from_url(url, **extra)
r.set("bench:key", "x" * 16)
for _ in range(500):
    r.get("bench:key")
lat = []
for _ in range(3000):
    t0 = time.perf_counter_ns()
    r.get("bench:key")
    lat.append(time.perf_counter_ns() - t0)
lat.sort()
n = 20_000
t0 = time.perf_counter()
for b in range(n // 1000):
    p = r.pipeline(transaction=False)
    for i in range(1000):
        p.set(f"bench:p:{i}", "v")
    p.execute()
dt = time.perf_counter() - t0
conn = r.connection_pool.get_connection()
parser = type(conn._parser).__name__
r.connection_pool.release(conn)

# Where the time goes: Python function calls per pipelined SET, and the
# functions with the most own time, from cProfile over 2 pipelines.
import cProfile, pstats
def two_pipelines():
    for b in range(2):
        p = r.pipeline(transaction=False)
        for i in range(1000):
            p.set(f"bench:p:{i}", "v")
        p.execute()
prof = cProfile.Profile()
prof.runcall(two_pipelines)
stats = pstats.Stats(prof)
total_calls = stats.total_calls
top = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:4]
top_names = [f"{fn[0].split('site-packages/')[-1]}:{fn[2]}" for fn, _ in top]
print(json.dumps({
    "calls_per_set": total_calls / 2000,
    "top_own_time": top_names,
    "version": redis.__version__,
    "parser": parser,
    "get_p50_us": lat[len(lat) // 2] / 1000,
    "get_p99_us": lat[int(len(lat) * 0.99)] / 1000,
    "pipeline_set_per_s": n / dt,
}))
"""


def ensure_venv(version: str, *, progress) -> Path:
    venv = VENVS / f"redis-py-{version}"
    python = venv / "bin" / "python"
    if not (venv / ".ok").exists():
        progress(f"creating {venv.relative_to(ROOT)} (redis=={version}, {HIREDIS})")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"redis=={version}", HIREDIS],
            check=True,
        )
        (venv / ".ok").write_text(version)
    return python


def run(versions: list[str], rounds: int, extra: dict, progress) -> dict:
    pythons = {v: ensure_venv(v, progress=progress) for v in versions}
    results: dict[str, list[dict]] = {v: [] for v in versions}
    floors = []
    with RedisServer(name="bench-redis-py") as server:
        for rnd in range(rounds):
            for v in versions:
                out = subprocess.run(
                    [str(pythons[v]), "-c", PROBE, server.url, json.dumps(extra)],
                    capture_output=True, text=True, check=True,
                ).stdout
                results[v].append(json.loads(out))
            floors.append(raw_get_floor_us(server.port, key="bench:key"))
            progress(f"round {rnd + 1}/{rounds} done")
    return {"results": results, "raw_socket_get_us": statistics.median(floors)}


def table(data: dict) -> list[str]:
    results = data["results"]
    base = next(iter(results))
    med = {
        v: {k: statistics.median(r[k] for r in rows) for k in ("get_p50_us", "get_p99_us", "pipeline_set_per_s")}
        for v, rows in results.items()
    }
    return [
        *md_table(["redis-py", "parser", "GET p50 µs", "GET p99 µs", f"GET p50 vs {base}", "pipelined SET/s",
                   f"SET/s vs {base}"],
                  [(v, results[v][0]["parser"], f"{m['get_p50_us']:.1f}", f"{m['get_p99_us']:.1f}",
                    f"{m['get_p50_us'] / med[base]['get_p50_us']:.2f}x", f"{m['pipeline_set_per_s']:,.0f}",
                    f"{m['pipeline_set_per_s'] / med[base]['pipeline_set_per_s']:.2f}x") for v, m in med.items()],
                  align="llrrrrr"),
        "",
        f"Raw-socket GET p50 (the floor, no client library): {data['raw_socket_get_us']:.1f} µs.",
        "",
        "Where a pipelined `SET` spends its time (cProfile, 2 pipelines of 1,000):",
        "",
        *md_table(["redis-py", "Python calls per SET", "functions with the most own time"],
                  [(v, f"{rows[0]['calls_per_set']:.0f}", ", ".join(f"`{n}`" for n in rows[0]["top_own_time"]))
                   for v, rows in results.items()], align="lrl"),
    ]


def main(argv: list[str] | None = None) -> str:
    parser = arguments(__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--versions", nargs="+", default=DEFAULT_VERSIONS)
    parser.add_argument("--client-kwargs", default="{}", help="JSON kwargs for Redis.from_url in every probe")
    add_state_argument(parser)
    args = parser.parse_args(argv)
    if args.state == "both":
        parser.error("redis_py_versions runs in one state at a time")

    def progress(msg: str) -> None:
        sys.stderr.write(f"[redis-py versions] {msg}\n")

    with machine_state(args.state) as ms:
        data = run(args.versions, args.rounds, json.loads(args.client_kwargs), progress)
    return emit([ms.describe() + ".", "", *table(data)])


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
