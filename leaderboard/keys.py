"""Every Redis key of the leaderboard app, one function each.

All keys of one board share the ``{<board>}`` hash tag: the submit script,
``ZUNIONSTORE`` of the dailies, ``ZINTERSTORE`` with a friends set and
``ZRANGESTORE`` into the archive are multi-key, and on Redis Cluster they
need their keys in one slot.  Board names come from a fixed list and player
names are validated (``boards.PLAYER_RE``) before they reach a key.
"""

from __future__ import annotations

import datetime as dt

from config.keyspace import family
from config.redis import key

DAY_TTL = dt.timedelta(days=8)  # a daily board outlives its week: the weekly union needs it
WEEK_TTL = dt.timedelta(days=8)
FRIENDS_BOARD_TTL = dt.timedelta(seconds=60)
FRIENDS_TTL = dt.timedelta(days=30)  # a friends set anyone can create: it expires unless used
MAX_FRIENDS = 100  # and it stays bounded (add_friend.lua refuses the 101st)
MAX_PLAYERS = 1_000_000  # the permanent best and total views keep this many players at most
ARCHIVE_TTL = dt.timedelta(days=400)


@family("lb:{<board>}:best", type="zset", expires=False,
        ttl="permanent by design: the all-time board; bounded to MAX_PLAYERS (the lowest dropped)",
        writer="lua/submit_score.lua (ZADD GT of the encoded score)")
def best_key(board: str) -> str:
    """``lb:{<board>}:best`` -- ZSET member=player score=encoded best (points + tie-break); permanent; submit script."""
    return key("lb", f"{{{board}}}", "best")


@family("lb:{<board>}:total", type="zset", expires=False,
        ttl="permanent by design: cumulative points; bounded to MAX_PLAYERS (the lowest dropped)",
        writer="lua/submit_score.lua (ZINCRBY)")
def total_key(board: str) -> str:
    """``lb:{<board>}:total`` -- ZSET member=player score=cumulative points; permanent; submit script (ZINCRBY)."""
    return key("lb", f"{{{board}}}", "total")


@family("lb:{<board>}:seq", type="string", expires=False,
        ttl="permanent by design: the arrival counter of the tie-break", writer="lua/submit_score.lua (INCR)")
def seq_key(board: str) -> str:
    """``lb:{<board>}:seq`` -- STRING counter, the arrival order used as tie-break; permanent; submit script."""
    return key("lb", f"{{{board}}}", "seq")


@family("lb:{<board>}:day:<YYYY-MM-DD>", type="zset", ttl="end of the day + 8 days (set by the script)",
        writer="lua/submit_score.lua")
def day_key(board: str, day: dt.date) -> str:
    """``lb:{<board>}:day:<YYYY-MM-DD>`` -- ZSET like best, one UTC day; TTL end of day + 8 days; submit script."""
    return key("lb", f"{{{board}}}", "day", day.isoformat())


@family("lb:{<board>}:week:<YYYY-Www>", type="zset", ttl="end of the week + 8 days",
        writer="lua/weekly_board.lua (ZUNIONSTORE of the dailies on first read), then lua/submit_score.lua")
def week_key(board: str, monday: dt.date) -> str:
    """``lb:{<board>}:week:<YYYY-Www>`` -- ZSET, max of the week's dailies (ZUNIONSTORE); TTL end of week + 8 days;
    built by weekly_board.lua on first read, then kept current by the submit script."""
    year, week, _ = monday.isocalendar()
    return key("lb", f"{{{board}}}", "week", f"{year}-W{week:02d}")


@family("lb:{<board>}:friends:<player>", type="set",
        ttl="30 days, refreshed by each add (same script); at most MAX_FRIENDS + 1 members",
        writer="leaderboard.services.friends_add (lua/add_friend.lua)")
def friends_key(board: str, player: str) -> str:
    """``lb:{<board>}:friends:<player>`` -- SET of player names (the player included); TTL 30 days; bounded."""
    return key("lb", f"{{{board}}}", "friends", player)


@family("lb:{<board>}:friendsboard:<player>", type="zset", ttl="60 s",
        writer="leaderboard.selectors (friends_board.lua: ZINTERSTORE best ∩ friends, plus the player, on read)")
def friends_board_key(board: str, player: str) -> str:
    """``lb:{<board>}:friendsboard:<player>`` -- ZSET best ∩ friends (ZINTERSTORE); TTL 60 s; selectors on read."""
    return key("lb", f"{{{board}}}", "friendsboard", player)


@family("lb:{<board>}:archive:<YYYY-MM-DD>", type="zset", ttl="400 days",
        writer="leaderboard.services.archive_day (ZRANGESTORE ... REV)")
def archive_key(board: str, day: dt.date) -> str:
    """``lb:{<board>}:archive:<YYYY-MM-DD>`` -- ZSET, that day's top 10 (ZRANGESTORE); TTL 400 days; tasks."""
    return key("lb", f"{{{board}}}", "archive", day.isoformat())
