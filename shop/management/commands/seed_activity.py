"""``python manage.py seed_activity [--days N]``: demo daily-active-user bitmaps, so the activity chart has data.

Marks synthetic users (ids from ``shop.activity.DEMO_FIRST_ID``: above any
real user's) in ``{activity}:users:<day>`` for the last ``N`` days: a new
cohort each day, each user returning with a decaying probability.
Idempotent: a given day always gets the same bits (``SETBIT`` of a set bit
changes nothing), which is why ``make run`` can run it on every start.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from redis.exceptions import RedisError
from tqdm import tqdm

from shop import activity


class Command(BaseCommand):
    help = "Mark demo users active in the daily bitmaps of the last N days (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=35, help="how many days back (default 35, at most 120)")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args: Any, days: int, quiet: bool, **options: Any) -> None:
        if not 1 <= days <= 120:
            self.stderr.write("--days must be from 1 to 120 (the bitmaps are kept 120 days)")
            return
        marked = 0
        try:
            for offset in tqdm(range(days), desc="days", unit="day", disable=quiet):
                marked += activity.activity_seed(days=1, offset=offset)
        except RedisError as exc:
            self.stderr.write(f"seed_activity: Redis unavailable ({exc})")
            return
        self.stdout.write(f"seed_activity: {marked} demo activity bits over {days} days")
