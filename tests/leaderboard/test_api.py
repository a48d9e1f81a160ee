"""The leaderboard JSON API (DESIGN.md paths) and its page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

URL = "/api/leaderboards/reaction"


def post(client, path, body, **extra):
    return client.post(path, body, content_type="application/json", **extra)


def test_submit_top_and_player_around(client):
    for player, score in [("ann", 300), ("bob", 500), ("cat", 400), ("dan", 100)]:
        response = post(client, f"{URL}/scores", {"player": player, "score": score})
        assert response.status_code == 201
    assert response.json()["rank"] == 4 and response.json()["score"] == 100
    top = client.get(f"{URL}/top?limit=2").json()
    assert top == [{"rank": 1, "player": "bob", "score": 500}, {"rank": 2, "player": "cat", "score": 400}]
    page2 = client.get(f"{URL}/top?limit=2&offset=2").json()
    assert [e["player"] for e in page2] == ["ann", "dan"]
    me = client.get(f"{URL}/players/ann?around=1").json()
    assert (me["rank"], me["score"]) == (3, 300)
    assert [e["player"] for e in me["around"]] == ["cat", "ann", "dan"]
    total = client.get(f"{URL}/top?view=total&limit=1").json()
    assert total == [{"rank": 1, "player": "bob", "score": 500}]
    assert client.get(f"{URL}/top?view=daily").json()[0]["player"] == "bob"
    assert client.get(f"{URL}/top?view=weekly").json()[0]["player"] == "bob"
    assert post(client, f"{URL}/friends", {"player": "ann", "friend": "dan"}).status_code == 201
    friends = client.get(f"{URL}/top?view=friends&player=ann").json()
    assert [e["player"] for e in friends] == ["ann", "dan"]


def test_csrf_is_required_for_score_submission():
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert post(strict, f"{URL}/scores", {"player": "a", "score": 1}).status_code == 403
    page = strict.get("/leaderboard/")
    token = page.cookies["csrftoken"].value
    assert post(strict, f"{URL}/scores", {"player": "a", "score": 1}, HTTP_X_CSRFTOKEN=token).status_code == 201


@pytest.mark.parametrize("method,path,body,status,code", [
    ("post", f"{URL}/scores", {"player": "a b", "score": 1}, 400, "invalid_player"),
    ("post", f"{URL}/scores", {"player": "a", "score": "high"}, 400, "invalid_score"),
    ("post", f"{URL}/scores", {"player": "a", "score": -5}, 400, "invalid_score"),
    ("post", f"{URL}/scores", {"score": 5}, 400, "invalid_player"),
    ("post", f"{URL}/scores", [1, 2], 400, "invalid_json"),
    ("post", "/api/leaderboards/nope/scores", {"player": "a", "score": 1}, 404, "unknown_board"),
    ("get", f"{URL}/top?limit=0", None, 400, "invalid_page"),
    ("get", f"{URL}/top?limit=ten", None, 400, "invalid_limit"),
    ("get", f"{URL}/top?offset=-1", None, 400, "invalid_page"),
    ("get", f"{URL}/top?view=monthly", None, 400, "invalid_view"),
    ("get", f"{URL}/top?view=daily&day=yesterday", None, 400, "invalid_day"),
    ("get", f"{URL}/top?view=weekly&week=2026-48", None, 400, "invalid_week"),
    ("get", f"{URL}/top?view=friends", None, 400, "missing_player"),
    ("get", f"{URL}/players/ghost?around=2", None, 404, "player_not_found"),
    ("get", f"{URL}/players/bad*name", None, 400, "invalid_player"),
    ("get", f"{URL}/players/ann?around=500", None, 400, "invalid_around"),
    ("get", "/api/leaderboards/nope/top", None, 404, "unknown_board"),
    ("post", f"{URL}/friends", {"player": "ann", "friend": "ghost"}, 404, "player_not_found"),
    ("post", f"{URL}/friends", {"player": "ann", "friend": "ann"}, 400, "invalid_friend"),
    # what a hostile client tried (issue #10): each a JSON 4xx, never a 500 or a 503
    ("post", f"{URL}/scores", {"player": "ada\n", "score": 1}, 400, "invalid_player"),
    ("post", f"{URL}/scores", {"player": "ada", "score": 2_000_000}, 400, "invalid_score"),
    ("post", f"{URL}/scores", {"player": "ada", "score": 5001}, 400, "invalid_score"),
    ("post", f"{URL}/scores", {"player": "ada", "score": 10**30}, 400, "invalid_score"),
    ("post", f"{URL}/scores", {"player": "ada", "score": 1e3}, 400, "invalid_score"),
    ("get", f"{URL}/players/ada%0A", None, 400, "invalid_player"),
    ("get", f"{URL}/top?view=weekly&week=9999-W52", None, 400, "invalid_week"),
    ("get", f"{URL}/players/ada?view=weekly&week=9999-W52", None, 400, "invalid_week"),
    ("get", f"{URL}/top?view=weekly&week=0001-W01", None, 400, "invalid_week"),
    ("get", f"{URL}/top?view=daily&day=9999-12-31", None, 400, "invalid_day"),
    ("get", f"{URL}/top?view=daily&day=%2B2026-01-01", None, 400, "invalid_day"),
    ("get", f"{URL}/top?offset=9223372036854775807", None, 400, "invalid_page"),
    ("get", f"{URL}/top?offset=" + "9" * 30, None, 400, "invalid_page"),
    ("get", f"{URL}/top?limit=" + "9" * 5000, None, 400, "invalid_limit"),
    ("post", f"{URL}/friends", {"player": "ann", "friend": "b\n"}, 400, "invalid_friend"),
])
def test_bad_input_gets_a_json_4xx_and_changes_nothing(client, raw_redis, method, path, body, status, code):
    if method == "post":
        response = post(client, path, body)
    else:
        response = client.get(path)
    assert response.status_code == status
    assert response.json()["error"] == code and response.json()["detail"]
    # nothing but the rate limiters' own state was written
    assert [k for k in raw_redis.scan_iter() if not k.startswith("t:rl:")] == []


def test_wrong_method_is_a_json_405(client):
    response = client.get(f"{URL}/scores")
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"
    assert response["Allow"] == "POST"


def test_invalid_json_body(client):
    response = client.post(f"{URL}/scores", b"{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"] == "invalid_json"


def test_redis_down_is_a_503_not_a_500(client, redis_server):
    redis_server.stop()
    response = client.get(f"{URL}/top")
    assert response.status_code == 503 and response.json()["error"] == "redis_unavailable"
    page = client.get("/leaderboard/")
    assert page.status_code == 200 and "Redis unavailable" in page.content.decode()


def test_game_page_shows_the_board_and_its_code(client):
    post(client, f"{URL}/scores", {"player": "ann", "score": 321})
    html = client.get("/leaderboard/").content.decode()
    assert "ann" in html and "321" in html
    assert "leaderboard/game.js" in html and "submit_score.lua" in html


def test_the_friends_view_shows_a_player_right_after_their_first_game(client):
    post(client, f"{URL}/scores", {"player": "eve", "score": 640})
    friends = client.get(f"{URL}/top?view=friends&player=eve").json()
    assert friends == [{"rank": 1, "player": "eve", "score": 640}]
    me = client.get(f"{URL}/players/eve?view=friends&around=2").json()
    assert (me["rank"], me["score"]) == (1, 640)
    # Someone who never played cannot be added; nothing is written for them.
    response = post(client, f"{URL}/friends", {"player": "eve", "friend": "nobody"})
    assert response.status_code == 404 and "play once first" in response.json()["detail"]
    assert client.get(f"{URL}/top?view=friends&player=nobody").json() == []
