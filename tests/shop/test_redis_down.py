"""Redis down: every catalog page and the API answer from the database (X-Cache: bypass),
one log line per outage, and caching resumes by itself when Redis is back."""

from __future__ import annotations

import json
import logging

import pytest

from shop.models import Product
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def db_sessions(settings):
    """The staff edit below must stay logged in through the outage: with sessions in Redis nobody is
    (README, sessions), so this test keeps its sessions in the database (before admin_client logs in)."""
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"


def test_pages_and_api_are_served_from_the_database_and_recover(db_sessions, client, admin_client, catalog,
                                                                redis_server, caplog,
                                                                django_capture_on_commit_callbacks):
    product = catalog[0]
    urls = ["/shop/", f"/shop/c/{product.category.slug}/", f"/shop/products/{product.pk}/",
            f"/api/products/{product.pk}"]
    assert client.get(urls[-1])["X-Cache"] == "miss"
    redis_server.stop()
    with caplog.at_level(logging.INFO, logger="shop.cache"):
        for _ in range(3):
            for url in urls:
                response = client.get(url)
                assert response.status_code == 200, url
                assert response["X-Cache"] == "bypass", url
        assert client.get(f"/api/products/{catalog[-1].pk + 999}").status_code == 404
        page = client.get(f"/shop/products/{product.pk}/").content.decode()
        assert "Redis unavailable" in page and 'data-state="bypass"' in page
        # Writes still work; the cache step is skipped (and logged by the same breaker).
        with django_capture_on_commit_callbacks(execute=True):
            edited = admin_client.patch(f"/api/products/{product.pk}", data=json.dumps({"stock": 3}),
                                        content_type="application/json")
        assert edited.status_code == 200 and Product.objects.get(pk=product.pk).stock == 3
        assert client.get(f"/api/products/{product.pk}").json()["stock"] == 3
        down_lines = [r for r in caplog.records if r.name == "shop.cache" and r.levelno == logging.WARNING]
        assert len(down_lines) == 1

        redis_server.start()  # no restart of the app, no client reset
        wait_for(lambda: client.get(f"/api/products/{product.pk}")["X-Cache"] != "bypass", timeout=15)
    assert client.get(f"/api/products/{product.pk}")["X-Cache"] == "hit"
    assert client.get(f"/api/products/{product.pk}").json()["stock"] == 3
    assert any("back" in r.getMessage() for r in caplog.records if r.name == "shop.cache")
    # Views counted during the outage went straight to the database.
    assert Product.objects.get(pk=product.pk).view_count == 4
