"""Recently viewed (a capped list per browser) and top products today (a daily sorted set)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shop import browsing, keys, services, visitors
from shop.models import Product
from tests.conftest import round_trips

pytestmark = pytest.mark.django_db


def test_recently_viewed_is_newest_first_without_repeats_and_capped(client, catalog, raw_redis):
    for product in catalog[:12]:
        client.get(f"/shop/products/{product.pk}/")
    client.get(f"/shop/products/{catalog[5].pk}/")  # seen again: moves to the front
    page = client.get(f"/shop/products/{catalog[0].pk}/")
    shown = [r["id"] for r in page.context["recently_viewed"]]
    expected = [catalog[5].pk] + [p.pk for p in reversed(catalog[6:12])] + [p.pk for p in reversed(catalog[1:5])]
    assert shown == expected[:9]  # ten in the list, minus the product on the page
    vid = client.cookies[keys.VISITOR_COOKIE].value
    stored = raw_redis.lrange(keys.recently_viewed(vid), 0, -1)
    assert len(stored) == browsing.RECENT_SIZE and stored[0] == str(catalog[0].pk)
    assert 0 < raw_redis.ttl(keys.recently_viewed(vid)) <= browsing.RECENT_TTL
    html = page.content.decode()
    assert 'id="recently-viewed"' in html and catalog[5].name in html


def test_the_list_needs_no_query_when_only_the_page_product_is_in_it(client, catalog):
    url = f"/shop/products/{catalog[0].pk}/"
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    assert len(queries) == 0


def test_top_products_today_counts_views_and_replaces_order_by_view_count(client, catalog, raw_redis):
    views = {catalog[3].pk: 5, catalog[7].pk: 2, catalog[1].pk: 3}
    for pid, n in views.items():
        for _ in range(n):
            client.get(f"/shop/products/{pid}/")
    top = browsing.top_today()
    assert [(t["id"], t["views"]) for t in top] == sorted(views.items(), key=lambda kv: -kv[1])
    day = visitors.today()
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC).timestamp()
    assert raw_redis.expiretime(keys.top_products_day(day.isoformat())) == int(end + browsing.TOP_KEEP.total_seconds())
    home = client.get("/shop/")
    assert [t["id"] for t in home.context["top_today"]] == [catalog[3].pk, catalog[1].pk, catalog[7].pk]
    assert 'id="top-today"' in home.content.decode()
    # The warm-up takes today's top first (the database's all-time counts know nothing of these views yet).
    Product.objects.filter(pk=catalog[20].pk).update(view_count=10_000)
    raw_redis.delete(keys.product_key(catalog[3].pk), keys.product_lease_key(catalog[3].pk))
    report = services.cache_warm(limit=2)
    assert report.loaded + report.cached == 2
    assert raw_redis.exists(keys.product_key(catalog[3].pk)) == 1
    assert raw_redis.exists(keys.product_key(catalog[20].pk)) == 0


def test_the_shop_home_reads_top_and_counts_the_visit_in_its_list_round_trip(client, catalog,
                                                                             refresh_timed_caches):
    from shop import caching
    from tests.conftest import wait_for

    client.get("/shop/")  # cold: generation, list load; starts the local tier and its invalidation listener
    # As on a running site, the listener is subscribed, so this process keeps the catalog generation (an
    # earlier test in this process may have started it already: pinned here, the count does not depend on it).
    wait_for(lambda: caching.invalidation_bus().subscribed.is_set())
    client.get("/shop/")  # keeps the generation in the local tier
    refresh_timed_caches()
    third = client.get("/shop/")
    assert third["X-Cache"] == "hit"
    # one round trip, no generation read: the list GET + PFADD, SADD, two EXPIREATs (the visit) + ZRANGE (top today)
    assert 'desc="6 cmds, 1 rtt"' in third["Server-Timing"], round_trips(third)
