"""The leaderboard and the rate limiters on a 3-node Redis Cluster: the hash tags hold."""

from __future__ import annotations

import datetime as dt

import pytest

from config.redis import reset_clients

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_everything_runs_on_a_cluster(redis_server_factory, settings, client):
    nodes = redis_server_factory.cluster(3)
    settings.REDIS = {**settings.REDIS, "cluster_nodes": [(n.host, n.port) for n in nodes]}
    settings.RATELIMIT_RULES = {**settings.RATELIMIT_RULES}  # rebuild the rules' limiters on the cluster client
    reset_clients()
    try:
        from config.redis import get_redis
        from leaderboard import selectors, services
        from leaderboard.tasks import archive_daily_boards
        from redis_patterns.ratelimit import ALGORITHMS, decide_many

        r = get_redis()
        limiters = [cls(r, name="cl", limit=2, period=60) for cls in ALGORITHMS.values()]
        for lim in limiters:
            assert [lim.decide("u1").allowed for _ in range(3)] == [True, True, False]
        assert [d.allowed for d in decide_many(r, [(lim, "u2", 1) for lim in limiters])] == [True] * 5

        now = dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC)
        for player, points in [("ann", 5), ("bob", 9), ("cat", 7)]:
            services.score_submit(board="reaction", player=player, points=points, now=now)
        services.friends_add(board="reaction", player="ann", friend="cat")
        weekly = selectors.board_ref(board="reaction", view="weekly", now=now)
        assert [e.player for e in selectors.board_top(weekly)] == ["bob", "cat", "ann"]
        friends = selectors.board_ref(board="reaction", view="friends", player="ann", now=now)
        assert [e.player for e in selectors.board_top(friends)] == ["cat", "ann"]
        assert selectors.board_player(selectors.board_ref(board="reaction"), player="cat", around=1).rank == 2
        assert archive_daily_boards(day="2026-11-24") == {"reaction": 3}

        # and through the site: the middleware's rules pipeline on the cluster too
        response = client.post("/api/leaderboards/reaction/scores", {"player": "dan", "score": 3},
                               content_type="application/json")
        assert response.status_code == 201 and response["RateLimit-Limit"]
    finally:
        settings.REDIS = {**settings.REDIS, "cluster_nodes": []}
        reset_clients()
