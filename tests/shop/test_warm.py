"""The cache warm-up task: the most viewed products are cached before anyone asks."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from redis_patterns.cache import CacheState
from shop import selectors, tasks
from shop.models import Product

pytestmark = pytest.mark.django_db


def test_warm_caches_the_most_viewed_products_then_reads_are_hits(catalog, raw_redis):
    hot = catalog[5:8]
    for rank, product in enumerate(hot):
        Product.objects.filter(pk=product.pk).update(view_count=1000 - rank)
    selectors.product_get(hot[0].pk)  # one is cached already

    result = tasks.warm_product_cache(limit=3)  # the task body, as the worker runs it
    assert result == {"cached": 1, "loaded": 2, "missing": 0}

    with CaptureQueriesContext(connection) as queries:
        reads = [selectors.product_get(p.pk) for p in hot]
    assert [r.state for r in reads] == [CacheState.HIT] * 3
    assert len(queries) == 0
    cold = next(p for p in catalog if p not in hot)
    assert selectors.product_get(cold.pk).state == CacheState.MISS  # only the top `limit` were warmed


def test_warming_twice_loads_nothing_the_second_time(catalog):
    first = tasks.warm_product_cache(limit=10)
    again = tasks.warm_product_cache(limit=10)
    assert first["loaded"] == 10
    assert again == {"cached": 10, "loaded": 0, "missing": 0}


def test_warm_with_redis_down_does_nothing_and_does_not_fail(catalog, redis_server):
    redis_server.stop()
    assert tasks.warm_product_cache(limit=5) == {"cached": 0, "loaded": 0, "missing": 0}
