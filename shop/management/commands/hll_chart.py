"""``python manage.py hll_chart [--trials 3] [--max 1000000] [--out docs/hll_error.svg]``.

Measures HyperLogLog error and memory against an exact set on the
configured Redis (``shop.hll_lab``), draws both as an SVG and prints the
table.  Its scratch keys expire on their own and are deleted at the end.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from config.redis import get_redis
from shop import hll_lab


class Command(BaseCommand):
    help = "Draw HLL error and memory vs an exact set, 1k to 1M items (docs/hll_error.svg)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--trials", type=int, default=3)
        parser.add_argument("--max", type=int, default=1_000_000, help="the last checkpoint (default 1,000,000)")
        parser.add_argument("--out", default=str(Path(settings.BASE_DIR) / "docs" / "hll_error.svg"))
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args: Any, trials: int, max: int, out: str, quiet: bool, **options: Any) -> None:  # noqa: A002
        checkpoints = tuple(n for n in hll_lab.CHECKPOINTS if n <= max)
        if not 1 <= trials <= 10 or len(checkpoints) < 2:
            self.stderr.write("--trials 1-10, --max at least 2000")
            return
        client = get_redis()
        bar = tqdm(total=trials * len(checkpoints), desc="checkpoints", disable=quiet)
        points = hll_lab.hll_measure(client, checkpoints=checkpoints, trials=trials, progress=lambda n: bar.update())
        bar.close()
        version = client.info("server").get("redis_version", "?")
        title = f"Redis {version}, {trials} trials, {dt.date.today().isoformat()}"
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(hll_lab.svg(points, title=title))
        for row in hll_lab.table(points):
            self.stdout.write(row)
        self.stdout.write(f"standard error {100 * hll_lab.STANDARD_ERROR:.2f}%; chart written to {out}")
