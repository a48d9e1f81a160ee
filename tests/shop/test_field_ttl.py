"""Hash-field TTL in the shop: cart lines and caching switches expire one by one where the server can.

The per-field tests skip on servers without it ("needs Redis 7.4+ or Valkey
9.0+"); the fallback tests run everywhere, forcing the fallback path on newer
servers, so both paths are tested on every server of the matrix.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest

from config.redis import get_redis
from redis_patterns import hashttl
from shop import caching, checkout, keys, selectors, services
from shop.models import Category, Product
from tests.conftest import wait_for
from tests.redis_patterns.test_hashttl import has_field_ttl

pytestmark = pytest.mark.django_db


@pytest.fixture
def products() -> list[Product]:
    category = Category.objects.create(name="C", slug="c")
    return [Product.objects.create(category=category, name=f"P{i}", slug=f"p{i}", description="",
                                   price=Decimal("2.00"), stock=5, image_hue=i) for i in range(2)]


@pytest.fixture(autouse=True)
def _detect_again():
    hashttl.forget()
    yield
    hashttl.forget()


@pytest.fixture
def old_server(monkeypatch):
    """Take the fallback path whatever the server (it is the real path on Redis 7.0)."""
    monkeypatch.setattr(hashttl, "supported", lambda client, key: False)


@pytest.mark.requires_server(redis="7.4", valkey="9.0")
def test_a_cart_line_left_alone_expires_while_a_fresher_one_stays(products, raw_redis, monkeypatch):
    monkeypatch.setattr(checkout, "CART_LINE_TTL_SECONDS", 2)
    owner, (a, b) = "session:field-ttl", products
    checkout.cart_add(owner=owner, product_id=a.pk, quantity=1)
    time.sleep(1.2)
    checkout.cart_add(owner=owner, product_id=b.pk, quantity=3)
    expiry = selectors.cart_expiry(owner=owner)
    assert expiry.path == "field" and set(expiry.fields) == {a.pk, b.pk}
    assert expiry.fields[a.pk] < expiry.fields[b.pk] <= 2
    wait_for(lambda: selectors.cart_items(owner=owner) == [{"product_id": b.pk, "quantity": 3}], timeout=5)
    # The cart is still there, with its own (whole-key) TTL as the outer bound.
    assert checkout.CART_TTL_SECONDS - 10 < raw_redis.ttl(keys.cart(owner)) <= checkout.CART_TTL_SECONDS
    checkout.cart_add(owner=owner, product_id=b.pk, quantity=200)  # clamped with HSET, which clears a TTL...
    assert selectors.cart_expiry(owner=owner).fields[b.pk] == 2       # ...so the script set it again


def test_without_field_ttl_every_line_lives_as_long_as_the_cart(products, raw_redis, old_server):
    owner, (a, b) = "session:key-ttl", products
    checkout.cart_add(owner=owner, product_id=a.pk, quantity=1)
    checkout.cart_add(owner=owner, product_id=b.pk, quantity=2)
    expiry = selectors.cart_expiry(owner=owner)
    assert expiry.path == "key" and expiry.fields == {a.pk: expiry.key_ttl, b.pk: expiry.key_ttl}
    assert checkout.CART_TTL_SECONDS - 10 < expiry.key_ttl <= checkout.CART_TTL_SECONDS
    if has_field_ttl_server():  # the lines really carry no TTL of their own on this path
        assert raw_redis.execute_command("HTTL", keys.cart(owner), "FIELDS", 2, a.pk, b.pk) == [-1, -1]


def has_field_ttl_server() -> bool:
    from tests.redis_harness import session_info

    return has_field_ttl(session_info())


def test_a_server_that_lost_the_feature_is_detected_again(products):
    """Told the server has it when it does not (a failover to an older one): the line is added once, detected again."""
    hashttl._known.set(get_redis(), True)  # what a process that started on a newer server remembers
    assert checkout.cart_add(owner="session:failover", product_id=products[0].pk, quantity=2) == 2
    assert selectors.cart_items(owner="session:failover") == [{"product_id": products[0].pk, "quantity": 2}]
    assert hashttl.supported(get_redis(), keys.cart("session:failover")) is has_field_ttl_server()


@pytest.mark.requires_server(redis="7.4", valkey="9.0")
def test_each_switch_reverts_on_its_own_clock(monkeypatch):
    monkeypatch.setattr(caching, "SWITCH_REVERT_SECONDS", 2)
    defaults = caching.default_switches()
    assert services.switches_set(xfetch=not defaults.xfetch) == ["xfetch"]
    time.sleep(1.2)
    other = next(c for c in caching.ViewCounting if c != defaults.view_counting)
    assert services.switches_set(xfetch=not defaults.xfetch, view_counting=other) == ["view_counting"]
    expiry = selectors.switches_expiry()
    assert expiry.path == "field" and expiry.fields["xfetch"] < expiry.fields["view_counting"]

    def reverted_xfetch_only() -> bool:
        caching.forget_switches()
        now = caching.switches()
        return now.xfetch == defaults.xfetch and now.view_counting == other

    wait_for(reverted_xfetch_only, timeout=5)


def test_without_field_ttl_switches_revert_together(monkeypatch, raw_redis, old_server):
    monkeypatch.setattr(caching, "SWITCH_REVERT_SECONDS", 30)
    defaults = caching.default_switches()
    services.switches_set(xfetch=not defaults.xfetch)
    other = next(c for c in caching.ViewCounting if c != defaults.view_counting)
    services.switches_set(view_counting=other)
    expiry = selectors.switches_expiry()
    assert expiry.path == "key" and set(expiry.fields) == {"xfetch", "view_counting"}
    assert expiry.fields["xfetch"] == expiry.fields["view_counting"] and 20 < expiry.fields["xfetch"] <= 30


def test_whats_new_page_says_which_path_runs_here(client, products, server_info):
    page = client.get("/patterns/whats-new/").content.decode()
    assert "Hash-field expiry" in page and "Server-assisted client-side caching" in page
    expected = "per field (HEXPIRE)" if has_field_ttl(server_info) else "whole-key TTL (fallback)"
    assert f'data-feature="hash-field-ttl">{expected}<' in page
    rank = "one command (WITHSCORE)" if server_info.version >= (7, 2) else "ZREVRANK + ZSCORE pipelined (fallback)"
    assert f'data-feature="zrank-withscore">{rank}<' in page and "A member&#x27;s rank and score in one command" in page
    assert f'id="server-label">{server_info.name} {".".join(map(str, server_info.version))}<' in page
    client.post("/api/cart/items", data=json.dumps({"product_id": products[0].pk, "quantity": 2}),
                content_type="application/json")
    page = client.get("/patterns/whats-new/").content.decode()
    path = "field" if has_field_ttl(server_info) else "key"
    assert f'id="cart-expiry" data-path="{path}"' in page and f"product {products[0].pk}:" in page


def test_whats_new_is_on_the_course_map(client):
    from lessons.usecases import navigation

    assert any(uc.url_name == "lessons:whats_new" for _, items in navigation() for uc in items)
    assert 'href="/patterns/whats-new/"' in client.get("/").content.decode()
