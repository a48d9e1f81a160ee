"""Leaderboard writes: record a score, add a friend, archive a day.

Every write is one round trip: a score goes to the best, total, daily and
(when built) weekly views in one script (``lua/submit_score.lua``), which
also says which views' top 10 changed so pages can be told
(``notify_top10_changed``).

Tie-break: see ``leaderboard.boards`` (``encode``/``decode``; the script
documents it too).  The ``total`` view uses plain ``ZINCRBY`` (a sum cannot
carry an arrival time), so its ties fall back to Redis's order: reverse
lexicographic by player name.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.utils import timezone

from config.api import Conflict, NotFound
from config.redis import get_redis
from leaderboard import keys
from leaderboard.boards import (
    TOP,
    InvalidInput,
    check_board,
    check_player,
    check_points,
    day_of,
    day_ttl,
    decode,
    monday_of,
    week_ttl,
)
from realtime.services import notify
from redis_patterns.scripts import loader

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class ScoreResult:
    board: str
    player: str
    points: int
    best: int
    best_rank: int  # 1-based
    total: int
    total_rank: int
    changed_views: tuple[str, ...]  # views whose top 10 changed


def score_submit(*, board: str, player: str, points: int, now: dt.datetime | None = None) -> ScoreResult:
    """Record one result on every view of ``board``: one script, one round trip.

    Raises:
        boards.InvalidInput, boards.UnknownBoard: bad input (nothing written).
        redis.RedisError: Redis is down (nothing written).
    """
    check_board(board)
    check_player(player)
    check_points(points, board)
    now = now or timezone.now()
    day = day_of(now)
    monday = monday_of(day)
    reply = loader("leaderboard").call(
        get_redis(), "submit_score",
        keys=[keys.best_key(board), keys.total_key(board), keys.day_key(board, day),
              keys.week_key(board, monday), keys.seq_key(board)],
        args=[player, points, day_ttl(day, now), week_ttl(monday, now), TOP, keys.MAX_PLAYERS],
    )
    best_score, best_rank, total, total_rank, *flags = reply
    changed = tuple(view for view, flag in zip(("best", "total", "daily", "weekly"), flags, strict=True)
                    if int(flag))
    periods = {"best": "", "total": "", "daily": day.isoformat(),
               "weekly": "{}-W{:02d}".format(*monday.isocalendar()[:2])}
    if changed:
        notify_top10_changed(board=board, views={view: periods[view] for view in changed})
    return ScoreResult(board, player, points, decode(best_score), int(best_rank) + 1, int(float(total)),
                       int(total_rank) + 1, changed)


def notify_top10_changed(*, board: str, views: dict[str, str]) -> None:
    """Tell the board's followers its top 10 changed: one ``leaderboard.changed`` event per submission.

    ``views`` maps each changed view to its period.  Pages refetch the top 10
    from ``GET /api/leaderboards/<board>/top`` when it arrives.  Best effort
    (``notify`` never raises): the score is already recorded.
    """
    changed = [{"view": view, "period": period} for view, period in views.items()]
    notify(f"leaderboard:{board}", "leaderboard.changed", {"board": board, "views": changed})


class TooManyFriends(Conflict):
    code = "too_many_friends"


def friends_add(*, board: str, player: str, friend: str) -> None:
    """Make ``player`` and ``friend`` friends on ``board`` (both ways; each is in their own set).

    One script (``lua/add_friend.lua``), one round trip, idempotent: the friend
    must have a score on the board, and both ``SADD``s and their ``EXPIRE``
    (``FRIENDS_TTL``) happen in the same atomic step; a set already holding
    ``MAX_FRIENDS`` friends refuses the add.  Anyone may call this for any
    name, so the sets it creates expire and stay bounded.

    Raises:
        boards.InvalidInput: a bad name, or ``friend`` is ``player``.
        config.api.NotFound: ``friend`` has never played on this board (nothing written).
        TooManyFriends: a set is full (409, nothing written).
    """
    check_board(board)
    check_player(player)
    check_player(friend, "friend")
    if friend == player:
        raise InvalidInput("invalid_friend", "you are always on your own friends board")
    added = int(loader("leaderboard").call(
        get_redis(), "add_friend",
        keys=[keys.best_key(board), keys.friends_key(board, player), keys.friends_key(board, friend)],
        args=[player, friend, keys.MAX_FRIENDS + 1, int(keys.FRIENDS_TTL.total_seconds())]))
    if added == 0:
        raise NotFound(f"no player {friend!r} on this board: they need to play once first", code="player_not_found")
    if added < 0:
        raise TooManyFriends(f"a player may have at most {keys.MAX_FRIENDS} friends on a board")


def archive_day(*, board: str, day: dt.date) -> int:
    """Copy ``day``'s top 10 into the archive (``ZRANGESTORE ... REV``, kept 400 days).

    Idempotent; one ``MULTI``/``EXEC`` round trip.  Returns how many entries were kept.
    """
    check_board(board)
    pipe = get_redis().pipeline(transaction=True)
    target = keys.archive_key(board, day)
    pipe.zrangestore(target, keys.day_key(board, day), 0, TOP - 1, desc=True)
    pipe.expire(target, int(keys.ARCHIVE_TTL.total_seconds()))
    stored, _ = pipe.execute()
    return int(stored)
