"""One scrape of ``/metrics`` merges every process: uvicorn with 3 workers and a stream-worker process.

No ``django_db`` mark: the processes share a file database (``tests/processes.py``), so the rows this
test creates must be committed for them to see.
"""

from __future__ import annotations

import urllib.request
from decimal import Decimal

import pytest

from tests.conftest import wait_for
from tests.ops.test_metrics import samples, total, value
from tests.processes import make_orders, publish

pytestmark = pytest.mark.slow


def test_one_scrape_merges_every_process(web_server, start_worker, clean_db, raw_redis):
    """uvicorn with 3 worker processes and a stream-worker process: the counters add up across them."""
    from shop.models import Category, Product

    category = Category.objects.create(name="M", slug="m")
    product = Product.objects.create(category=category, name="P", slug="p", description="", price=Decimal(1),
                                     stock=5, image_hue=1)

    def get(path: str) -> tuple[int, bytes]:
        with urllib.request.urlopen(web_server + path, timeout=10) as res:  # noqa: S310
            return res.status, res.read()

    def scrape_web() -> dict:
        status, body = get("/metrics")
        assert status == 200
        return samples(body.decode())

    before = scrape_web()
    n = 30
    for _ in range(n):
        assert get(f"/api/products/{product.pk}")[0] == 200
    after = scrape_web()
    reads = sum(total(after, "app_cache_reads_total", cache="product", outcome=o) -
                total(before, "app_cache_reads_total", cache="product", outcome=o) for o in ("hit", "miss", "stale"))
    assert reads == n  # spread over 3 processes, all counted once
    assert total(after, "app_ratelimit_decisions_total", rule="api") - \
        total(before, "app_ratelimit_decisions_total", rule="api") == n

    start_worker("metrics-w1")
    orders = make_orders(12)
    publish(raw_redis, orders)
    wait_for(lambda: total(scrape_web(), "app_stream_messages_total", stream="orders", outcome="ok")
             - total(before, "app_stream_messages_total", stream="orders", outcome="ok") == 12, timeout=60)
    final = scrape_web()
    assert total(final, "app_stream_handler_seconds_count", stream="orders") >= 12
    assert value(final, "app_stream_length", stream="t:{orders}:stream") == 12
    assert value(final, "app_stream_group_pending", stream="t:{orders}:stream", group="fulfilment") == 0
    assert value(final, "app_stream_group_acked_total", stream="t:{orders}:stream", group="fulfilment") >= 0
