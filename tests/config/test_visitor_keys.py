"""Every key the site creates on behalf of a visitor has a TTL or a bound (issue #10: 300 anonymous requests
used to leave 600 friend sets behind, forever)."""

from __future__ import annotations

import secrets

import pytest
from django.core.management import call_command
from django.test import Client

from config.keyspace import family_of

pytestmark = pytest.mark.django_db

#: Families that are permanent by design and touched by anonymous requests, each with what bounds it.
BOUNDED = {
    "lb:{<board>}:best": "at most MAX_PLAYERS members (the submit script drops the lowest)",
    "lb:{<board>}:total": "at most MAX_PLAYERS members",
    "lb:{<board>}:seq": "one counter per board (boards are a fixed set)",
    "shop:catalog:gen": "one counter",
    "{shop:views}:pending": "one field per product, emptied by each flush",
    "{orders}:stream": "trimmed by the stream workers below what the groups still need",
    "{stores}:geo": "one member per store in the database (rebuilt from the table)",
    "{stores}:info": "one field per store",
    "shop:ac:{names}:index": "one member per product name (rebuilt from the catalog)",
    "shop:ac:{names}:members": "one field per product",
    "shop:ac:{names}:popularity": "one member per product",
}


def visit(n: int) -> None:
    """What ``n`` hostile anonymous visitors do: every public page and API write, with made-up names."""
    from shop.models import Product

    product = Product.objects.order_by("id").first()
    for i in range(n):
        client = Client(REMOTE_ADDR=f"198.51.100.{i % 250 + 1}")
        name, friend = f"v{secrets.token_hex(6)}", f"f{secrets.token_hex(6)}"
        for path in ("/", "/shop/", f"/shop/products/{product.pk}/", "/checkout/", "/leaderboard/", "/realtime/",
                     f"/api/products/{product.pk}", "/api/cart", f"/api/leaderboards/reaction/top?view=friends&player={name}",
                     f"/api/leaderboards/reaction/players/{name}?view=weekly&around=2"):
            assert client.get(path).status_code in (200, 404), path
        for path, body in (("/api/cart/items", {"product_id": product.pk, "quantity": 1}),
                           ("/api/orders", {"items": [{"product_id": product.pk, "quantity": 1}]}),
                           ("/api/leaderboards/reaction/scores", {"player": name, "score": 100}),
                           ("/api/leaderboards/reaction/friends", {"player": name, "friend": friend})):
            status = client.post(path, body, content_type="application/json",
                                 headers={"Idempotency-Key": secrets.token_hex(8)}).status_code
            assert status < 500, (path, status)


def permanent_keys(raw_redis) -> dict[str, str]:
    return {k: family_of(k, prefix="t").pattern if family_of(k, prefix="t") else "undeclared"
            for k in raw_redis.scan_iter(count=1000) if raw_redis.ttl(k) == -1}


def test_anonymous_visitors_leave_only_expiring_or_bounded_keys(raw_redis, settings):
    settings.RATELIMIT_ENABLED = False  # many visitors from one test: the limits are tested elsewhere
    call_command("seed_demo", products=5, quiet=True, stdout=open("/dev/null", "w"))  # noqa: SIM115
    visit(10)
    first = permanent_keys(raw_redis)
    assert set(first.values()) <= set(BOUNDED), {k: f for k, f in first.items() if f not in BOUNDED}
    visit(20)
    # more visitors, no more permanent keys: what they created expires by itself
    assert permanent_keys(raw_redis).keys() == first.keys()
