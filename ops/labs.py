"""The server labs: what each one shows, and the plumbing they share.

Every lab is a management command, ``python manage.py lab_<name>``, that

- starts its own ``redis-server`` processes (``REDIS_SERVER_BIN`` picks the
  binary, so Valkey works too) on free loopback ports, each in a directory
  under one temp dir, and never touches a Redis it did not start;
- shows progress as one tqdm bar on stderr (not a scrolling log);
- ends with one or more tables on stdout, and writes its result as
  ``var/labs/<name>.json`` (tables, checks, notes, key figures) and a chart
  ``var/labs/<name>.svg``; the lab pages (``/ops/labs/<name>/``) only read
  these files;
- stops every process it started when it ends, fails, or is interrupted
  (Ctrl-C, or SIGTERM, which is turned into the same ``KeyboardInterrupt``),
  then removes its temp dir;
- has ``--quick``, sized to finish well under 2 minutes on a 2-core machine.

``LabRun`` is that contract as a context manager::

    with LabRun("persistence", quick=opt["quick"], stdout=self.stdout) as run:
        server = run.server(config={"appendonly": "yes"})
        ...
        run.table("Acknowledged writes lost", ["config", "lost"], rows)
        run.chart(charts.bar_chart(...))
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from tqdm import tqdm

from redis_patterns.servers import RedisServer, RedisServerError, describe_server, server_binary, server_spec


@dataclass(frozen=True)
class Lab:
    """One lab: its command, the course sections it serves, and the question it answers."""

    name: str
    title: str
    section: str
    shows: str
    quick: bool = True  # has a --quick mode

    @property
    def command(self) -> str:
        return f"python manage.py lab_{self.name}"


LABS: dict[str, Lab] = {lab.name: lab for lab in (
    Lab("memory", "Memory: strings vs hashes vs listpacks, intsets, the encoding cliff",
        "3.1-3.2, 14.2 (labs 1 and 2)",
        "The same items stored as one string key each, as one big hash, and bucketed into small hashes "
        "(listpack), and integers in an intset vs strings: bytes per item from INFO memory and the "
        "encoding OBJECT ENCODING reports. Then the hash-max-listpack-entries/-value thresholds are "
        "crossed one field at a time to show the cliff where a small hash converts to a hashtable."),
    Lab("eviction", "Eviction policies under a skewed load",
        "3.3, 3.4",
        "A small maxmemory and the same Zipf-skewed cache-aside load (read, fill on a miss, some "
        "overwrites) against every maxmemory-policy: hit ratio, keys evicted, write errors under "
        "noeviction, and how many durable keys (no TTL) each policy threw away."),
    Lab("persistence", "Persistence: what a crash loses under RDB, AOF and both",
        "4, 14.3 (lab 3)",
        "A writer sends numbered writes and records which were acknowledged; the server is SIGKILLed "
        "under load and restarted. Per configuration (none, RDB only, AOF everysec, AOF always, RDB+AOF): "
        "acknowledged writes lost, restart time and write throughput. Then a truncated AOF refused at "
        "start and repaired with redis-check-aof, and a backup (BGSAVE, copy, restore) checked key by key."),
    Lab("sentinel", "Sentinel: a master SIGKILLed under writes",
        "5.1, 5.5",
        "1 master, 2 replicas, 3 Sentinels, and the project's own Sentinel client writing numbered keys. "
        "The master is SIGKILLed: failover time, the client's error window, acknowledged writes lost "
        "with and without WAIT 1, and the old master rejoining as a replica."),
    Lab("cluster", "Cluster: hash tags, CROSSSLOT, a reshard under load, a failover",
        "5.2-5.4, 14.4 (lab 4)",
        "6 nodes made a cluster by redis-cli --cluster create; the site's own features run on it (their "
        "hash tags keep multi-key commands in one slot) and a CROSSSLOT error is provoked; slots are "
        "resharded while a load runs (MOVED/ASK handled by the client, errors not handled: 0); a master "
        "is killed and its replica promoted."),
    Lab("antipatterns", "Anti-patterns, each against its fix: what the other client's GETs pay",
        "11",
        "Each anti-pattern of the course run on a scratch server while a probe process times its own GETs, "
        "then its fix: KEYS vs SCAN, a 10 MB value read by many, LRANGE 0 -1 vs pages, HGETALL vs HSCAN, "
        "string keys vs bucketed hashes, DEL vs UNLINK of a big key, cache keys without a TTL found by the "
        "no-TTL report. Each row: the probe's p99 with the anti-pattern against with the fix."),
    Lab("stampede", "Cache stampede over HTTP: a hot key expiring under many users",
        "6.5, 14.6 (lab 6)",
        "Many concurrent simulated users over HTTP against the site (uvicorn, started by the lab) reading "
        "one hot product whose cache entry keeps expiring, with the site's protection (single-flight lease, "
        "stale-while-revalidate, XFetch) and without it: database loads, p50/p99 latency, errors."),
)}


def lab(name: str) -> Lab:
    return LABS[name]


# --- results on disk ------------------------------------------------------------------------


def results_dir() -> Path:
    """``var/labs/``: where each lab writes its last result."""
    return Path(settings.VAR_DIR) / "labs"


def result_path(name: str) -> Path:
    return results_dir() / f"{name}.json"


def chart_path(name: str) -> Path:
    return results_dir() / f"{name}.svg"


def load_result(name: str) -> dict[str, Any] | None:
    """The last run's result, or ``None`` (never run, or a file that is not a result)."""
    try:
        data = json.loads(result_path(name).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("lab") == name else None


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


# --- binaries next to the server ------------------------------------------------------------


def tool_binary(tool: str) -> str:
    """A companion tool (``"cli"``, ``"check-aof"``) for the server in use.

    Looks next to ``REDIS_SERVER_BIN`` first (``valkey-cli`` beside
    ``valkey-server``, ``redis-cli`` beside ``redis-server``), then on PATH, so
    a lab never mixes a Valkey server with another install's Redis tools.
    """
    server = Path(server_binary())
    flavours = ["valkey", "redis"] if "valkey" in server.name else ["redis", "valkey"]
    names = [f"{f}-{tool}" for f in flavours]
    for directory in dict.fromkeys([server.parent, server.resolve().parent]):
        for name in names:
            candidate = directory / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise RedisServerError(f"{names[0]} not found next to {server} nor on PATH; it ships with the server "
                           "(apt-get install redis-server / redis-tools, or the Valkey packages)")


def raw_call(host: str, port: int, *args: str, timeout: float = 2.0) -> bytes:
    """One command on a fresh socket, raw RESP reply (for probing servers that may be half dead)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        payload = [f"*{len(args)}\r\n".encode()]
        for a in args:
            payload.append(f"${len(a.encode())}\r\n{a}\r\n".encode())
        sock.sendall(b"".join(payload))
        return sock.recv(1 << 16)


def wait_until(predicate: Any, *, timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll ``predicate`` until truthy; ``RedisServerError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (OSError, ConnectionError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise RedisServerError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# --- formatting -----------------------------------------------------------------------------


def fmt_int(value: float) -> str:
    return f"{value:,.0f}"


def fmt_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.0f} ms"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(round(q / 100 * len(ordered) + 0.5))))
    return ordered[rank - 1]


_NUMBER = re.compile(r"^[~<>≈+-]?\d[\d,]*(\.\d+)?\s*(%|x|ms|s|µs|B|KB|MB|GB|/s|[a-z]+/s)?$")


def _numeric(cell: str) -> bool:
    return bool(_NUMBER.match(cell.strip()))


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A pipe table, numbers right-aligned, padded so it reads in a terminal too."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(col)] + [len(r[i]) for r in cells if i < len(r)]) for i, col in enumerate(columns)]
    right = [bool(cells) and all(_numeric(r[i]) or r[i] in ("-", "") for r in cells if i < len(r))
             for i in range(len(columns))]

    def line(values: Sequence[str]) -> str:
        padded = [v.rjust(widths[i]) if right[i] else v.ljust(widths[i]) for i, v in enumerate(values)]
        return "| " + " | ".join(padded) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if right[i] else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(list(columns)), sep] + [line(r) for r in cells])


# --- the run ----------------------------------------------------------------------------------


class LabRun:
    """One run of a lab: its processes, its temp dir, its result.

    Args:
        name: the lab's name in ``LABS``.
        quick: ``--quick`` was given (recorded with the result).
        stdout: where the tables go (the command's ``self.stdout``).
        command: the command line to show for running it again (default: from ``sys.argv``).
    """

    def __init__(self, name: str, *, quick: bool, stdout: Any = None, command: str | None = None) -> None:
        self.lab = LABS[name]
        self.quick = quick
        self.stdout = stdout or sys.stdout
        self.command = command or self._command_line()
        self.tables: list[dict[str, Any]] = []
        self.checks: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.data: dict[str, Any] = {}
        self._svg: str | None = None
        self._servers: list[RedisServer] = []
        self._procs: list[subprocess.Popen] = []
        self._lock = threading.Lock()
        self.tmp = Path(".")
        self._old_handlers: dict[int, Any] = {}

    def _command_line(self) -> str:
        argv = sys.argv
        if len(argv) >= 2 and argv[1] == f"lab_{self.lab.name}":
            return "python manage.py " + " ".join(shlex.quote(a) for a in argv[1:])
        return self.lab.command + (" --quick" if self.quick else "")

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> LabRun:
        self.tmp = Path(tempfile.mkdtemp(prefix=f"lab-{self.lab.name}-"))
        self.started_at = datetime.now(UTC)
        self._t0 = time.monotonic()
        self._children_before = _children()
        if threading.current_thread() is threading.main_thread():
            # SIGTERM takes the same path as Ctrl-C: unwind, stop every process, exit. SIGINT is set
            # too: a process started in the background by a shell inherits it ignored, and then
            # Python never raises KeyboardInterrupt.
            self._old_handlers = {sig: signal.signal(sig, _raise_interrupt)
                                  for sig in (signal.SIGTERM, signal.SIGINT)}
        self.server_label = describe_server()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        stopped = self.stop_all(fast=exc_type is not None)
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        shutil.rmtree(self.tmp, ignore_errors=True)
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            sys.stderr.write(f"\nlab_{self.lab.name} interrupted: stopped {stopped} process(es) it had started, "
                             "removed its temp dir; no result written.\n")
            raise SystemExit(130) from None
        if exc_type is None:
            self._finish()

    def stop_all(self, *, fast: bool = False) -> int:
        """Stop every process this run started (servers last); returns how many were running."""
        stopped = 0
        with self._lock:
            procs, servers = list(self._procs), list(self._servers)
        for proc in reversed(procs):
            if proc.poll() is None:
                stopped += 1
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for server in reversed(servers):
            if server.running:
                stopped += 1
            if fast:
                server.kill()  # nothing to save: the run is being abandoned
            server.resume()
            server.cleanup()
        stopped += _reap_children(keep=self._children_before)
        return stopped

    # -- processes ---------------------------------------------------------------------------

    def server(self, *, name: str = "redis", config: dict[str, str] | None = None, port: int | None = None,
               directory: Path | None = None) -> RedisServer:
        """A started ``redis-server`` in its own directory under the run's temp dir."""
        directory = directory or Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.tmp))
        return self.adopt(RedisServer(name=name, config=config, port=port, directory=directory)).start()

    def adopt(self, server: RedisServer) -> RedisServer:
        """Track a server built elsewhere (e.g. a ``SentinelServer``) *before* it is started."""
        with self._lock:
            self._servers.append(server)
        return server

    def popen(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        """Start a helper process (redis-cli, uvicorn, a load client), stopped with the run.

        It gets the server's extra environment (``REDIS_SERVER_ENV``): the tools beside a server
        binary may need the same libraries (Redis Stack's ``redis-cli`` and its OpenSSL 1.1).
        """
        extra = server_spec().env
        if extra:
            kwargs["env"] = {**(kwargs.get("env") or os.environ), **extra}
        proc = subprocess.Popen(list(args), **kwargs)
        with self._lock:
            self._procs.append(proc)
        return proc

    def run_tool(self, args: Sequence[str], *, input: str | None = None, timeout: float = 120,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """Run a tool to completion (tracked, so an interrupt stops it too); output captured as text."""
        proc = self.popen(args, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
        out, err = proc.communicate(input=input, timeout=timeout)
        return subprocess.CompletedProcess(list(args), proc.returncode, out, err)

    # -- output ------------------------------------------------------------------------------

    @contextmanager
    def progress(self, total: float, desc: str, unit: str = "step") -> Iterator[tqdm]:
        """One progress bar on stderr (tqdm redraws one line; nothing scrolls)."""
        bar = tqdm(total=total, desc=f"lab_{self.lab.name}: {desc}", unit=unit, file=sys.stderr,
                   mininterval=0.3, dynamic_ncols=True, leave=True)
        try:
            yield bar
        finally:
            bar.close()

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], note: str = "") -> None:
        self.tables.append({"title": title, "columns": list(columns), "rows": [[str(c) for c in r] for r in rows],
                            "note": note})

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        """A claim the lab verifies (printed as met / NOT met and kept with the result)."""
        self.checks.append({"name": name, "ok": bool(ok), "detail": detail})

    def note(self, text: str) -> None:
        self.notes.append(text)

    def chart(self, svg: str) -> None:
        self._svg = svg

    def _finish(self) -> None:
        duration = time.monotonic() - self._t0
        result = {
            "lab": self.lab.name,
            "title": self.lab.title,
            "command": self.command,
            "quick": self.quick,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "duration_s": round(duration, 1),
            "server": self.server_label,
            "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
            "tables": self.tables,
            "checks": self.checks,
            "notes": self.notes,
            "data": self.data,
            "chart": chart_path(self.lab.name).name if self._svg else None,
        }
        if self._svg:
            _write_atomic(chart_path(self.lab.name), self._svg)
        _write_atomic(result_path(self.lab.name), json.dumps(result, indent=1, default=str))
        out = self.stdout.write
        out(f"\nlab_{self.lab.name}: {self.lab.title}\n{self.server_label} · {result['machine']} · "
            f"{'--quick · ' if self.quick else ''}{duration:.0f} s\n")
        for table in self.tables:
            out(f"\n{table['title']}\n\n{markdown_table(table['columns'], table['rows'])}\n")
            if table["note"]:
                out(f"\n{table['note']}\n")
        if self.checks:
            out("\n")
            for c in self.checks:
                out(f"[{'met' if c['ok'] else 'NOT met'}] {c['name']}{': ' + c['detail'] if c['detail'] else ''}\n")
        for text in self.notes:
            out(f"\n- {text}\n")
        out(f"\nresult: {result_path(self.lab.name)}"
            f"{'  chart: ' + str(chart_path(self.lab.name)) if self._svg else ''}\n"
            f"page: /ops/labs/{self.lab.name}/   again: {self.command}\n")


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _children() -> set[int]:
    """Pids of this process's live children, from ``/proc`` (Linux; elsewhere an empty set)."""
    me, found = os.getpid(), set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # state, ppid, ...
        if len(fields) > 1 and int(fields[1]) == me and fields[0] != "Z":
            found.add(int(entry))
    return found


def _resource_tracker_pids() -> set[int]:
    from multiprocessing import resource_tracker

    pid = getattr(resource_tracker._resource_tracker, "_pid", None)  # set once this process started one
    return {pid} if isinstance(pid, int) else set()


def _reap_children(*, keep: set[int]) -> int:
    """SIGKILL children of ours that the run started but lost track of (a belt-and-braces pass).

    Children that existed before the run began (``keep``) are left alone: a
    test process's own servers, for instance.  So is multiprocessing's
    resource tracker, which a lab's first ``spawn`` process starts and which
    serves this process for the rest of its life: killed, it left the next
    user of ``multiprocessing`` a "resource_tracker: process died
    unexpectedly" warning and its semaphores untracked.
    """
    killed = 0
    for pid in _children() - keep - _resource_tracker_pids():
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            killed += 1
        except (ProcessLookupError, ChildProcessError):
            pass
    return killed
