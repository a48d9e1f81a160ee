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


def test_a_stock_edit_made_while_redis_is_unreachable_is_applied_when_it_is_back(
        db_sessions, client, staff_client, catalog, settings, django_capture_on_commit_callbacks):
    """Redis kept its data but missed the invalidation (a partition, not a restart): the repair catches up.

    Before the repair existed, a restock from 29 to 500 kept answering "only 28 left": the cached product
    and checkout's stock field stayed stale, and every reservation renewed the stock hash's TTL.
    """
    from config.redis import reset_clients
    from redis_patterns.servers import free_port
    from shop import caching, checkout, stock, tasks
    from shop.models import ProductCacheRepair

    product = catalog[0]
    Product.objects.filter(pk=product.pk).update(stock=29)
    with django_capture_on_commit_callbacks(execute=True):
        checkout.order_checkout(owner="session:a", user_id=None, lines=[stock.CartLine(product.pk, 1)])
    assert client.get(f"/api/products/{product.pk}").json()["stock"] == 28  # cached
    assert stock.stock_in_redis([product.pk]) == {product.pk: 28}  # and loaded for checkout

    def reach(url: str) -> None:
        settings.REDIS = {**settings.REDIS, "url": url}
        reset_clients()
        caching.reset()

    real = settings.REDIS["url"]
    reach(f"redis://127.0.0.1:{free_port()}/0")  # the app cannot reach Redis; Redis keeps its data
    with django_capture_on_commit_callbacks(execute=True):
        edited = staff_client.patch(f"/api/products/{product.pk}", data=json.dumps({"stock": 500}),
                                    content_type="application/json")
    assert edited.status_code == 200 and Product.objects.get(pk=product.pk).stock == 500
    assert ProductCacheRepair.objects.filter(product_id=product.pk).exists()  # remembered, with the change
    reach(real)

    assert "shop-repair-product-cache" in settings.CELERY_BEAT_SCHEDULE
    assert tasks.repair_product_cache() == 1  # what beat runs every few seconds
    assert not ProductCacheRepair.objects.exists()
    fresh = client.get(f"/api/products/{product.pk}")
    assert (fresh["X-Cache"], fresh.json()["stock"]) == ("miss", 500)
    with django_capture_on_commit_callbacks(execute=True):
        order = checkout.order_checkout(owner="session:b", user_id=None, lines=[stock.CartLine(product.pk, 100)])
    assert order.created and stock.stock_in_redis([product.pk]) == {product.pk: 400}


def test_a_write_with_redis_up_leaves_no_repair_behind(staff_client, catalog, django_capture_on_commit_callbacks):
    from shop.models import ProductCacheRepair

    with django_capture_on_commit_callbacks(execute=True):
        assert staff_client.patch(f"/api/products/{catalog[0].pk}", data=json.dumps({"stock": 7}),
                                  content_type="application/json").status_code == 200
    assert not ProductCacheRepair.objects.exists()
