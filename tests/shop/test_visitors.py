"""Unique visitors: HyperLogLog per day and per product, written in the page's own round trip, read by the API."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from redis_patterns.tracing import tracing
from shop import keys, visitors

pytestmark = pytest.mark.django_db


def test_each_distinct_browser_counts_once_per_day_and_per_product(catalog, raw_redis):
    product = catalog[0]
    browsers = [Client() for _ in range(25)]
    for browser in browsers:
        for _ in range(3):  # coming back changes nothing
            assert browser.get(f"/shop/products/{product.pk}/").status_code == 200
        browser.get("/shop/")
    browsers[0].get(f"/shop/products/{catalog[1].pk}/")
    day = visitors.today()
    site = visitors.visitors_count(day=day)
    # 25 visitors in a sparse HLL: exact unless two of them hash to the same one of its 16,384 registers and
    # count once (about a 2% chance with random session ids, by the birthday bound): at most one short.
    assert site.exact == 25 and site.estimate in (24, 25), site
    assert site.error_pct == (0.0 if site.estimate == 25 else -4.0)
    assert visitors.visitors_count(day=day, product_id=product.pk).exact == 25
    assert visitors.visitors_count(day=day, product_id=catalog[1].pk).estimate == 1
    # Every daily key carries its TTL from the pipeline that wrote it.
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC).timestamp()
    for name, retention in [(keys.visitors_site_day(day.isoformat()), visitors.SITE_RETENTION),
                            (keys.visitors_site_day_exact(day.isoformat()), visitors.EXACT_WINDOW),
                            (keys.visitors_product_day(product.pk, day.isoformat()), visitors.PRODUCT_RETENTION)]:
        assert raw_redis.expiretime(name) == int(end + retention.total_seconds())


def test_the_visit_rides_in_the_product_pages_one_round_trip(client, catalog):
    url = f"/shop/products/{catalog[0].pk}/"
    client.get(url)  # the miss: loads and stores the product
    with tracing() as trace:
        response = client.get(url)
    assert response["X-Cache"] == "hit"
    names = [row["name"] for rt in trace.round_trips for row in rt.describe()]
    assert trace.round_trip_count == 1 and names.count("PFADD") == 2 and "LPUSH" in names and "ZINCRBY" in names


def test_the_api_answers_estimate_exact_and_error(client, catalog):
    for _ in range(3):
        Client().get(f"/shop/products/{catalog[2].pk}/")
    today = visitors.today().isoformat()
    site = client.get(f"/api/analytics/visitors?day={today}").json()
    assert site == {"day": today, "estimate": 3, "exact": 3, "error_pct": 0.0}
    product = client.get(f"/api/analytics/visitors?day={today}&product={catalog[2].pk}").json()
    assert product["estimate"] == 3 and product["exact"] == 3
    other = client.get(f"/api/analytics/visitors?day={today}&product={catalog[3].pk}").json()
    assert other == {"day": today, "estimate": 0, "exact": 0, "error_pct": 0.0}
    old = (visitors.today() - dt.timedelta(days=10)).isoformat()
    assert client.get(f"/api/analytics/visitors?day={old}").json() == {
        "day": old, "estimate": 0, "exact": None, "error_pct": None}  # outside the demo window: no exact count


@pytest.mark.parametrize("query", ["day=2024-13-01", "day=yesterday", "day=20240101", "day=2999-01-01",
                                   "day=2000-01-01", "product=abc", "product=0", "product=-1"])
def test_bad_input_is_a_json_400(client, query):
    response = client.get(f"/api/analytics/visitors?{query}")
    assert response.status_code == 400 and response.json()["error"] in ("invalid_parameter", "out_of_range")


def test_a_week_by_pfcount_over_days_and_by_pfmerge_agree(r):
    monday = visitors.today() - dt.timedelta(days=visitors.today().weekday())
    days = visitors.week_days(visitors.today())
    pipe = r.pipeline()
    for i, day in enumerate(days):
        for v in range(100 * i, 100 * i + 150):  # overlapping visitors from one day to the next
            visitors.queue_view(pipe, visitor=f"v{v}", day=day)
    pipe.execute()
    week = visitors.visitors_week(day=visitors.today())
    distinct = 100 * (len(days) - 1) + 150
    assert week["monday"] == monday.isoformat()
    assert week["pfcount_union"] == week["pfmerge_count"]
    assert abs(week["pfcount_union"] - distinct) <= 0.03 * distinct
    assert week["sum_of_days"] > week["pfcount_union"] or len(days) == 1


def test_a_missing_product_leaves_no_per_product_trace(client, catalog, raw_redis):
    assert client.get("/shop/products/999999/").status_code == 404
    day = visitors.today().isoformat()
    assert raw_redis.exists(keys.visitors_product_day(999999, day)) == 0
    assert raw_redis.zscore(keys.top_products_day(day), "999999") is None
    assert raw_redis.zscore(keys.autocomplete_popularity(), "999999") is None


def test_the_page_shows_estimate_exact_and_memory(client, catalog):
    for _ in range(4):
        Client().get("/shop/")
    response = client.get("/shop/visitors/")
    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["site"].estimate == 5 and response.context["site"].exact == 5  # 4 + this page's visitor
    assert 'id="site-estimate">5<' in html and "PFMERGE" in html and "keys-table" in html
