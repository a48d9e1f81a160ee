"""Celery tasks of the leaderboard (thin: the work is in ``services``).

``archive_daily_boards`` runs from Celery beat shortly after midnight UTC
(``CELERY_BEAT_SCHEDULE`` in settings).  The daily board needs no reset: it
is a key per UTC day (``lb:{<board>}:day:<date>``), so a new day starts an
empty board by itself and the old one expires 8 days later (the weekly
union still needs it until then).  What the task adds is the archive:
yesterday's top 10 kept for 400 days.
"""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from leaderboard.boards import BOARDS, day_of
from leaderboard.services import archive_day


@shared_task(name="leaderboard.archive_daily_boards", ignore_result=True)
def archive_daily_boards(day: str | None = None) -> dict[str, int]:
    """Archive ``day``'s (default: yesterday's, UTC) top 10 of every board. Idempotent."""
    target = dt.date.fromisoformat(day) if day else day_of(timezone.now()) - dt.timedelta(days=1)
    return {board: archive_day(board=board, day=target) for board in BOARDS}
