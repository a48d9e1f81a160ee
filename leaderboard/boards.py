"""Which boards exist, the views of each board, and the input rules.

A *board* is one game (``reaction``); each board has several *views*:

- ``best``: all-time best score per player (``ZADD GT``), ties by who got there first
- ``total``: cumulative points per player (``ZINCRBY``)
- ``daily``: today's best (one key per UTC day, expiring by itself)
- ``weekly``: this ISO week's best, computed from the dailies (``ZUNIONSTORE ... AGGREGATE MAX``)
- ``friends``: the ``best`` view restricted to a player's friends (``ZINTERSTORE``)
"""

from __future__ import annotations

import datetime as dt
import re

from config.api import ApiError, NotFound
from leaderboard import keys

BOARDS: dict[str, str] = {
    "reaction": "Reaction test: five rounds, click as soon as the square turns green",
}
VIEWS = ("best", "total", "daily", "weekly", "friends")

#: The reaction game (``static/leaderboard/game.js``): ``ROUNDS`` rounds, each scoring
#: ``max(0, round(1000 - reaction ms))``, so a game totals 0 .. 5000.  A submitted score
#: above what the game can produce is refused (a test reads game.js to keep these in step).
GAME_ROUNDS = 5
ROUND_MAX_POINTS = 1000
#: The most points one submission may carry, per board: what its game can produce.
BOARD_MAX_POINTS: dict[str, int] = {"reaction": GAME_ROUNDS * ROUND_MAX_POINTS}

#: Player names are shown to others and used inside key names: a short, plain alphabet.
#: Always matched with ``fullmatch``: ``$`` in ``re.match`` also accepts a trailing newline.
PLAYER_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
#: Scores are encoded with a tie-break in the low 32 bits of a double (see ``encode``):
#: the storage limit, far above any board's ``BOARD_MAX_POINTS``.
MAX_POINTS = 2**21 - 1
#: Days and weeks a daily or weekly view may name: from the archive's reach back to tomorrow
#: (UTC, a client's clock may run ahead).  Nothing outside can hold data, and dates near
#: the calendar's end (9999-W52) would overflow the arithmetic on them.
PERIOD_PAST = dt.timedelta(days=400)
PERIOD_FUTURE = dt.timedelta(days=1)
TOP = 10
TIE_BITS = 2**32


class InvalidInput(ApiError):
    """Bad input from a client (400): ``code`` becomes the JSON ``error`` field."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail, code=code)


class UnknownBoard(NotFound):
    """No such board (a 404)."""

    code = "unknown_board"

    def __init__(self, board: str) -> None:
        super().__init__(f"no board named {board[:40]!r}")


def check_board(board: str) -> str:
    if board not in BOARDS:
        raise UnknownBoard(board)
    return board


def check_player(player: object, field: str = "player") -> str:
    if not isinstance(player, str) or not PLAYER_RE.fullmatch(player):
        raise InvalidInput(f"invalid_{field}", f"{field} must be 1-32 characters of letters, digits, '_', '.', '-'")
    return player


def check_points(points: object, board: str) -> int:
    """A score the board's game can produce: an integer in ``0 .. BOARD_MAX_POINTS[board]``."""
    if isinstance(points, bool) or not isinstance(points, int):
        raise InvalidInput("invalid_score", "score must be an integer")
    highest = BOARD_MAX_POINTS[check_board(board)]
    if not 0 <= points <= highest:
        raise InvalidInput("invalid_score", f"score must be between 0 and {highest}: "
                                            "the most this board's game can produce")
    return points


def check_view(view: str) -> str:
    if view not in VIEWS:
        raise InvalidInput("invalid_view", f"view must be one of {', '.join(VIEWS)}")
    return view


def _in_reach(day: dt.date, today: dt.date) -> bool:
    """``day`` lies between ``today - PERIOD_PAST`` and ``today + PERIOD_FUTURE``."""
    return today - PERIOD_PAST <= day <= today + PERIOD_FUTURE


def parse_day(value: str | None, today: dt.date) -> dt.date:
    """A ``YYYY-MM-DD`` day within reach (default: today)."""
    if not value:
        return today
    try:
        day = dt.date.fromisoformat(value) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else None
    except ValueError:
        day = None
    if day is None:
        raise InvalidInput("invalid_day", "day must be YYYY-MM-DD")
    if not _in_reach(day, today):
        raise InvalidInput("invalid_day", f"day must be within the last {PERIOD_PAST.days} days")
    return day


def parse_week(value: str | None, today: dt.date) -> dt.date:
    """The Monday of an ISO week given as ``YYYY-Www`` within reach (default: this week)."""
    if not value:
        return today - dt.timedelta(days=today.weekday())
    match = re.fullmatch(r"(\d{4})-W(\d{2})", value)
    try:
        if not match:
            raise ValueError
        monday = dt.date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise InvalidInput("invalid_week", "week must be YYYY-Www, e.g. 2026-W48") from None
    # Compared before any arithmetic on it: 9999-W52 + 7 days is past the calendar's end.
    if not _in_reach(monday, today):
        raise InvalidInput("invalid_week", f"week must be within the last {PERIOD_PAST.days} days")
    return monday


# --- scores and periods ---------------------------------------------------------------------
# Tie-break: the best/daily/weekly views store ``points * 2**32 + (2**32 - 1 - seq)``
# where ``seq`` is the submission's arrival number on that board.  Equal points
# rank by who reached them first; the API always returns the real points.
# Doubles hold integers exactly up to 2**53, hence ``MAX_POINTS = 2**21 - 1``
# and 4 billion submissions per board.


def encode(points: int, seq: int) -> int:
    """The stored score: points in the high bits, an earlier ``seq`` ranks higher."""
    return points * TIE_BITS + (TIE_BITS - 1 - seq)


def decode(score: float | str) -> int:
    """The player's real points from a stored (encoded) score."""
    return int(float(score)) // TIE_BITS


def day_of(now: dt.datetime) -> dt.date:
    return now.astimezone(dt.UTC).date()


def monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def day_ttl(day: dt.date, now: dt.datetime) -> int:
    """Seconds from ``now`` until the end of ``day`` plus the grace period (never below 1)."""
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)
    return max(int((end + keys.DAY_TTL - now).total_seconds()), 1)


def week_ttl(monday: dt.date, now: dt.datetime) -> int:
    end = dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(), dt.UTC)
    return max(int((end + keys.WEEK_TTL - now).total_seconds()), 1)
