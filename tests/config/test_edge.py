"""The edge (config/): every response reports its Redis cost; Redis down is survivable; API errors are JSON."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

SERVER_TIMING = re.compile(r'redis;dur=\d+\.\d\d;desc="(\d+) cmds, (\d+) rtt"')


@pytest.mark.parametrize("path", ["/", "/healthz", "/patterns/pipelining/", "/patterns/scripts/",
                                  "/static/site/site.css", "/admin/login/", "/no-such-page"])
def test_every_response_carries_server_timing(client, path):
    response = client.get(path)
    assert SERVER_TIMING.search(response["Server-Timing"]), response["Server-Timing"]


class TestRedisDown:
    def test_pages_render_with_a_banner(self, client, redis_server):
        redis_server.stop()
        for path in ("/", "/patterns/pipelining/", "/patterns/scripts/"):
            response = client.get(path)
            assert response.status_code == 200, path
            assert "Redis unavailable" in response.content.decode(), path

    def test_recovers_when_redis_returns_without_a_restart(self, client, redis_server):
        from config.redis import forget_redis_health

        redis_server.stop()
        assert client.get("/healthz").status_code == 503
        redis_server.start()
        forget_redis_health()
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
