"""The leaderboard pages: the game and its boards."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import ensure_csrf_cookie
from redis.exceptions import RedisError

from config.redis import cached_redis_health
from leaderboard import selectors
from leaderboard.boards import BOARDS, VIEWS, day_of

BOARD = "reaction"


@ensure_csrf_cookie
def game(request: HttpRequest) -> HttpResponse:
    """The reaction game; its results go to ``POST /api/leaderboards/reaction/scores``."""
    context: dict = {"board": BOARD, "board_title": BOARDS[BOARD], "views": VIEWS, "top": [], "archive": []}
    if cached_redis_health()[0]:
        try:
            # the live top 10 and yesterday's archive: one round trip
            yesterday = day_of(timezone.now()) - dt.timedelta(days=1)
            context["top"], context["archive"] = selectors.game_boards(selectors.board_ref(board=BOARD),
                                                                        archive_day=yesterday)
            context["archive_day"] = yesterday
        except RedisError as exc:
            context["error"] = str(exc)
    return render(request, "leaderboard/game.html", context)
