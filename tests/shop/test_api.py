"""GET/PATCH /api/products/<id>: states, invalidation, staff-only edits, JSON errors that change nothing."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from redis_patterns.tracing import tracing
from shop import keys, selectors
from shop.models import Product

pytestmark = pytest.mark.django_db


def test_get_is_a_miss_then_a_hit_with_no_query(client, catalog):
    product = catalog[0]
    first = client.get(f"/api/products/{product.pk}")
    assert first.status_code == 200 and first["X-Cache"] == "miss"
    body = first.json()
    assert body["id"] == product.pk and body["price"] == str(product.price) and body["category"]["slug"]
    with CaptureQueriesContext(connection) as queries:
        second = client.get(f"/api/products/{product.pk}")
    assert second["X-Cache"] == "hit" and second.json() == body
    assert len(queries) == 0
    # The cache's own cost (the request as a whole may add e.g. a rate-limit check).
    with tracing() as trace:
        assert selectors.product_get(product.pk).state.value == "hit"
    assert (trace.command_count, trace.round_trip_count) == (1, 1)


def test_a_corrupt_cache_value_is_a_miss_not_a_500(client, catalog, redis_server):
    import redis

    raw = redis.Redis(host=redis_server.host, port=redis_server.port)
    for product, path in ((catalog[0], f"/api/products/{catalog[0].pk}"),
                          (catalog[1], f"/shop/products/{catalog[1].pk}/")):
        raw.set(keys.product_key(product.pk), b"\xff\xfe not UTF-8")
        response = client.get(path)
        assert (response.status_code, response["X-Cache"]) == (200, "miss"), path
        assert client.get(path)["X-Cache"] == "hit"  # the fill replaced it
    raw.close()


@pytest.mark.parametrize("raw", ["abc", "0", "-1", "1e3", "1.5", "99999999999999999999999", "٣"])
def test_bad_ids_get_a_json_400(client, raw):
    response = client.get(f"/api/products/{raw}")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_id"


def test_missing_product_is_a_404_cached_briefly(client, catalog, raw_redis):
    missing = catalog[-1].pk + 1000
    assert client.get(f"/api/products/{missing}").json()["error"] == "not_found"
    with CaptureQueriesContext(connection) as queries:
        again = client.get(f"/api/products/{missing}")
    assert (again.status_code, again["X-Cache"], len(queries)) == (404, "hit", 0)
    assert 0 < raw_redis.pttl(keys.product_key(missing)) <= 30_000


def test_other_methods_are_refused_in_json(client, catalog):
    response = client.delete(f"/api/products/{catalog[0].pk}")
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


def patch(client, pid, body, **kwargs):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.patch(f"/api/products/{pid}", data=data, content_type=kwargs.pop("content_type", "application/json"),
                        **kwargs)


def test_patch_needs_login_and_staff(client, user_client, catalog):
    pid = catalog[0].pk
    assert patch(Client(), pid, {"stock": 1}).json()["error"] == "not_authenticated"
    refused = patch(user_client, pid, {"stock": 1})
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert Product.objects.get(pk=pid).stock == catalog[0].stock


def test_patch_checks_the_csrf_token(catalog, django_user_model):
    user = django_user_model.objects.create_user("staff2", password="x-pw-123456", is_staff=True)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    pid = catalog[0].pk
    without = patch(browser, pid, {"stock": 7})
    assert without.status_code == 403 and without.json()["error"] == "csrf_failed"
    assert without.json()["detail"].startswith("CSRF check failed: CSRF cookie not set. Send the csrftoken")
    browser.get("/shop/")  # every page sets the csrftoken cookie
    token = browser.cookies["csrftoken"].value
    with_token = patch(browser, pid, {"stock": 7}, headers={"X-CSRFToken": token})
    assert with_token.status_code == 200 and with_token.json()["stock"] == 7


@pytest.mark.parametrize(("body", "code"), [
    ("{not json", "invalid_json"),
    ([1, 2], "invalid_json"),  # not an object: the one body parser says so for every endpoint
    ({}, "invalid_body"),
    ({"view_count": 5}, "unknown_field"),
    ({"price": "abc"}, "invalid_field"),
    ({"price": "-1"}, "invalid_field"),
    ({"price": "1.234"}, "invalid_field"),
    ({"price": "NaN"}, "invalid_field"),
    ({"price": True}, "invalid_field"),
    ({"stock": -1}, "invalid_field"),
    ({"stock": "5"}, "invalid_field"),
    ({"name": "   "}, "invalid_field"),
    ({"name": "x" * 201}, "invalid_field"),
])
def test_bad_bodies_get_a_400_and_change_nothing(staff_client, catalog, raw_redis, body, code):
    product = catalog[0]
    staff_client.get(f"/api/products/{product.pk}")  # cached
    cached = raw_redis.get(keys.product_key(product.pk))
    response = patch(staff_client, product.pk, body)
    assert response.status_code == 400 and response.json()["error"] == code
    fresh = Product.objects.get(pk=product.pk)
    assert (fresh.name, fresh.price, fresh.stock) == (product.name, product.price, product.stock)
    assert raw_redis.get(keys.product_key(product.pk)) == cached


def test_patch_wrong_content_type_and_strategy(staff_client, catalog):
    pid = catalog[0].pk
    assert patch(staff_client, pid, "stock=1", content_type="application/x-www-form-urlencoded").status_code == 415
    response = staff_client.patch(f"/api/products/{pid}?strategy=psychic", data='{"stock": 1}',
                                  content_type="application/json")
    assert response.status_code == 400 and response.json()["error"] == "invalid_strategy"


def test_patch_unknown_product_is_404(staff_client, catalog):
    assert patch(staff_client, catalog[-1].pk + 1000, {"stock": 1}).status_code == 404


@pytest.mark.parametrize(("strategy", "next_state"), [("invalidate", "miss"), ("write_through", "hit")])
def test_the_next_get_reflects_a_patch(staff_client, catalog, django_capture_on_commit_callbacks,
                                       strategy, next_state):
    pid = catalog[0].pk
    assert staff_client.get(f"/api/products/{pid}")["X-Cache"] == "miss"
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.patch(f"/api/products/{pid}?strategy={strategy}",
                                      data=json.dumps({"price": "12.34", "name": "Renamed"}),
                                      content_type="application/json")
    assert response.status_code == 200 and response["X-Write-Strategy"] == strategy
    after = staff_client.get(f"/api/products/{pid}")
    assert after["X-Cache"] == next_state
    assert (after.json()["price"], after.json()["name"]) == ("12.34", "Renamed")


def test_a_stock_change_drops_the_product_from_the_checkout_stock_hash(staff_client, catalog, raw_redis,
                                                                     django_capture_on_commit_callbacks):
    """Checkout reserves against a Redis copy of the stock: a restock through the
    API must not leave that copy stale (the next checkout reloads the row)."""
    from shop import keys as checkout_keys

    product = Product.objects.order_by("pk").first()
    other = Product.objects.order_by("pk").last()
    raw_redis.hset(checkout_keys.stock(), mapping={product.pk: 1, other.pk: 7})
    with django_capture_on_commit_callbacks(execute=True):
        response = patch(staff_client, product.pk, {"stock": 50})
    assert response.status_code == 200
    assert raw_redis.hget(checkout_keys.stock(), product.pk) is None
    assert raw_redis.hget(checkout_keys.stock(), other.pk) == "7"  # others untouched
