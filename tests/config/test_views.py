"""The site shell: every response reports its Redis cost; Redis down is survivable."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

SERVER_TIMING = re.compile(r'redis;dur=\d+\.\d\d;desc="(\d+) cmds, (\d+) rtt"')


@pytest.mark.parametrize("path", ["/", "/healthz", "/patterns/pipelining/", "/patterns/scripts/",
                                  "/static/config/site.css", "/admin/login/", "/no-such-page"])
def test_every_response_carries_server_timing(client, path):
    response = client.get(path)
    assert SERVER_TIMING.search(response["Server-Timing"]), response["Server-Timing"]


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"redis": "ok", "database": "ok"}


def test_home_lists_the_use_cases_and_the_redis_panel(client):
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Round trips and pipelining" in html and 'href="/patterns/pipelining/"' in html
    assert 'id="redis-panel"' in html
    assert "<!--redis-trace-panel-->" not in html
    assert "PING" in html  # the health probe behind the banner is listed, like every command
    assert "Redis unavailable" not in html


def test_pipelining_demo_counts_round_trips(client):
    response = client.get("/patterns/pipelining/")
    rows = {r["label"]: r for r in response.context["results"]}
    assert (rows["one by one"]["commands"], rows["one by one"]["round_trips"]) == (20, 20)
    assert (rows["pipeline"]["commands"], rows["pipeline"]["round_trips"]) == (20, 1)
    assert (rows["MGET"]["commands"], rows["MGET"]["round_trips"]) == (1, 1)
    assert all(r["values_ok"] for r in rows.values())
    # and the page shows its own code, read from the module
    html = response.content.decode()
    assert "<figcaption>redis_patterns/roundtrips.py</figcaption>" in html
    text = re.sub(r"<[^>]+>", "", html)  # the code is highlighted: drop the markup
    assert "def read_pipelined(client" in text and "pipe.execute()" in text


def test_scripts_demo_runs_and_recovers_after_the_server_forgets(client, raw_redis):
    first = client.post("/patterns/scripts/", {"action": "run"})
    assert first.status_code == 200
    assert first.context["call"].round_trip_count in (1, 3)  # 3 the very first time: load on demand
    steady = client.post("/patterns/scripts/", {"action": "run"})
    assert steady.context["call"].round_trip_count == 1
    forgot = client.post("/patterns/scripts/", {"action": "forget"})
    assert forgot.context["call"].round_trip_count == 3
    assert forgot.context["mode"] == "functions"
    high = max(first.context["candidate"], steady.context["candidate"], forgot.context["candidate"])
    assert forgot.context["current"] == high
    assert int(raw_redis.get("t:demo:high-score")) == high


def test_scripts_demo_rejects_unknown_actions(client, raw_redis):
    response = client.post("/patterns/scripts/", {"action": "flushall"})
    assert response.status_code == 400
    assert raw_redis.dbsize() == 0


class TestRedisDown:
    def test_healthz_is_503_naming_redis(self, client, redis_server):
        redis_server.stop()
        response = client.get("/healthz")
        assert response.status_code == 503
        body = response.json()
        assert body["redis"].startswith("down") and body["database"] == "ok"

    def test_pages_render_with_a_banner(self, client, redis_server):
        redis_server.stop()
        for path in ("/", "/patterns/pipelining/", "/patterns/scripts/"):
            response = client.get(path)
            assert response.status_code == 200, path
            assert "Redis unavailable" in response.content.decode(), path

    def test_recovers_when_redis_returns_without_a_restart(self, client, redis_server):
        from config import context_processors

        redis_server.stop()
        assert client.get("/healthz").status_code == 503
        redis_server.start()
        context_processors._health_cache.clear()
        assert client.get("/healthz").status_code == 200
        assert client.get("/patterns/pipelining/").context["results"]


def test_a_csrf_failure_on_the_api_is_json_and_changes_nothing(raw_redis):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post("/api/leaderboards/reaction/scores", data={"player": "ada", "score": 5},
                           content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"] == "csrf_failed"
    assert not [k for k in raw_redis.scan_iter("t:lb:*")]
    page = client.post("/patterns/scripts/", {"action": "run"})
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")
