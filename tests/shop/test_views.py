"""Catalog pages and the demo pages: X-Cache on pages, pagination, generations, demos, admin edits."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shop import keys, selectors
from shop.models import Category, Product
from tests.conftest import round_trips

pytestmark = pytest.mark.django_db


def test_product_page_miss_then_hit_in_one_round_trip(client, catalog, raw_redis, refresh_timed_caches):
    product = catalog[0]
    url = f"/shop/products/{product.pk}/"
    first = client.get(url)
    assert first.status_code == 200 and first["X-Cache"] == "miss"
    assert 'data-state="miss"' in first.content.decode()
    with CaptureQueriesContext(connection) as queries:
        refresh_timed_caches()
        second = client.get(url)
    assert second["X-Cache"] == "hit" and 'data-state="hit"' in second.content.decode()
    assert len(queries) == 0
    # The cache GET, the view counter's HINCRBY, the stock HGET (a visitor with a session adds the cart
    # line's HGET), the visitor counts (PFADD, SADD + EXPIREAT, site and product), today's top (ZINCRBY),
    # popularity and the recently viewed list (LREM LPUSH LTRIM EXPIRE LRANGE): one round trip.
    assert 'desc="19 cmds, 1 rtt"' in second["Server-Timing"], round_trips(second)
    assert raw_redis.hget(keys.view_counter_keys().pending, str(product.pk)) == "2"
    assert product.name in second.content.decode()


def test_unknown_product_and_bad_pages_are_404(client, catalog):
    assert client.get("/shop/products/999999/").status_code == 404
    assert client.get("/shop/products/99999999999999999999999/").status_code == 404
    assert client.get("/shop/c/no-such-category/").status_code == 404
    assert client.get("/shop/c/audio/?page=abc").status_code == 404
    assert client.get("/shop/c/audio/?page=99").status_code == 404


def test_category_list_and_pagination(client, db):
    category = Category.objects.create(name="Widgets", slug="widgets")
    Product.objects.bulk_create([
        Product(category=category, name=f"Widget {i}", slug=f"widget-{i}", description="d", price=Decimal("1.00"),
                stock=1, image_hue=i) for i in range(30)
    ])
    listing = client.get("/shop/")
    assert listing.status_code == 200 and "Widgets" in listing.content.decode()
    page1 = client.get("/shop/c/widgets/").content.decode()
    page2 = client.get("/shop/c/widgets/?page=2").content.decode()
    assert "Widget 0" in page1 and "Widget 23" in page1 and "Widget 24" not in page1
    assert "Widget 24" in page2 and "Widget 29" in page2 and "page 2 of 2" in page2
    assert client.get("/shop/c/widgets/?page=2")["X-Cache"] == "hit"


def test_a_product_write_moves_the_lists_to_a_new_generation(client, catalog, raw_redis,
                                                             django_capture_on_commit_callbacks):
    from shop import services

    slug = catalog[0].category.slug
    client.get(f"/shop/c/{slug}/")
    assert client.get(f"/shop/c/{slug}/")["X-Cache"] == "hit"
    before = int(raw_redis.get(keys.catalog_generation_key()))
    with django_capture_on_commit_callbacks(execute=True):
        services.product_update(product_id=catalog[0].pk, changes={"name": "A brand new name"})
    assert int(raw_redis.get(keys.catalog_generation_key())) == before + 1
    response = client.get(f"/shop/c/{slug}/")
    assert response["X-Cache"] == "miss" and "A brand new name" in response.content.decode()
    assert raw_redis.exists(keys.product_page_key(before, slug, 1))  # not deleted: abandoned, expiring


def test_admin_edit_runs_the_write_strategy(admin_client, catalog, raw_redis, django_capture_on_commit_callbacks):
    product = catalog[0]
    admin_client.get(f"/api/products/{product.pk}")
    assert raw_redis.exists(keys.product_key(product.pk))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/shop/product/{product.pk}/change/", {
            "category": product.category_id, "name": "Edited in the admin", "slug": product.slug,
            "description": product.description, "price": "9.99", "stock": product.stock,
            "tags": [t.pk for t in product.tags.all()], "image_hue": product.image_hue,
        })
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not raw_redis.exists(keys.product_key(product.pk))
    after = admin_client.get(f"/api/products/{product.pk}")
    assert after["X-Cache"] == "miss" and after.json()["name"] == "Edited in the admin"


def test_demo_pages_render(client, catalog):
    for url in ("/patterns/caching/", "/patterns/stampede/", "/patterns/hot-keys/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "The code" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_stampede_demo_single_flight_loads_once(client, catalog):
    client.get("/patterns/stampede/")
    response = client.post("/patterns/stampede/", {"requests": 20, "scenario": "cold", "load_ms": 20})
    assert response.status_code == 200
    loads = [int(x) for x in re.findall(r'data-loads="(\d+)"', response.content.decode())]
    naive, single_flight = loads
    assert single_flight == 1 and naive >= 1
    bad = client.post("/patterns/stampede/", {"requests": 5000, "scenario": "cold", "load_ms": 20})
    assert bad.status_code == 400


def test_hot_key_demo_moves_reads_off_the_single_key(client, catalog):
    response = client.post("/patterns/hot-keys/", {"product": catalog[0].pk})
    page = response.content.decode()
    assert response.status_code == 200 and "hotkey-results" in page
    from shop import caching, demos
    from shop.caching import ReadTier

    single = demos.hotkey_run(tier=ReadTier.REDIS, product_id=catalog[0].pk, reads=40)
    replicas = demos.hotkey_run(tier=ReadTier.REPLICAS, product_id=catalog[0].pk, reads=40)
    local = demos.hotkey_run(tier=ReadTier.LOCAL, product_id=catalog[0].pk, reads=40)
    assert single.busiest_share == 1.0 and single.per_key[0]["count"] == 40
    assert len(replicas.per_key) == caching.HOT_REPLICAS and replicas.busiest_share < 0.75
    assert sum(row["count"] for row in local.per_key) <= 1  # at most the first read reaches Redis


def test_caching_demo_actions(staff_client, catalog, django_capture_on_commit_callbacks):
    from django.test import Client

    client = Client()
    pid = catalog[0].pk
    anonymous = client.post("/patterns/caching/", {"action": "switches", "strategy": "write_through"})
    assert anonymous.status_code == 403
    assert client.post("/patterns/caching/", {"action": "explode"}).status_code == 400
    client.get(f"/shop/products/{pid}/")
    flushed = client.post("/patterns/caching/", {"action": "flush", "product": pid})
    assert flushed.status_code == 302
    assert Product.objects.get(pk=pid).view_count == 1
    assert staff_client.post("/patterns/caching/", {"action": "switches", "strategy": "write_through",
                                                    "xfetch": "off", "view_counting": "direct"}).status_code == 302
    assert selectors.write_strategy() == "write_through"
    from shop import caching

    assert caching.switches() == caching.Switches(write_strategy=caching.WriteStrategy.WRITE_THROUGH, xfetch=False,
                                                  view_counting=caching.ViewCounting.DIRECT)
    assert caching.product_policy().xfetch_beta == 0
    views_before = Product.objects.get(pk=pid).view_count
    staff_client.get(f"/shop/products/{pid}/")  # counted with an UPDATE, not in Redis
    assert Product.objects.get(pk=pid).view_count == views_before + 1
    with django_capture_on_commit_callbacks(execute=True):
        edit = staff_client.post("/patterns/caching/", {"action": "edit", "product": pid, "price": "3.21",
                                                        "strategy": "write_through"})
    assert edit.status_code == 302
    assert staff_client.get(f"/api/products/{pid}")["X-Cache"] == "hit"
    assert staff_client.post("/patterns/caching/", {"action": "edit", "product": pid, "price": "-5",
                                                    "strategy": "invalidate"}).status_code == 400
    assert Product.objects.get(pk=pid).price == Decimal("3.21")
    page = staff_client.get(f"/patterns/caching/?product={pid}").content.decode()
    assert "XFetch" in page and "write_through" in page


@pytest.mark.parametrize("price", ["-5", "abc", "1.234"])
def test_an_invalid_staff_price_re_renders_the_form_with_the_message(staff_client, catalog, price):
    pid = catalog[0].pk
    before = Product.objects.get(pk=pid).price
    response = staff_client.post("/patterns/caching/", {"action": "edit", "product": pid, "price": price,
                                                        "strategy": "write_through"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="price-form"' in html and f'name="price" value="{price}"' in html  # the form, with what was typed
    assert 'id="price-error" role="alert">Not saved: price:' in html
    assert '<option value="write_through" selected>' in html
    assert "The entry for product" in html  # the rest of the page too, not a bare error
    assert Product.objects.get(pk=pid).price == before

def test_a_list_page_is_one_round_trip_once_the_generation_is_local(client, catalog, raw_redis,
                                                                     django_capture_on_commit_callbacks,
                                                                     refresh_timed_caches):
    from shop import caching, services
    from tests.conftest import wait_for

    slug = catalog[0].category.slug
    client.get(f"/shop/c/{slug}/")  # starts the local tier and its listener
    wait_for(lambda: caching.invalidation_bus().subscribed.is_set())
    client.get(f"/shop/c/{slug}/")
    refresh_timed_caches()
    hit = client.get(f"/shop/c/{slug}/")
    # the list's GET and the visit (PFADD + EXPIREAT, SADD + EXPIREAT): one round trip, no generation read
    assert hit["X-Cache"] == "hit" and 'desc="5 cmds, 1 rtt"' in hit["Server-Timing"], round_trips(hit)
    # a write elsewhere: the generation moves in Redis and its PUBLISH drops the local copy
    raw_redis.incr(keys.catalog_generation_key())
    raw_redis.publish(keys.invalidation_channel(), f'["{keys.catalog_generation_key()}"]')
    wait_for(lambda: client.get(f"/shop/c/{slug}/")["X-Cache"] == "miss")
    # a write in this process drops its own copy at once, before any message arrives
    with django_capture_on_commit_callbacks(execute=True):
        services.product_update(product_id=catalog[0].pk, changes={"name": "Renamed at once"})
    response = client.get(f"/shop/c/{slug}/")
    assert response["X-Cache"] == "miss" and "Renamed at once" in response.content.decode()


def test_a_generation_read_overtaken_by_an_invalidation_is_not_kept():
    from redis_patterns.hotkeys import LocalTier

    tier = LocalTier(ttl=10)
    epoch = tier.epoch
    tier.drop(["gen"])  # the invalidation arrives while the reader was reading
    assert tier.put("gen", 41, since=epoch) is False and tier.get("gen") is tier.MISSING
    assert tier.put("gen", 42, since=tier.epoch) is True and tier.get("gen") == 42
