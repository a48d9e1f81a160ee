"""``/healthz``: the parts by name, 503 naming the one that is down, details for staff only."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"redis": "ok", "database": "ok"}


def test_healthz_is_503_naming_redis_without_details_for_anonymous_visitors(client, redis_server):
    redis_server.stop()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"redis": "down", "database": "ok"}
    assert str(redis_server.port) not in response.content.decode()


def test_healthz_gives_staff_the_error(client, redis_server, django_user_model, settings):
    # With sessions in Redis nobody is logged in while Redis is down (README, sessions): for a staff
    # login to outlive the outage, this test keeps its session in the database.
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    staff = django_user_model.objects.create_user("ops", password="pw-ops-12345", is_staff=True)
    client.force_login(staff)
    redis_server.stop()
    body = client.get("/healthz").json()
    assert body["redis"].startswith("down: ") and len(body["redis"]) > len("down: ")
