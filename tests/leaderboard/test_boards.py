"""Leaderboard services and selectors on a real Redis, checked against a Python reference."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from config.api import NotFound
from leaderboard import keys, selectors, services
from leaderboard.boards import BOARD_MAX_POINTS, InvalidInput, UnknownBoard
from leaderboard.tasks import archive_daily_boards
from redis_patterns.tracing import tracing
from tests.conftest import round_trips

B = "reaction"
MON = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)  # a Monday (ISO week 2026-W48)


def at(days: float = 0, hours: float = 0) -> dt.datetime:
    return MON + dt.timedelta(days=days, hours=hours)


class Reference:
    """What the boards must say, computed the plain way."""

    def __init__(self) -> None:
        self.seq = 0
        self.best: dict[str, tuple[int, int]] = {}  # player -> (points, seq when first reached)
        self.total: dict[str, int] = {}

    def submit(self, player: str, points: int) -> None:
        self.seq += 1
        if player not in self.best or points > self.best[player][0]:
            self.best[player] = (points, self.seq)
        self.total[player] = self.total.get(player, 0) + points

    def best_ranking(self) -> list[tuple[str, int]]:
        order = sorted(self.best.items(), key=lambda kv: (-kv[1][0], kv[1][1]))
        return [(p, pts) for p, (pts, _) in order]

    def total_ranking(self) -> list[tuple[str, int]]:
        # ZINCRBY carries no arrival time: equal totals fall back to Redis order (reverse lexicographic)
        return sorted(self.total.items(), key=lambda kv: (-kv[1], [-ord(c) for c in kv[0]]))


def read_all(ref: selectors.BoardRef, page: int = 7) -> list[tuple[str, int]]:
    out, offset = [], 0
    while True:
        chunk = selectors.board_top(ref, limit=page, offset=offset)
        assert [e.rank for e in chunk] == list(range(offset + 1, offset + 1 + len(chunk)))
        out += [(e.player, e.score) for e in chunk]
        if len(chunk) < page:
            return out
        offset += page


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_score_streams_with_ties_match_the_reference(seed):
    rng = random.Random(seed)
    players = [f"p{i:02d}" for i in range(25)]
    reference = Reference()
    for _ in range(300):
        player, points = rng.choice(players), rng.randint(0, 12)  # few distinct values: many ties
        services.score_submit(board=B, player=player, points=points, now=at())
        reference.submit(player, points)
    assert read_all(selectors.board_ref(board=B, view="best", now=at())) == reference.best_ranking()
    assert read_all(selectors.board_ref(board=B, view="daily", now=at())) == reference.best_ranking()
    assert read_all(selectors.board_ref(board=B, view="weekly", now=at())) == reference.best_ranking()
    assert read_all(selectors.board_ref(board=B, view="total", now=at())) == reference.total_ranking()
    ranking = reference.best_ranking()
    for player in rng.sample(players, 5):
        standing = selectors.board_player(selectors.board_ref(board=B), player=player, around=2)
        index = [p for p, _ in ranking].index(player)
        assert (standing.rank, standing.score) == (index + 1, ranking[index][1])
        window = ranking[max(index - 2, 0):index + 3]
        assert [(e.player, e.score) for e in standing.around] == window


def test_equal_scores_rank_by_who_got_there_first_and_the_api_score_is_real():
    services.score_submit(board=B, player="late", points=50, now=at())
    services.score_submit(board=B, player="early", points=10, now=at())
    services.score_submit(board=B, player="early", points=50, now=at())  # reaches 50 after "late"
    services.score_submit(board=B, player="late", points=50, now=at())  # repeating 50 does not lose its place
    top = selectors.board_top(selectors.board_ref(board=B))
    assert [(e.player, e.score) for e in top] == [("late", 50), ("early", 50)]
    services.score_submit(board=B, player="early", points=BOARD_MAX_POINTS[B], now=at())
    assert selectors.board_top(selectors.board_ref(board=B), limit=1)[0].score == BOARD_MAX_POINTS[B]


def test_around_me_at_the_top_and_bottom_edges():
    for i in range(10):
        services.score_submit(board=B, player=f"p{i}", points=100 - i, now=at())
    ref = selectors.board_ref(board=B)
    top = selectors.board_player(ref, player="p0", around=3)
    assert top.rank == 1 and [e.player for e in top.around] == ["p0", "p1", "p2", "p3"]
    bottom = selectors.board_player(ref, player="p9", around=3)
    assert bottom.rank == 10 and [e.rank for e in bottom.around] == [7, 8, 9, 10]
    middle = selectors.board_player(ref, player="p5", around=1)
    assert [(e.rank, e.player, e.score) for e in middle.around] == [(5, "p4", 96), (6, "p5", 95), (7, "p6", 94)]
    assert selectors.board_player(ref, player="nobody", around=3) is None
    alone = selectors.board_player(ref, player="p4", around=0)
    assert [e.player for e in alone.around] == ["p4"]


def test_each_read_and_write_is_one_round_trip():
    services.score_submit(board=B, player="a", points=1, now=at())  # loads the scripts
    ref = selectors.board_ref(board=B)
    selectors.board_player(ref, player="a", around=5)
    selectors.board_top(selectors.board_ref(board=B, view="weekly"))
    for action in (
        lambda: services.score_submit(board=B, player="b", points=2, now=at()),
        lambda: selectors.board_top(ref, limit=10),
        lambda: selectors.board_top(ref, limit=10, offset=10),
        lambda: selectors.board_player(ref, player="a", around=5),
        lambda: selectors.board_top(selectors.board_ref(board=B, view="weekly"), limit=10),
        lambda: selectors.board_player(selectors.board_ref(board=B, view="weekly"), player="a", around=2),
        lambda: selectors.board_top(selectors.board_ref(board=B, view="friends", player="a"), limit=10),
    ):
        with tracing() as trace:
            action()
        # the board's own work; a submission that changes a top 10 also publishes
        # one notification (realtime.services.notify), which is not the board's cost
        own = [rt for rt in trace.round_trips if any(":lb:" in row["key"] for row in rt.describe())]
        assert len(own) == 1


def test_daily_and_weekly_rollover_and_expiry(raw_redis):
    # Mon: a=10 b=5; Tue: b=20 c=7; Sun: a=15; next Monday (new week): d=3
    plan = [(0, "a", 10), (0, "b", 5), (1, "b", 20), (1, "c", 7), (6, "a", 15), (7, "d", 3)]
    for day, player, points in plan[:4]:
        services.score_submit(board=B, player=player, points=points, now=at(day))
    # the weekly board does not exist until read; then it is the union (max) of the dailies
    assert not raw_redis.exists(keys.week_key(B, MON.date()))
    week = selectors.board_ref(board=B, view="weekly", now=at(1))
    assert [(e.player, e.score) for e in selectors.board_top(week)] == [("b", 20), ("a", 10), ("c", 7)]
    # once built, later days keep it current
    for day, player, points in plan[4:]:
        services.score_submit(board=B, player=player, points=points, now=at(day))
    assert [(e.player, e.score) for e in selectors.board_top(week)] == [("b", 20), ("a", 15), ("c", 7)]
    monday = selectors.board_ref(board=B, view="daily", day="2026-11-23", now=at(7))
    assert [(e.player, e.score) for e in selectors.board_top(monday)] == [("a", 10), ("b", 5)]
    today = selectors.board_ref(board=B, view="daily", now=at(7))
    assert [(e.player, e.score) for e in selectors.board_top(today)] == [("d", 3)]
    next_week = selectors.board_ref(board=B, view="weekly", now=at(7))
    assert next_week.period == "2026-W49"
    assert [(e.player, e.score) for e in selectors.board_top(next_week)] == [("d", 3)]
    last_week = selectors.board_ref(board=B, view="weekly", week="2026-W48", now=at(7))
    assert [e.player for e in selectors.board_top(last_week)] == ["b", "a", "c"]
    # period keys expire by themselves; the permanent views do not
    assert 8 * 86400 < raw_redis.ttl(keys.day_key(B, MON.date())) <= 9 * 86400 + 12 * 3600
    assert raw_redis.ttl(keys.week_key(B, MON.date())) > 8 * 86400
    assert raw_redis.ttl(keys.best_key(B)) == -1 and raw_redis.ttl(keys.total_key(B)) == -1


def test_friends_board_is_the_best_board_restricted_to_friends(raw_redis):
    for player, points in [("ann", 5), ("bob", 9), ("cat", 7), ("dan", 8)]:
        services.score_submit(board=B, player=player, points=points, now=at())
    services.friends_add(board=B, player="ann", friend="cat")
    services.friends_add(board=B, player="ann", friend="bob")
    ref = selectors.board_ref(board=B, view="friends", player="ann")
    assert [(e.rank, e.player, e.score) for e in selectors.board_top(ref)] == [(1, "bob", 9), (2, "cat", 7), (3, "ann", 5)]
    assert [e.player for e in selectors.board_top(selectors.board_ref(board=B, view="friends", player="cat"))] == ["cat", "ann"]
    assert 0 < raw_redis.ttl(keys.friends_board_key(B, "ann")) <= 60
    assert selectors.board_player(ref, player="dan") is None
    # dan has added nobody: his friends board is himself, not empty.
    alone = selectors.board_ref(board=B, view="friends", player="dan")
    assert [(e.player, e.score) for e in selectors.board_top(alone)] == [("dan", 8)]
    with pytest.raises(NotFound):
        services.friends_add(board=B, player="ann", friend="zed")  # never played
    assert raw_redis.smembers(keys.friends_key(B, "zed")) == set()
    assert raw_redis.smembers(keys.friends_key(B, "ann")) == {"ann", "bob", "cat"}


def test_archive_task_keeps_yesterdays_top_10():
    for i in range(15):
        services.score_submit(board=B, player=f"p{i:02d}", points=i, now=at())
    assert archive_daily_boards(day="2026-11-23") == {B: 10}
    assert archive_daily_boards(day="2026-11-23") == {B: 10}  # idempotent
    archived = selectors.archived_top(board=B, day=MON.date())
    assert [(e.rank, e.player, e.score) for e in archived] == [(i + 1, f"p{14 - i:02d}", 14 - i) for i in range(10)]


def test_top10_changes_are_announced():
    """One ``leaderboard.changed`` event per submission that changed a top 10, naming the views."""
    from realtime import selectors as events

    def seen() -> list[tuple[str, str, str]]:
        """(board, view, period) of every leaderboard.changed event so far, oldest first."""
        found = events.recent_events(["leaderboard:reaction"], count=100)
        return [(e["board"], v["view"], v["period"]) for e in reversed(found) for v in e["views"]]

    for i in range(10):
        services.score_submit(board=B, player=f"p{i}", points=100 + i, now=at())
    before = len(seen())
    result = services.score_submit(board=B, player="p11", points=1, now=at())  # 11th on best/daily
    assert result.best_rank == 11 and ("reaction", "best", "") not in seen()[before:]
    before = len(seen())
    services.score_submit(board=B, player="p11", points=500, now=at())
    new = seen()[before:]
    assert ("reaction", "best", "") in new and ("reaction", "daily", "2026-11-23") in new
    before = len(seen())
    services.score_submit(board=B, player="p11", points=400, now=at())  # not a new best: no change
    assert [v for _, v, _ in seen()[before:]] == ["total"]


@pytest.mark.parametrize("kwargs", [
    {"player": "", "points": 1}, {"player": "a b", "points": 1}, {"player": "x" * 33, "points": 1},
    {"player": "a", "points": -1}, {"player": "a", "points": BOARD_MAX_POINTS[B] + 1},
    {"player": "ada\n", "points": 1}, {"player": "a", "points": 2_000_000}, {"player": "a", "points": 1.5},
    {"player": "a", "points": True}, {"player": None, "points": 1}, {"player": "a", "points": "7"},
])
def test_bad_input_is_refused_and_writes_nothing(raw_redis, kwargs):
    with pytest.raises(InvalidInput):
        services.score_submit(board=B, **kwargs, now=at())
    assert raw_redis.dbsize() == 0


def test_unknown_board():
    with pytest.raises(UnknownBoard):
        services.score_submit(board="nope", player="a", points=1)
    with pytest.raises(UnknownBoard):
        selectors.board_ref(board="{x}")


def test_seed_command_is_idempotent(raw_redis):
    from django.core.management import call_command

    call_command("seed_leaderboard")
    first = raw_redis.zrange(keys.best_key(B), 0, -1, withscores=True)
    call_command("seed_leaderboard")
    assert len(first) == 20 and raw_redis.zrange(keys.best_key(B), 0, -1, withscores=True) == first


@pytest.mark.django_db
def test_the_game_page_reads_the_top_10_and_the_archive_in_one_round_trip(client, refresh_timed_caches):
    from django.utils import timezone

    now = timezone.now()
    yesterday = now - dt.timedelta(days=1)
    for i in range(12):
        services.score_submit(board=B, player=f"y{i}", points=100 + i, now=yesterday)
    services.archive_day(board=B, day=yesterday.date())
    services.score_submit(board=B, player="today", points=5000, now=now)
    client.get("/leaderboard/")  # warm
    refresh_timed_caches()
    response = client.get("/leaderboard/")
    assert response.status_code == 200
    assert 'desc="2 cmds, 1 rtt"' in response["Server-Timing"], round_trips(response)
    html = response.content.decode()
    assert "today" in html and "y11 — 111" in html
    top, archive = selectors.game_boards(selectors.board_ref(board=B), archive_day=yesterday.date())
    assert [(e.rank, e.player, e.score) for e in top[:2]] == [(1, "today", 5000), (2, "y11", 111)]
    assert [e.player for e in archive] == [f"y{i}" for i in range(11, 1, -1)]


def test_the_score_bound_is_what_the_game_can_produce():
    """``BOARD_MAX_POINTS`` comes from game.js: ROUNDS rounds of at most ``1000 - reaction ms`` each."""
    import re
    from pathlib import Path

    from leaderboard import boards

    game = (Path(boards.__file__).parent / "static" / "leaderboard" / "game.js").read_text()
    assert re.search(r"const ROUNDS = (\d+);", game)[1] == str(boards.GAME_ROUNDS)
    assert "Math.max(0, Math.round(1000 - (performance.now() - greenAt)))" in game
    assert boards.ROUND_MAX_POINTS == 1000
    assert BOARD_MAX_POINTS[B] == 5000
    services.score_submit(board=B, player="ada", points=5000, now=at())
    with pytest.raises(InvalidInput):
        services.score_submit(board=B, player="ada", points=5001, now=at())


def test_friend_sets_expire_and_are_bounded(raw_redis, monkeypatch):
    for name in ("ann", "bob", "cat", "dan", "eve"):  # a friend must have played (add_friend.lua checks)
        services.score_submit(board=B, player=name, points=1, now=at())
    services.friends_add(board=B, player="ann", friend="bob")
    for name in ("ann", "bob"):
        ttl = raw_redis.ttl(keys.friends_key(B, name))
        assert keys.FRIENDS_TTL.total_seconds() - 5 < ttl <= keys.FRIENDS_TTL.total_seconds()
    monkeypatch.setattr(keys, "MAX_FRIENDS", 3)
    for friend in ("cat", "dan"):
        services.friends_add(board=B, player="ann", friend=friend)
    services.friends_add(board=B, player="ann", friend="bob")  # already a friend: fine, idempotent
    with pytest.raises(services.TooManyFriends):
        services.friends_add(board=B, player="ann", friend="eve")
    with pytest.raises(services.TooManyFriends):  # the other side full refuses it too
        services.friends_add(board=B, player="eve", friend="ann")
    assert raw_redis.smembers(keys.friends_key(B, "ann")) == {"ann", "bob", "cat", "dan"}
    assert not raw_redis.exists(keys.friends_key(B, "eve"))  # a refused add wrote nothing


def test_the_permanent_views_keep_at_most_max_players(raw_redis, monkeypatch):
    monkeypatch.setattr(keys, "MAX_PLAYERS", 3)
    for i, points in enumerate([40, 10, 30, 20]):
        services.score_submit(board=B, player=f"p{i}", points=points, now=at())
    assert raw_redis.zrange(keys.best_key(B), 0, -1, desc=True) == ["p0", "p2", "p3"]
    assert raw_redis.zrange(keys.total_key(B), 0, -1, desc=True) == ["p0", "p2", "p3"]
    low = services.score_submit(board=B, player="p9", points=1, now=at())  # below the bound: dropped at once
    assert (low.best_rank, low.best) == (4, 1)
    assert raw_redis.zcard(keys.best_key(B)) == 3 and raw_redis.zscore(keys.best_key(B), "p9") is None


def test_a_rank_read_is_one_round_trip_and_one_command_where_the_server_has_withscore(server_info):
    from redis_patterns import zrank

    services.score_submit(board=B, player="a", points=10, now=at())
    services.score_submit(board=B, player="b", points=20, now=at())
    ref = selectors.board_ref(board=B)
    zrank.forget()
    selectors.board_player(ref, player="a", around=0)  # the first read finds out what the server takes
    with tracing() as trace:
        standing = selectors.board_player(ref, player="a", around=0)
    assert (standing.rank, standing.score, standing.around) == (2, 10, [selectors.Entry(2, "a", 10)])
    assert selectors.board_player(ref, player="nobody", around=0) is None
    withscore = server_info.version >= (7, 2)  # Redis and Valkey alike
    assert trace.round_trip_count == 1
    assert trace.command_count == (1 if withscore else 2)
