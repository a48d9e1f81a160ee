"""Leaderboard reads: top N with pagination, a player's rank and neighbours.

Each read is one round trip, and the common ones are a single command sent
directly (``roundtrips.direct_call``; no pipeline object), their rows built as
tuples (``Entry`` is a ``NamedTuple``): the hot path costs about a ``GET``.

- top N / a page: one ``ZRANGE ... REV`` (`ZRANGE <https://redis.io/docs/latest/commands/zrange/>`_);
- a player's rank: ``ZREVRANK ... WITHSCORE``, one command, where the server has it (Redis and
  Valkey 7.2+; ``redis_patterns.zrank``), else ``ZREVRANK`` and ``ZSCORE`` pipelined;
- a player's rank and neighbours: one script (``lua/around_me.lua``: ``ZREVRANK`` then
  ``ZREVRANGE`` around it, atomically);
- weekly view: the build-if-missing script and the read, pipelined (still one round trip);
- friends view: one script (``ZINTERSTORE`` best ∩ friends set, plus the player, ``EXPIRE``), then the read, pipelined.
- the game page: the top 10 and yesterday's archive, two ``ZRANGE`` pipelined.

Ranks are 1-based in everything returned.  Scores are the real points
(``boards.decode`` undoes the tie-break encoding).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

from django.utils import timezone

from config.redis import get_redis
from leaderboard import keys
from leaderboard.boards import (
    TIE_BITS,
    InvalidInput,
    check_board,
    check_player,
    check_view,
    day_of,
    decode,
    monday_of,
    parse_day,
    parse_week,
    week_ttl,
)
from redis_patterns import zrank
from redis_patterns.roundtrips import direct_call, direct_pipeline
from redis_patterns.scripts import loader

MAX_PAGE = 100
MAX_AROUND = 50
#: No view holds more than ``keys.MAX_PLAYERS``: a page further down is empty by definition,
#: and an offset near 2**63 would overflow the ``ZRANGE`` stop index (a Redis error, not a 4xx).
MAX_OFFSET = keys.MAX_PLAYERS


class Entry(NamedTuple):
    """One row of a board (a tuple: a page of them is built in a few microseconds)."""

    rank: int
    player: str
    score: int

    def as_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "player": self.player, "score": self.score}


class Standing(NamedTuple):
    player: str
    rank: int
    score: int
    around: list[Entry]


@dataclass(frozen=True)
class BoardRef:
    """One view of one board, resolved to its key (and what it needs before reading)."""

    board: str
    view: str
    key: str
    period: str = ""
    week_days: tuple[str, ...] = ()
    week_ttl: int = 0
    friends_of: str = ""

    @property
    def encoded(self) -> bool:
        return self.view != "total"


def board_ref(*, board: str, view: str = "best", day: str | None = None, week: str | None = None,
              player: str | None = None, now: dt.datetime | None = None) -> BoardRef:
    """Validate and resolve a view.  ``friends`` needs ``player`` (whose friends)."""
    check_board(board)
    check_view(view)
    if view == "best":
        return BoardRef(board, view, keys.best_key(board))
    if view == "total":
        return BoardRef(board, view, keys.total_key(board))
    now = now or timezone.now()
    today = day_of(now)
    if view == "daily":
        d = parse_day(day, today)
        return BoardRef(board, view, keys.day_key(board, d), period=d.isoformat())
    if view == "weekly":
        monday = parse_week(week, monday_of(today)) if week else monday_of(today)
        days = tuple(keys.day_key(board, monday + dt.timedelta(days=i)) for i in range(7))
        year, number, _ = monday.isocalendar()
        return BoardRef(board, view, keys.week_key(board, monday), period=f"{year}-W{number:02d}",
                        week_days=days, week_ttl=week_ttl(monday, now))
    if not player:
        raise InvalidInput("missing_player", "the friends view needs ?player=<name>")
    check_player(player)
    return BoardRef(board, view, keys.friends_board_key(board, player), friends_of=player)


def _prepare(client: Any, pipe: Any, ref: BoardRef) -> int:
    """Queue what must run before reading ``ref.key``; returns how many replies to skip."""
    if ref.view == "weekly":
        loader("leaderboard").queue(client, pipe, "weekly_board", keys=[ref.key, *ref.week_days], args=[ref.week_ttl])
        return 1
    if ref.view == "friends":
        loader("leaderboard").queue(
            client, pipe, "friends_board",
            keys=[ref.key, keys.best_key(ref.board), keys.friends_key(ref.board, ref.friends_of)],
            args=[ref.friends_of, int(keys.FRIENDS_BOARD_TTL.total_seconds())])
        return 1
    return 0


def _score(ref: BoardRef, raw: float | str) -> int:
    return decode(raw) if ref.encoded else int(float(raw))


def _entries(ref: BoardRef, first_rank: int, flat: list[str]) -> list[Entry]:
    """``[member, score, member, score, ...]`` (a ``WITHSCORES`` reply) as entries ranked from ``first_rank``."""
    players, scores = flat[0::2], flat[1::2]
    try:
        # Redis prints an integral score below 2**53 as plain digits: int() reads it directly
        values = list(map(int, scores))
    except ValueError:
        values = [int(float(s)) for s in scores]
    points = [v // TIE_BITS for v in values] if ref.encoded else values
    return list(map(_new_entry, zip(range(first_rank, first_rank + len(players)), players, points,
                                    strict=True)))


#: ``Entry._make`` without its Python frame per row (what ``_make`` itself calls): a page of ten is
#: built in about 3 µs instead of 4.5 on the machine the benchmarks run on.
_new_entry = partial(tuple.__new__, Entry)


def _needs_prepare(ref: BoardRef) -> bool:
    return ref.view in ("weekly", "friends")


def board_top(ref: BoardRef, *, limit: int = 10, offset: int = 0) -> list[Entry]:
    """Entries ranked ``offset + 1`` .. ``offset + limit``: one round trip.

    The best, total and daily views are one ``ZRANGE ... REV WITHSCORES``
    sent on its own (no pipeline object); weekly and friends first build
    their key, in the same pipelined round trip.
    """
    if not 1 <= limit <= MAX_PAGE or not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput("invalid_page", f"limit must be 1-{MAX_PAGE} and offset 0-{MAX_OFFSET}")
    client = get_redis()
    if not _needs_prepare(ref):
        flat = direct_call(client, "ZRANGE", ref.key, offset, offset + limit - 1, "REV", "WITHSCORES")
        return _entries(ref, offset + 1, flat)
    skip = 0

    def build(pipe: Any) -> None:
        nonlocal skip
        skip = _prepare(client, pipe, ref)
        pipe.execute_command("ZRANGE", ref.key, offset, offset + limit - 1, "REV", "WITHSCORES")

    # run_pipeline: the weekly script builds the key the read then reads.
    return _entries(ref, offset + 1, loader("leaderboard").run_pipeline(client, build)[skip])


def board_player(ref: BoardRef, *, player: str, around: int = 0) -> Standing | None:
    """A player's rank, score and ``around`` neighbours each side; ``None`` if not on the board."""
    check_player(player)
    if not 0 <= around <= MAX_AROUND:
        raise InvalidInput("invalid_around", f"around must be 0-{MAX_AROUND}")
    client = get_redis()
    if around == 0:
        # rank alone needs no script: one command where the server has ZREVRANK ... WITHSCORE
        # (Redis/Valkey 7.2+, redis_patterns.zrank), else ZREVRANK and ZSCORE pipelined: one round trip
        if not _needs_prepare(ref):
            found = zrank.rev_rank_with_score(client, ref.key, player)
        else:
            skip = 0

            def build_rank(pipe: Any) -> None:
                nonlocal skip
                skip = _prepare(client, pipe, ref)
                pipe.zrevrank(ref.key, player)
                pipe.zscore(ref.key, player)

            rank, score = loader("leaderboard").run_pipeline(client, build_rank)[skip:]
            if isinstance(rank, Exception):
                raise rank
            found = None if rank is None or score is None else (rank, score)
        if found is None:
            return None
        entry = Entry(found[0] + 1, player, _score(ref, found[1]))
        return Standing(player, entry.rank, entry.score, [entry])
    if _needs_prepare(ref):
        skip = 0

        def build_around(pipe: Any) -> None:
            nonlocal skip
            skip = _prepare(client, pipe, ref)
            loader("leaderboard").queue(client, pipe, "around_me", keys=[ref.key], args=[player, around])

        reply = loader("leaderboard").run_pipeline(client, build_around)[skip]
    else:
        reply = loader("leaderboard").call(client, "around_me", keys=(ref.key,), args=(player, around))
    if reply is None:
        return None
    rank, start, flat = reply
    entries = _entries(ref, start + 1, flat)
    return Standing(player, rank + 1, entries[rank - start].score, entries)


def game_boards(ref: BoardRef, *, archive_day: dt.date, limit: int = 10) -> tuple[list[Entry], list[Entry]]:
    """The game page's two reads, the live top ``limit`` and a day's archive, in one round trip."""
    check_board(ref.board)
    if _needs_prepare(ref):
        return board_top(ref, limit=limit), archived_top(board=ref.board, day=archive_day)
    top, archive = direct_pipeline(get_redis(), [
        ("ZRANGE", ref.key, 0, limit - 1, "REV", "WITHSCORES"),
        ("ZRANGE", keys.archive_key(ref.board, archive_day), 0, -1, "REV", "WITHSCORES"),
    ])
    for reply in (top, archive):
        if isinstance(reply, Exception):
            raise reply
    return _entries(ref, 1, top), _entries(BoardRef(ref.board, "archive", ""), 1, archive)


def archived_top(*, board: str, day: dt.date) -> list[Entry]:
    """The archived top 10 of a past day (empty if none was kept)."""
    check_board(board)
    flat = direct_call(get_redis(), "ZRANGE", keys.archive_key(board, day), 0, -1, "REV", "WITHSCORES")
    return _entries(BoardRef(board, "archive", ""), 1, flat)
