"""What every benchmark in ``bench/`` shares: timing, statistics, private servers, Django, output.

The rules these helpers carry out (``BENCHMARKS.md`` in the project notes):
a claim is a **ratio against a baseline measured in the same run**; warm up
first; alternate A and B (A B, B A, ...) so drift hurts both alike; take the
ratio per pair and report its median and spread; time each call with
``perf_counter_ns``; print the raw-socket floor next to client figures.

- Timing: ``timed`` (per-call ns), ``ab_order`` (which goes first in a pair),
  ``compare`` (alternating blocks of calls, the ratio per pair).
- Statistics: ``percentile`` (nearest rank), ``per_second``, ``quartiles``, ``spread``.
- Servers: ``private_servers``, ``server_label`` (the server's real name from
  ``INFO server``), ``raw_get_floor_us``.
- Django: ``django_env``, ``setup_django``, ``manage``, ``web_server``, ``stop``.
- Machine state: ``machine_state`` (pins it: a ``nice -n 19`` busy loop per
  core, or none), ``add_state_argument``, ``states``.
- Targets: ``target`` records a figure against its goal (met / not met);
  ``python -m bench`` gathers them into the one table of ``docs/benchmarks.md``.
- Floors: ``get_floors`` (raw-socket GET and redis-py GET in the same run).
- Output: ``arguments`` (the command line), ``md_table``, ``emit``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from redis_patterns.servers import RedisServer, describe_server, free_port

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")

# --- command line and output ------------------------------------------------------------------


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """A parser whose ``--help`` prints the benchmark's module docstring as written."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def md_table(header: Sequence[str], rows: Iterable[Sequence[object]], *, align: str = "") -> list[str]:
    """The lines of a Markdown table.

    Args:
        header: the column titles.
        rows: one sequence of cells per row, already formatted (``f"{x:.2f}"``).
        align: one letter per column, ``l`` or ``r``; by default the first
            column left and the others right (a name, then figures).
    """
    align = align or "l" + "r" * (len(header) - 1)
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return [_row(header), rule, *(_row(r) for r in rows)]


def _row(cells: Sequence[object]) -> str:
    return "|" + "|".join(f" {c} " if str(c) else " " for c in cells) + "|"


def emit(lines: Iterable[str]) -> str:
    """Join a benchmark's Markdown, print it, and return it (``python -m bench`` files it)."""
    text = "\n".join(lines)
    sys.stdout.write(text + "\n")
    return text


def progress(items: Iterable[T], desc: str, **kwargs: Any) -> Iterable[T]:
    """A tqdm bar on stderr (stdout carries the Markdown), gone when done."""
    return tqdm(items, desc=desc, file=sys.stderr, leave=False, **kwargs)


# --- machine state ------------------------------------------------------------------------------
# On these VMs a loopback round trip is slowest when the machine is idle (the
# CPUs drop into deep idle states between packets): a raw-socket GET takes
# 85-110 µs idle and ~23 µs with a low-priority busy loop on each core, and
# Redis's own time per command moves with it.  A ratio measured in one state
# is only comparable with one measured in the same state, so every ratio
# benchmark pins it and prints which.

STATES = ("busy", "idle")

# Spins, and ends once the benchmark that started it is gone (killed before its ``finally`` ran): a
# leftover loop would quietly change the machine state of every later run.
_BUSY_LOOP = """
import os
parent = os.getppid()
while os.getppid() == parent:
    for _ in range(2_000_000):
        pass
"""


@dataclass
class MachineState:
    """The state a benchmark ran in, for its report."""

    name: str
    loops: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] | None = None
    pids: tuple[int, ...] = ()  # the busy loops' processes

    def describe(self) -> str:
        pinned = (f"**busy**: {self.loops} `nice -n 19` busy loop(s), one per core, for the whole run"
                  if self.loops else "**idle**: no busy loops (other processes on the machine still run)")
        after = f" → {self.load_after[0]:.1f}" if self.load_after else ""
        return f"{pinned}; 1-minute load average {self.load_before[0]:.1f}{after}"


@contextlib.contextmanager
def machine_state(name: str = "busy") -> Iterator[MachineState]:
    """Pin the machine state for the duration: ``"busy"`` starts one ``nice -n 19`` busy loop per core.

    The loops run at the lowest priority, so they take only CPU time nobody
    else wants: what they change is that the cores never go idle, which is
    the state a loaded production server is in.  They are stopped on exit.
    """
    if name not in STATES:
        raise ValueError(f"machine state {name!r}: one of {', '.join(STATES)}")
    loops: list[subprocess.Popen] = []
    if name == "busy":
        for _ in range(os.cpu_count() or 1):
            loops.append(subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", _BUSY_LOOP],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.5)  # let the scheduler settle with them running
    state = MachineState(name, len(loops), os.getloadavg(), pids=tuple(p.pid for p in loops))
    try:
        yield state
    finally:
        state.load_after = os.getloadavg()
        for proc in loops:
            proc.kill()
        for proc in loops:
            proc.wait()


def add_state_argument(parser: argparse.ArgumentParser, default: str = "busy") -> None:
    """``--state busy|idle|both`` (default ``busy``: the pinned state the targets are judged in)."""
    parser.add_argument("--state", choices=[*STATES, "both"], default=default,
                        help="machine state to measure in: busy (a nice -n 19 loop per core), idle, or both")


def states(choice: str) -> list[str]:
    """The states ``--state`` asks for, the judged one (busy) first."""
    return list(STATES) if choice == "both" else [choice]


# --- targets --------------------------------------------------------------------------------------


@dataclass
class Target:
    """One goal and what this run measured for it."""

    bench: str
    name: str
    measured: float
    goal: float
    unit: str = "x"
    higher_is_better: bool = False
    state: str = ""
    detail: str = ""

    @property
    def met(self) -> bool:
        if math.isnan(self.measured):
            return False
        return self.measured >= self.goal if self.higher_is_better else self.measured <= self.goal

    def fmt(self, value: float) -> str:
        if self.unit == "x":
            return f"{value:.2f}x"
        if self.unit == "":
            return f"{value:,.0f}"
        return f"{value:,.1f} {self.unit}"

    @property
    def goal_text(self) -> str:
        return ("≥ " if self.higher_is_better else "≤ ") + self.fmt(self.goal)

    @property
    def verdict(self) -> str:
        return "met" if self.met else "**not met**"


#: Every target recorded in this process (``python -m bench`` files them per benchmark).
TARGETS: list[Target] = []


def target(bench: str, name: str, measured: float, goal: float, *, unit: str = "x",
           higher_is_better: bool = False, state: str = "", detail: str = "") -> Target:
    """Record a target and return it (its ``verdict`` is "met" or "**not met**")."""
    found = Target(bench, name, measured, goal, unit, higher_is_better, state, detail)
    TARGETS.append(found)
    return found


def over_get(get_us: float, op_us: float) -> str:
    """A ratio target's detail: the GET it is a ratio of, and what the operation adds in µs (p50s).

    The added microseconds (the server's work plus the client's) barely move when the machine's round
    trip does; the ratio moves with it: +11 µs is 1.26x a 40 µs GET and 1.53x a 21 µs one.  Both are
    shown, so a target that flips between runs can be read for why.
    """
    return f"GET {get_us:.1f} µs, +{op_us - get_us:.1f} µs"


def target_table(targets: Sequence[Target]) -> list[str]:
    """The Markdown table of ``targets``: target, goal, measured, state, met."""
    return md_table(["target", "goal", "measured", "state", "met"],
                    [(t.name, t.goal_text, t.fmt(t.measured) + (f" ({t.detail})" if t.detail else ""), t.state,
                      t.verdict) for t in targets], align="lrrll")


# --- timing ---------------------------------------------------------------------------------------


def timed(fn: Callable[[], object], calls: int) -> list[int]:
    """Call ``fn`` ``calls`` times; the nanoseconds of each call (``perf_counter_ns``)."""
    out = []
    for _ in range(calls):
        t0 = time.perf_counter_ns()
        fn()
        out.append(time.perf_counter_ns() - t0)
    return out


def ab_order(pair: int, a: T, b: T) -> tuple[T, T]:
    """``(a, b)`` on even pairs, ``(b, a)`` on odd ones: whoever goes first is not always the same."""
    return (a, b) if pair % 2 == 0 else (b, a)


@dataclass
class Comparison:
    """Per-call times of A (the baseline) and B over alternating blocks, and B/A per pair."""

    a_ns: list[int] = field(default_factory=list)
    b_ns: list[int] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    #: per pair, median B call minus median A call (ns): what B adds, for "µs over" targets
    differences: list[float] = field(default_factory=list)

    @property
    def difference_us(self) -> float:
        """The median over pairs of (median B call - median A call in that pair), in µs."""
        return statistics.median(self.differences) / 1000

    @property
    def ratio(self) -> float:
        """The median over pairs of (median B call / median A call in that pair)."""
        return statistics.median(self.ratios)


def compare(a: Callable[[], object], b: Callable[[], object], *, pairs: int, calls: int, warmup: int = 0,
            desc: str = "") -> Comparison:
    """Blocks of ``calls`` calls of A and of B, alternating (A B, B A, ...) for ``pairs`` pairs.

    ``warmup`` calls of each first (connections open, scripts loaded); the
    ratio is taken per pair, from the two neighbouring blocks, so slow drift
    of the machine cancels out.
    """
    if warmup:
        timed(a, warmup)
        timed(b, warmup)
    result = Comparison()
    for pair in progress(range(pairs), desc):
        block = {which: timed(fn, calls) for which, fn in ab_order(pair, ("a", a), ("b", b))}
        result.a_ns += block["a"]
        result.b_ns += block["b"]
        result.ratios.append(statistics.median(block["b"]) / statistics.median(block["a"]))
        result.differences.append(statistics.median(block["b"]) - statistics.median(block["a"]))
    return result


# --- statistics -----------------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank: the value at index ``int(q * n)`` once sorted."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def per_second(times_ns: Sequence[int]) -> float:
    """Calls per second, from the per-call times of calls made back to back."""
    return len(times_ns) / (sum(times_ns) / 1e9)


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """``(q1, median, q3)``; with a single value, that value three times."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4)
    return q1, statistics.median(values), q3


def spread(values: Sequence[float], digits: int = 2) -> str:
    """The interquartile range as ``"q1–q3"``, or ``"-"`` with fewer than two values."""
    if len(values) < 2:
        return "-"
    q1, _, q3 = quartiles(values)
    return f"{q1:.{digits}f}–{q3:.{digits}f}"


# --- servers --------------------------------------------------------------------------------------


@contextlib.contextmanager
def private_servers(count: int, name: str, **kwargs: Any) -> Iterator[list[RedisServer]]:
    """``count`` fresh ``redis-server`` processes (free ports, temp dirs), removed on exit."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(RedisServer(name=f"{name}-{i}", **kwargs)) for i in range(count)]


def server_label(client: Any = None) -> str:
    """The server's real name and version: ``"Redis 7.0.15"``, ``"Valkey 9.1.2"``.

    With a client, from its ``INFO server`` (Valkey also reports
    ``redis_version``, the Redis release it is compatible with, so the name
    comes from ``server_name`` when there is one).  Without one, the binary
    every benchmark starts (``REDIS_SERVER_BIN``), as the test header names it
    (``redis_patterns.servers.describe_server``).
    """
    if client is None:
        return describe_server()
    info = client.info("server")
    name = str(info.get("server_name") or "redis")
    version = info.get(f"{name}_version") or info.get("redis_version", "?")
    return f"{name.capitalize()} {version}"


def raw_get_floor_us(port: int, *, host: str = "127.0.0.1", key: str = "bench:key", calls: int = 3000,
                     warmup: int = 500) -> float:
    """p50 in µs of a ``GET key`` written and read on a bare socket: the floor under any client library."""
    command = f"*2\r\n$3\r\nGET\r\n${len(key.encode())}\r\n{key}\r\n".encode()
    with socket.create_connection((host, port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = []
        for i in range(warmup + calls):
            t0 = time.perf_counter_ns()
            sock.sendall(command)
            sock.recv(256)  # a short value: the whole reply comes in one segment
            if i >= warmup:
                times.append(time.perf_counter_ns() - t0)
    return percentile(times, 0.5) / 1000


@dataclass
class Floors:
    """A GET on a bare socket and through redis-py, measured in the same run and state."""

    raw_us: float
    redis_py_us: float

    def line(self) -> str:
        return (f"GET floor in this run: raw socket p50 **{self.raw_us:.1f} µs**, redis-py (hiredis) p50 "
                f"**{self.redis_py_us:.1f} µs** (the client's own cost: {self.redis_py_us - self.raw_us:.1f} µs)")


def get_floors(client: Any, port: int, *, host: str = "127.0.0.1", key: str = "bench:key",
               calls: int = 3000) -> Floors:
    """``Floors`` for ``client`` (a redis-py client on the server at ``host:port``)."""
    client.set(key, "x")
    timed(lambda: client.get(key), 500)
    redis_py = percentile(timed(lambda: client.get(key), calls), 0.5) / 1000
    return Floors(raw_get_floor_us(port, host=host, key=key, calls=calls), redis_py)


# --- Django ---------------------------------------------------------------------------------------

#: Settings that would point a benchmark's Django at some other Redis than its private one.
_ELSEWHERE = ("REDIS_SENTINELS", "REDIS_CLUSTER_NODES", "CHANNEL_REDIS_URL")


def django_env(server: RedisServer, *, settings: str = "config.settings", var_dir: str | Path | None = None,
               **extra: str) -> dict[str, str]:
    """The environment for a benchmark's Django (this process or a child): its private server only.

    A temporary ``VAR_DIR`` (so the SQLite file, if any, is fresh), ``DEBUG``
    off, keys under ``bench:``, warnings-only logs; ``extra`` adds or
    overrides variables (``DATABASE_URL=...``, ``REDIS_TRACE="0"``, ...).
    """
    env = {k: v for k, v in os.environ.items() if k not in _ELSEWHERE}
    env.update({
        "REDIS_URL": server.url,
        "VAR_DIR": str(var_dir or tempfile.mkdtemp(prefix="bench-var-")),
        "DJANGO_SETTINGS_MODULE": settings,
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-" + "k" * 50,
        "DEBUG": "0",
        "REDIS_KEY_PREFIX": "bench",
        "LOG_LEVEL": "WARNING",
        **extra,
    })
    return env


def setup_django(server: RedisServer, *, migrate: bool = False, **extra: str) -> dict[str, str]:
    """Set up Django in this process on ``server`` (``django_env`` with ``extra``); ``migrate`` its database.

    Returns the environment, for child processes (workers, a web server) that must see the same settings.
    """
    env = django_env(server, **extra)
    for name in _ELSEWHERE:
        os.environ.pop(name, None)
    os.environ.update(env)
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
    return env


def manage(env: dict[str, str], *args: str) -> None:
    """``python manage.py <args>`` in a child process with ``env`` (e.g. ``migrate``, ``seed_demo``)."""
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def web_server(env: dict[str, str], *args: str, timeout: float = 30.0) -> Iterator[int]:
    """The site's ASGI app under uvicorn (1 worker) on a free port, once ``/healthz`` answers 200.

    Yields the port; stops the server on exit.  Its stderr goes to
    ``$VAR_DIR/uvicorn-<port>.log`` (a pipe nobody reads would fill and stall
    the server); the log is in the error if it fails to start.
    """
    port = free_port()
    log_path = Path(env["VAR_DIR"]) / f"uvicorn-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port",
             str(port), "--lifespan", "off", "--no-access-log", "--log-level", "warning", *args],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
        )
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on port {port}:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)  # polling a starting process, with a deadline
        yield port
    finally:
        stop(proc)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False  # not listening yet (or 503 while it starts)


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not left after ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
