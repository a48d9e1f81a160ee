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

BOARDS: dict[str, str] = {
    "reaction": "Reaction test: five rounds, click as soon as the square turns green",
}
VIEWS = ("best", "total", "daily", "weekly", "friends")

#: Player names are shown to others and used inside key names: a short, plain alphabet.
PLAYER_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
#: Scores are encoded with a tie-break in the low 32 bits of a double (see services.encode).
MAX_POINTS = 2**21 - 1


class InvalidInput(ValueError):
    """Bad input from a client: ``code`` becomes the JSON ``error`` field."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class UnknownBoard(LookupError):
    """No such board (a 404)."""


def check_board(board: str) -> str:
    if board not in BOARDS:
        raise UnknownBoard(board)
    return board


def check_player(player: object, field: str = "player") -> str:
    if not isinstance(player, str) or not PLAYER_RE.match(player):
        raise InvalidInput(f"invalid_{field}", f"{field} must be 1-32 characters of letters, digits, '_', '.', '-'")
    return player


def check_points(points: object) -> int:
    if isinstance(points, bool) or not isinstance(points, int):
        raise InvalidInput("invalid_score", "score must be an integer")
    if not 0 <= points <= MAX_POINTS:
        raise InvalidInput("invalid_score", f"score must be between 0 and {MAX_POINTS}")
    return points


def check_view(view: str) -> str:
    if view not in VIEWS:
        raise InvalidInput("invalid_view", f"view must be one of {', '.join(VIEWS)}")
    return view


def parse_day(value: str | None, today: dt.date) -> dt.date:
    if not value:
        return today
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("invalid_day", "day must be YYYY-MM-DD") from None


def parse_week(value: str | None, today: dt.date) -> dt.date:
    """The Monday of an ISO week given as ``YYYY-Www`` (default: this week)."""
    if not value:
        return today - dt.timedelta(days=today.weekday())
    match = re.fullmatch(r"(\d{4})-W(\d{2})", value)
    try:
        if not match:
            raise ValueError
        return dt.date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise InvalidInput("invalid_week", "week must be YYYY-Www, e.g. 2026-W48") from None
