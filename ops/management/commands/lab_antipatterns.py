"""``python manage.py lab_antipatterns [--quick] [--size N] [--only CASE ...]``: each anti-pattern against its fix.

Starts its own ``redis-server`` (never the app's), a probe process timing
its own ``GET``s, and runs every case of ``ops.antipatterns`` (see its
docstring for what each one does).  Ends with one table: per case, the probe's
p99 and worst GET while the anti-pattern ran and while the fix ran, and what
else each side cost.  The result is kept in ``var/labs/antipatterns.json``
for its page ``/ops/labs/antipatterns/`` (``ops.labs``, like every lab).

Sizes: 1,000,000 keys/elements by default; ``--quick`` uses 200,000 (under 2
minutes on a 2-core machine); ``--size`` sets it.
"""

from __future__ import annotations

import shlex
import sys
import time
from typing import Any

import redis
from django.core.management.base import BaseCommand, CommandError

from ops import antipatterns
from ops.labs import LabRun
from redis_patterns.servers import RedisServerError


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
            with LabRun("antipatterns", quick=opts["quick"], stdout=self.stdout, command=command) as run:
                self._run(run, size, chosen)
        except RedisServerError as exc:
            raise CommandError(str(exc)) from exc

    def _run(self, run: LabRun, size: int, chosen: list) -> None:
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
