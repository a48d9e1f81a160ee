"""``python manage.py lab_stampede``: many users over HTTP on a hot key that keeps expiring.

Course lab 6 (sections 6.5 and 14.6).  The lab starts its own site:

- a private ``redis-server`` and a temporary SQLite database (``migrate`` and
  ``seed_demo``), as ``bench/shop_stampede.py`` does;
- uvicorn with ``--workers`` processes serving the real site
  (``ops/stampede_site.py``: the real settings and URLs) plus
  ``/lab/stampede/<id>`` (``ops/stampede_urls.py``): one product read through
  the shop's cache with a ``--fresh``-second freshness and a loader costing
  ``--load-ms`` (the product query plus a sleep);
- the load from ``bench/httpload.py`` in its own process (raw asyncio
  streams): ``--users`` keep-alive connections, each sending requests back to
  back, ``--requests`` in all per run.

Protected (single-flight lease + stale-while-revalidate + XFetch, the site's
policy) and naive cache-aside alternate, ``--pairs`` times, each run on a
product of its own.  Reported: database loads (responses with ``X-Cache:
miss``), loads per expiry, p50/p99 latency, throughput, errors.

What a 2-core machine holds: 1,000 open connections, yes (asyncio on the
client, uvicorn on the server), and Django under ASGI gives each request
its own thread for the sync view and middleware (asgiref's per-request
``ThreadSensitiveContext``), so all of them can be in service at once.  What
it cannot give is CPU: two shared cores serve a few hundred requests per
second, so most of each request's latency is queueing.  The simulated query
is a sleep, so the naive runs' extra loads cost the database nothing here;
on a real database that many concurrent copies of an expensive query is the
outage the course describes.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ops import charts
from ops.labs import LabRun, fmt_int, percentile
from redis_patterns.servers import free_port


class Command(BaseCommand):
    help = "Lab: N users over HTTP on a hot key that keeps expiring, with and without stampede protection."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--quick", action="store_true", help="300 users, 8 requests each, 1 pair")
        parser.add_argument("--users", type=int, default=None, help="concurrent connections (default 1,000)")
        parser.add_argument("--requests", type=int, default=None, help="requests per run (default 10 per user)")
        parser.add_argument("--pairs", type=int, default=None, help="protected/naive pairs (default 3)")
        parser.add_argument("--workers", type=int, default=None, help="uvicorn worker processes (default 4)")
        parser.add_argument("--fresh", type=float, default=1.0, help="seconds the entry stays fresh")
        parser.add_argument("--load-ms", type=float, default=100.0, help="simulated database cost per load")

    def handle(self, *args: Any, **opt: Any) -> None:
        quick = opt["quick"]
        users = opt["users"] or (300 if quick else 1000)
        requests = opt["requests"] or users * (8 if quick else 10)
        pairs = opt["pairs"] or (1 if quick else 3)
        workers = opt["workers"] or 4
        if users < 1 or requests < users or workers < 1 or pairs < 1:
            raise CommandError("--users >= 1, --requests >= --users, --workers >= 1, --pairs >= 1")
        with LabRun("stampede", quick=quick, stdout=self.stdout) as run:
            with run.progress(3 + 2 * pairs, "stampede") as bar:
                bar.set_postfix_str("redis-server, database, demo data")
                env, port = self._site(run, workers, opt)
                bar.update(1)
                bar.set_postfix_str(f"uvicorn, {workers} workers")
                self._start_web(run, env, port, workers)
                bar.update(1)
                bar.set_postfix_str("warm-up")
                self._load(run, port, ["/lab/stampede/1?protect=1"], min(2000, requests), min(users, 200))
                bar.update(1)
                results: list[dict[str, Any]] = []
                product = 2
                for pair in range(pairs):
                    for protect in ((True, False) if pair % 2 == 0 else (False, True)):
                        bar.set_postfix_str(f"pair {pair + 1}/{pairs}: {'protected' if protect else 'naive'}")
                        out = self._load(run, port, [f"/lab/stampede/{product}?protect={int(protect)}"], requests,
                                         users)
                        out.update({"protect": protect, "pair": pair + 1})
                        results.append(out)
                        product += 1
                        bar.update(1)
            self._report(run, results, users, requests, workers, pairs, opt)

    # -- the site -----------------------------------------------------------------------------

    def _site(self, run: LabRun, workers: int, opt: dict[str, Any]) -> tuple[dict[str, str], int]:
        server = run.server(name="stampede-redis")
        var_dir = run.tmp / "site"
        var_dir.mkdir()
        env = {**os.environ, "REDIS_URL": server.url, "VAR_DIR": str(var_dir),
               "DJANGO_SETTINGS_MODULE": "ops.stampede_site", "SECRET_KEY": "lab-stampede-" + "k" * 50,
               "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1", "REDIS_KEY_PREFIX": "lab", "LOG_LEVEL": "WARNING",
               "DATABASE_URL": f"sqlite:///{var_dir / 'db.sqlite3'}",
               # The load comes from one IP: a rate limit would turn it into 429s.
               "RATELIMIT_ENABLED": "0",
               "LAB_STAMPEDE_TTL": str(opt["fresh"]), "LAB_STAMPEDE_LOAD_MS": str(opt["load_ms"])}
        for name in ("REDIS_SENTINELS", "REDIS_CLUSTER_NODES", "CHANNEL_REDIS_URL", "CELERY_BROKER_URL"):
            env.pop(name, None)
        root = Path(settings.BASE_DIR)
        for args in (["migrate", "-v0"], ["seed_demo", "--products", "50", "--quiet"]):
            done = run.run_tool([sys.executable, "manage.py", *args], env=env, cwd=root, timeout=300)
            if done.returncode != 0:
                raise CommandError(f"manage.py {args[0]} failed:\n{done.stderr[-2000:]}")
        return env, free_port()

    def _start_web(self, run: LabRun, env: dict[str, str], port: int, workers: int) -> None:
        log = (run.tmp / "uvicorn.log").open("wb")
        proc = run.popen([sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
                          "--port", str(port), "--workers", str(workers), "--lifespan", "off", "--no-access-log",
                          "--log-level", "warning", "--backlog", "4096"],
                         cwd=Path(settings.BASE_DIR), env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise CommandError(f"uvicorn exited:\n{(run.tmp / 'uvicorn.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    sock.sendall(b"GET /lab/stampede/1?protect=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                 b"Connection: close\r\n\r\n")
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise CommandError("uvicorn did not serve /lab/stampede/1 within 120 s")

    def _load(self, run: LabRun, port: int, paths: list[str], requests: int, users: int) -> dict[str, Any]:
        out = run.run_tool([sys.executable, "-m", "bench.httpload", "--port", str(port), "--requests",
                            str(requests), "--concurrency", str(users), "--paths", *paths],
                           cwd=Path(settings.BASE_DIR), timeout=900)
        if out.returncode != 0:
            raise CommandError(f"bench.httpload failed:\n{out.stderr[-2000:]}")
        result = json.loads(out.stdout)
        lat = result.pop("latencies_ms")
        result.update({"n": len(lat), "p50": percentile(lat, 50), "p99": percentile(lat, 99), "max": max(lat),
                       "rps": len(lat) / result["wall_s"],
                       "loads": result["xcache"].get("miss", 0) + result["xcache"].get("bypass", 0),
                       "errors": sum(v for k, v in result["statuses"].items() if k != "200")})
        return result

    # -- report ---------------------------------------------------------------------------------

    def _report(self, run: LabRun, results: list[dict], users: int, requests: int, workers: int, pairs: int,
                opt: dict[str, Any]) -> None:
        fresh = opt["fresh"]
        rows = []
        for r in results:
            expiries = max(1.0, r["wall_s"] / fresh)
            rows.append(["protected" if r["protect"] else "naive", r["pair"], fmt_int(r["n"]), fmt_int(r["loads"]),
                         f"{r['loads'] / expiries:.1f}", f"{r['p50']:.0f} ms", f"{r['p99']:.0f} ms",
                         f"{r['rps']:,.0f}/s", fmt_int(r["errors"]),
                         ", ".join(f"{k} {v:,}" for k, v in sorted(r["xcache"].items()))])
        run.table(f"{fmt_int(users)} users (keep-alive connections) x {fmt_int(requests)} requests per run on one "
                  f"hot product; fresh {fresh:g} s, a load costs {opt['load_ms']:.0f} ms; uvicorn with "
                  f"{workers} worker processes",
                  ["mode", "pair", "requests", "database loads", "loads per expiry", "p50", "p99", "throughput",
                   "errors", "X-Cache"], rows,
                  note="loads per expiry: database loads / (run time / freshness). X-Cache: miss = this request "
                       "ran the loader; stale = served the expired value while one request reloaded.")

        def med(protect: bool, field: str) -> float:
            return statistics.median(r[field] for r in results if r["protect"] == protect)

        summary = [[label, fmt_int(med(p, "loads")), f"{med(p, 'p50'):.0f} ms", f"{med(p, 'p99'):.0f} ms",
                    f"{med(p, 'rps'):,.0f}/s", fmt_int(med(p, "errors"))]
                   for label, p in (("protected", True), ("naive", False))]
        run.table(f"Medians over {pairs} pair(s)", ["mode", "database loads", "p50", "p99", "throughput", "errors"],
                  summary)
        protected = [r for r in results if r["protect"]]
        run.check("with protection, about one database load per expiry (not one per waiting request)",
                  all(r["loads"] <= r["wall_s"] / fresh * 1.5 + 2 for r in protected),
                  ", ".join(f"{r['loads']} loads in {r['wall_s']:.1f} s" for r in protected))
        run.check("without protection, more database loads than with it",
                  med(False, "loads") > med(True, "loads"),
                  f"median {med(False, 'loads'):.0f} vs {med(True, 'loads'):.0f}")
        run.check("no request failed", all(r["errors"] == 0 for r in results),
                  f"{sum(r['errors'] for r in results)} non-200 responses")
        run.data.update({"users": users, "requests": requests, "workers": workers,
                         "runs": [{k: v for k, v in r.items()} for r in results]})
        run.note(f"What this machine held: {fmt_int(users)} open connections from one asyncio client, each "
                 f"with a request outstanding, against {workers} uvicorn processes, all on 2 shared cores. "
                 "Django under ASGI runs each request's sync code in a thread of its own, so every one of them "
                 "can be in service at once; the limit is CPU, and most of each request's latency is the "
                 "queue for it. A naive cache sends one load per request that arrives while a load is "
                 "running (arrival rate x load time: here about 'loads per expiry'); the protected one sends "
                 "one per expiry however many users wait.")
        run.note(f"The {opt['load_ms']:.0f} ms 'query' is a sleep: the naive runs' extra loads cost this "
                 "database nothing, which is why their throughput barely suffers here. On a real database "
                 "that many concurrent copies of an expensive query are the outage.")
        lease = max(2 * opt["load_ms"] / 1000, min(5.0, fresh / 2))
        prot = [r for r in results if r["protect"]]
        stale = sum(r["xcache"].get("stale", 0) for r in prot) / max(1, sum(r["n"] for r in prot))
        early = statistics.median(r["loads"] / max(1.0, r["wall_s"] / fresh) for r in prot)
        run.note(f"Protected, {100 * stale:.1f}% of the responses were stale and there were {early:.1f} loads "
                 "per expiry: at this request rate XFetch refreshes the entry before it expires (the chance "
                 "rises with every read as expiry nears), so readers rarely see it expired at all; each "
                 "refresh is still one load, under the lease.")
        run.note("Protected reads never wait for the database once the key is warm: when the entry expires one "
                 "request takes the lease and reloads, the others get the stale value at once (X-Cache: "
                 "stale), and XFetch sometimes reloads a moment before expiry. The lease outlives the fill "
                 f"until it runs out ({lease:g} s here), so that a reader that saw the old entry cannot "
                 "reload right after the fill; that also bounds how often a hot key is reloaded, and so how "
                 "stale it can be served: with the shop's 5 s lease and a 1 s freshness it would reload "
                 "only every 5 s. Naive reads that find the entry expired all load, each holding a thread "
                 "for the load's duration.")
        run.chart(charts.bar_chart(
            f"Hot key expiring every {fresh:g} s under {fmt_int(users)} users", ["protected", "naive"],
            [("database loads", [med(True, "loads"), med(False, "loads")]),
             ("p99 ms", [med(True, "p99"), med(False, "p99")]),
             ("p50 ms", [med(True, "p50"), med(False, "p50")]),
             ("requests/s", [med(True, "rps"), med(False, "rps")])],
            note=f"medians over {pairs} pair(s); {workers} uvicorn workers; a load costs {opt['load_ms']:.0f} ms"))
