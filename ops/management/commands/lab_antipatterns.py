"""``python manage.py lab_antipatterns [--quick] [--size N] [--only CASE ...]``: each anti-pattern against its fix.

Starts its own ``redis-server`` (never the app's), a probe process timing
its own ``GET``s, and runs every case of ``ops.antipatterns`` (see its
docstring for what each one does).  Ends with one table: per case, the probe's
p99 and worst GET while the anti-pattern ran and while the fix ran, and what
else each side cost.  The result is kept in ``var/labs/antipatterns.json``
for the page ``/ops/antipatterns/``.

Sizes: 1,000,000 keys/elements by default; ``--quick`` uses 200,000 (under 2
minutes on a 2-core machine); ``--size`` sets it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ops import antipatterns
from redis_patterns.servers import RedisServer, RedisServerError, server_version

NAME = "antipatterns"
TITLE = "Anti-patterns, each against its fix: what the other client's GETs pay"


def result_path() -> Path:
    """``var/labs/antipatterns.json``: the last run, read by the page."""
    return Path(settings.VAR_DIR) / "labs" / f"{NAME}.json"


class LabResult:
    """The few things this lab needs from a lab run: a scratch server, a progress bar, tables, a result file.

    The method names and the result file's shape follow the shared lab
    plumbing being built in ``ops/labs.py`` (``LabRun``), so that this class
    can be replaced by ``LabRun("antipatterns", ...)`` once that lands.
    """

    def __init__(self, *, quick: bool, stdout: Any, command: str) -> None:
        self.quick, self.stdout, self.command = quick, stdout, command
        self.tables: list[dict[str, Any]] = []
        self.checks: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.data: dict[str, Any] = {}
        self._servers: list[RedisServer] = []

    def __enter__(self) -> LabResult:
        self.tmp = Path(tempfile.mkdtemp(prefix=f"lab-{NAME}-"))
        self.started_at = datetime.now(UTC)
        self._t0 = time.monotonic()
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        for server in self._servers:
            server.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if exc_type is None:
            self._finish()

    def server(self, *, config: dict[str, str]) -> RedisServer:
        server = RedisServer(name=NAME, config=config, directory=tempfile.mkdtemp(dir=self.tmp))
        self._servers.append(server)
        return server.start()

    @contextmanager
    def progress(self, total: float, desc: str, unit: str = "step") -> Iterator[tqdm]:
        bar = tqdm(total=total, desc=f"lab_{NAME}: {desc}", unit=unit, file=sys.stderr, mininterval=0.3)
        try:
            yield bar
        finally:
            bar.close()

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], note: str = "") -> None:
        self.tables.append({"title": title, "columns": list(columns), "rows": [[str(c) for c in r] for r in rows],
                            "note": note})

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append({"name": name, "ok": bool(ok), "detail": detail})

    def note(self, text: str) -> None:
        self.notes.append(text)

    def _finish(self) -> None:
        version = ".".join(map(str, server_version()))
        result = {
            "lab": NAME, "title": TITLE, "command": self.command, "quick": self.quick,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "duration_s": round(time.monotonic() - self._t0, 1),
            "server": f"{Path(self._servers[0].binary).name} {version}" if self._servers else "?",
            "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
            "tables": self.tables, "checks": self.checks, "notes": self.notes, "data": self.data, "chart": None,
        }
        path = result_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(result, indent=1, default=str))
        tmp.replace(path)
        out = self.stdout.write
        out(f"\nlab_{NAME}: {TITLE}\n{result['server']} · {result['machine']} · "
            f"{'--quick · ' if self.quick else ''}{result['duration_s']:.0f} s\n")
        for table in self.tables:
            out(f"\n{table['title']}\n\n{markdown_table(table['columns'], table['rows'])}\n")
            if table["note"]:
                out(f"\n{table['note']}\n")
        for c in self.checks:
            out(f"[{'met' if c['ok'] else 'NOT met'}] {c['name']}{': ' + c['detail'] if c['detail'] else ''}\n")
        for text in self.notes:
            out(f"- {text}\n")
        out(f"\nresult: {path}\npage: /ops/antipatterns/   again: {self.command}\n")


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    line = lambda vals: "| " + " | ".join(v.ljust(widths[i]) for i, v in enumerate(vals)) + " |"  # noqa: E731
    return "\n".join([line(list(columns)), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
                     + [line(r) for r in rows])


class Command(BaseCommand):
    help = "Measure each anti-pattern of the course against its fix on a scratch server (a probe times its GETs)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--quick", action="store_true", help="200,000 instead of 1,000,000 (under 2 minutes)")
        parser.add_argument("--size", type=int, default=0, help="keys / elements per case (overrides --quick)")
        names = [name for name, _ in antipatterns.CASES]
        parser.add_argument("--only", action="append", choices=names, help="run only this case (repeatable)")

    def handle(self, *args: Any, **opts: Any) -> None:
        size = opts["size"] or (200_000 if opts["quick"] else 1_000_000)
        if size < 1000:
            raise CommandError("--size must be at least 1000")
        chosen = [(n, fn) for n, fn in antipatterns.CASES if not opts["only"] or n in opts["only"]]
        command = "python manage.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]) \
            if len(sys.argv) > 1 and sys.argv[1] == "lab_antipatterns" else \
            f"python manage.py lab_antipatterns{' --quick' if opts['quick'] else ''}"
        try:
            with LabResult(quick=opts["quick"], stdout=self.stdout, command=command) as run:
                self._run(run, size, chosen)
        except RedisServerError as exc:
            raise CommandError(str(exc)) from exc

    def _run(self, run: LabResult, size: int, chosen: list) -> None:
        server = run.server(config=antipatterns.SERVER_CONFIG)
        if server.pid and antipatterns.raise_priority(server.pid):
            run.note("the scratch server and the probe ran at nice -10, ahead of other work on the machine")
        client = redis.Redis(host=server.host, port=server.port, socket_timeout=120)
        antipatterns.reset(client)
        probe = antipatterns.Probe(server.host, server.port).start(client)
        cases: list[antipatterns.Case] = []
        idle = antipatterns.Case("idle", "", "")
        try:
            with idle.window("anti"):
                time.sleep(1.0)
            with run.progress(len(chosen), "cases", unit="case") as bar:
                for name, fn in chosen:
                    bar.set_postfix_str(name)
                    cases.append(fn(client, size))
                    bar.update()
        finally:
            probe.stop()
            client.close()
        base = probe.latencies_ms(idle.windows["anti"])
        floor = antipatterns.percentile(base, 99)
        rows, data = [], {}
        for case in cases:
            anti, fix = probe.latencies_ms(case.windows["anti"]), probe.latencies_ms(case.windows["fix"])
            p99a, p99f = antipatterns.percentile(anti, 99), antipatterns.percentile(fix, 99)
            rows.append([case.name, case.anti, case.fix, f"{p99a:,.2f} ms", f"{p99f:,.2f} ms",
                         f"{max(anti, default=0):,.1f} ms", f"{max(fix, default=0):,.1f} ms",
                         f"{case.duration_ms('anti'):,.0f} ms", f"{case.duration_ms('fix'):,.0f} ms",
                         f"{case.extra.get('anti', '')} · fix: {case.extra.get('fix', '')}"])
            data[case.name] = {"p99_anti_ms": p99a, "p99_fix_ms": p99f, "max_anti_ms": max(anti, default=0),
                               "max_fix_ms": max(fix, default=0), "probe_gets_anti": len(anti),
                               "probe_gets_fix": len(fix), "extra": case.extra}
            if case.note:
                run.note(f"{case.name}: {case.note}")
        run.data.update(size=size, probe_idle_p99_ms=floor, probe_gets=len(probe.samples), cases=data)
        run.table(f"The other client's GETs while each ran ({size:,} keys/elements; probe p99 idle: {floor:.2f} ms)",
                  ["case", "anti-pattern", "fix", "p99 (anti)", "p99 (fix)", "worst (anti)", "worst (fix)",
                   "took (anti)", "took (fix)", "what else"], rows,
                  note="p99 and worst latency of a probe process's GETs (one due every millisecond, each timed from "
                       "when it was due) during the anti-pattern's run, then the fix's. The fix often takes longer "
                       "in total (many small steps) but never holds the server for long: that is the point.")
        for case in cases:
            d = data[case.name]
            if case.name in ("KEYS vs SCAN", "LRANGE 0 -1", "HGETALL on a huge hash", "DEL of a big key"):
                run.check(f"{case.name}: the fix keeps the other client's p99 below the anti-pattern's",
                          d["p99_fix_ms"] < d["p99_anti_ms"],
                          f"{d['p99_fix_ms']:.2f} ms vs {d['p99_anti_ms']:.2f} ms")
