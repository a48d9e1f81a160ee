"""``python manage.py keys``: every key family the project writes (the key registry), and its reports.

    python manage.py keys                 # the registry: pattern, type, TTL policy, writer, builder
    python manage.py keys --scan          # + keys and bytes per family in the running Redis (a SCAN sample)
    python manage.py keys --no-ttl        # keys of expiring families that have no TTL (exit 1 if any)
    python manage.py keys --big 20        # the 20 largest keys by MEMORY USAGE
    python manage.py keys --format markdown

The registry is ``config.keyspace`` (``@family`` beside every builder in the
apps' ``keys.py``; ``declare()`` for names a library builds).  The live
reports share one sampling pass (``ops.audit.sample_keyspace``: ``SCAN``, never
``KEYS``), with a progress bar; ``--limit`` bounds it.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError
from tqdm import tqdm

from config.keyspace import families
from ops import audit


def table(columns: list[str], rows: list[list[Any]]) -> str:
    """A pipe table padded to read in a terminal (and paste into Markdown)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = lambda values: "| " + " | ".join(v.ljust(widths[i]) for i, v in enumerate(values)) + " |"  # noqa: E731
    return "\n".join([line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in cells])


class Command(BaseCommand):
    help = "List every declared key family (the key registry); with --scan/--no-ttl/--big, audit the running Redis."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--scan", action="store_true", help="count keys and bytes per family in the running Redis")
        parser.add_argument("--no-ttl", action="store_true", help="keys of expiring families without a TTL")
        parser.add_argument("--big", type=int, default=0, metavar="N", help="the N largest keys")
        parser.add_argument("--limit", type=int, default=100_000, help="keys to sample at most (default 100000)")
        parser.add_argument("--format", choices=["table", "markdown"], default="table")

    def handle(self, *args: Any, **opts: Any) -> None:
        fams = families()
        live = opts["scan"] or opts["no_ttl"] or opts["big"]
        result = None
        if live:
            try:
                result = self._sample(opts["limit"])
            except RedisError as exc:
                raise CommandError(f"Redis unavailable: {exc}") from exc
        out = self.stdout.write
        columns = ["pattern", "type", "expires", "TTL policy", "writer", "builder"]
        rows = [[f.pattern, f.type, "yes" if f.expires else "no", f.ttl, f.writer, f.builder] for f in fams]
        if result is not None and opts["scan"]:
            columns += ["keys", "bytes", "no TTL"]
            for row, f in zip(rows, fams, strict=True):
                count = result.by_family.get(f.pattern)
                row += ["-", "-", "-"] if count is None else [count.keys, count.memory, count.no_ttl]
        fmt = opts["format"]
        sep = "" if fmt == "markdown" else "\n"
        out(f"{len(fams)} key families declared (config.keyspace){sep}\n")
        out(table(columns, rows))
        if result is None:
            return
        scope = "all" if result.complete else f"a sample of {len(result.samples)}"
        out(f"\nlooked at {scope} keys matching {result.match} ({result.dbsize} in the database)\n")
        if result.undeclared:
            out(f"\nundeclared keys ({len(result.undeclared)}):\n")
            out(table(["key", "type", "TTL ms"], [[s.name, s.type, s.ttl_ms] for s in result.undeclared[:50]]))
        if opts["big"]:
            out(f"\nthe {opts['big']} largest keys:\n")
            out(table(["key", "type", "bytes", "elements", "family"],
                      [[s.name, s.type, s.memory, s.length if s.length is not None else "-",
                        s.family.pattern if s.family else "undeclared"] for s in result.big_keys(opts["big"])]))
        if opts["no_ttl"]:
            missing = result.no_ttl
            if not missing:
                out("\nno-TTL report: empty (every key of an expiring family has a TTL)\n")
            else:
                out(f"\nno-TTL report: {len(missing)} keys of expiring families have no TTL:\n")
                out(table(["key", "family", "declared TTL"], [[s.name, s.family.pattern, s.family.ttl]
                                                               for s in missing[:100] if s.family]))
                raise CommandError(f"{len(missing)} keys of expiring families have no TTL", returncode=1)

    def _sample(self, limit: int) -> audit.Audit:
        with tqdm(total=None, desc="keys: SCAN", unit="key", file=sys.stderr, mininterval=0.3, leave=False) as bar:
            return audit.sample_keyspace(limit, progress=bar.update)
