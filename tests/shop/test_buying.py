"""Buying from the shop, in-process: the product page's stock and cart, the cart page, the order pages."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client

from shop import checkout, keys, stock
from shop.models import Category, Order, OrderItem, Product
from tests.conftest import round_trips

pytestmark = pytest.mark.django_db


@pytest.fixture
def product() -> Product:
    category = Category.objects.create(name="Coffee", slug="coffee")
    return Product.objects.create(category=category, name="Classic Kettle 0042", slug="kettle", description="Hot.",
                                  price=Decimal("12.50"), stock=30, image_hue=200)


@pytest.fixture
def other(product: Product) -> Product:
    return Product.objects.create(category=product.category, name="Zen Grinder 0043", slug="grinder",
                                  description="", price=Decimal("3.00"), stock=3, image_hue=20)


def owner_of(client: Client) -> str:
    return f"session:{client.session.session_key}"


def add(client: Client, product: Product, quantity: int | str = 1, **extra: str):
    return client.post("/cart/", {"action": "add", "product": product.pk, "quantity": quantity, **extra})


def order(client: Client, lines: list[tuple[Product, int]], key: str, from_cart: bool = True):
    body = {"items": [{"product_id": p.pk, "quantity": q} for p, q in lines], "from_cart": from_cart}
    return client.post("/api/orders", data=json.dumps(body), content_type="application/json",
                       headers={"Idempotency-Key": key})


def test_product_page_offers_add_to_cart_with_its_picture_price_and_stock(client, product):
    html = client.get(f"/shop/products/{product.pk}/").content.decode()
    assert 'id="add-to-cart"' in html and ">Add to cart</button>" in html
    assert "$12.50" in html and "In stock (30)" in html
    # The picture: the product's short name on its category's look, labelled for screen readers.
    assert 'data-category="coffee"' in html and ">Classic Kettle</span>" in html
    assert 'aria-label="Picture of Classic Kettle 0042 (Coffee)"' in html


def test_only_n_left_comes_from_the_reservation_hash(client, product, raw_redis):
    stock.stock_load([product.pk])
    stock.stock_reserve([stock.CartLine(product.pk, 26)])  # another buyer's checkout in flight
    html = client.get(f"/shop/products/{product.pk}/").content.decode()
    assert "Only 4 left" in html and 'data-available="4"' in html
    assert "live from the reservation hash" in html

    stock.stock_reserve([stock.CartLine(product.pk, 4)])
    html = client.get(f"/shop/products/{product.pk}/").content.decode()
    assert "Sold out" in html and 'id="add-to-cart"' not in html


def test_stock_cart_and_cache_read_share_one_round_trip(client, product, refresh_timed_caches):
    add(client, product, 2)
    client.get(f"/shop/products/{product.pk}/")  # a miss: loads the entry
    refresh_timed_caches()
    page = client.get(f"/shop/products/{product.pk}/")
    assert page["X-Cache"] == "hit"
    # The page's own round trip: GET (the entry), HINCRBY (the view), HGET (stock), HGET (this visitor's cart
    # line) and the 16 visit commands (visitor counts, today's top, recently viewed); around it the session's
    # load (HGETALL) and its sliding expiry (PEXPIRE): 22 commands, 3 round trips.
    assert 'desc="22 cmds, 3 rtt"' in page["Server-Timing"], round_trips(page)
    [own] = [rt for rt in page.wsgi_request.redis_trace.round_trips if len(rt.commands) > 2]
    assert [c[0] for c in own.commands[:4]] == ["GET", "HINCRBY", "HGET", "HGET"]
    assert "2 in <a" in page.content.decode()


def test_add_to_cart_goes_back_to_the_product_and_says_so(client, product, raw_redis):
    res = add(client, product, 2, next=f"/shop/products/{product.pk}/")
    assert res.status_code == 302 and res["Location"] == f"/shop/products/{product.pk}/"
    assert raw_redis.hgetall(keys.cart(owner_of(client))) == {str(product.pk): "2"}
    page = client.get(res["Location"]).content.decode()
    assert "Added to your cart (2 in the cart now)." in page
    # A foreign `next` is ignored: back to the cart instead.
    assert add(client, product, 1, next="https://evil.example/").headers["Location"] == "/cart/"


@pytest.mark.parametrize("quantity", ["0", "-1", "abc", "101", ""])
def test_bad_quantities_change_nothing_and_say_why(client, product, raw_redis, quantity):
    res = add(client, product, quantity)
    assert res.status_code == 302
    assert raw_redis.exists(keys.cart(owner_of(client))) == 0
    assert "Refused: quantity must be a whole number from 1 to 100" in client.get("/cart/").content.decode()


def test_unknown_product_is_refused_with_a_message(client, raw_redis):
    res = client.post("/cart/", {"action": "add", "product": 999999, "quantity": 1})
    assert res.status_code == 302
    assert "Refused: no product with id 999999" in client.get("/cart/").content.decode()


def test_cart_page_changes_quantities_and_removes_lines(client, product, other, raw_redis):
    add(client, product, 2)
    add(client, other, 1)
    html = client.get("/cart/").content.decode()
    assert html.count('class="cart-line"') == 2
    assert 'id="cart-total">$28.00<' in html  # 2 × 12.50 + 3.00
    assert "Only 3 left" in html  # the grinder: low stock

    client.post("/cart/", {"action": "set", "product": other.pk, "quantity": 5})
    html = client.get("/cart/").content.decode()
    assert "Only 3 left: lower the quantity to check out." in html
    cart = keys.cart(owner_of(client))
    assert raw_redis.hget(cart, str(other.pk)) == "5"
    assert 0 < raw_redis.ttl(cart) <= checkout.CART_TTL_SECONDS

    client.post("/cart/", {"action": "remove", "product": other.pk})
    client.post("/cart/", {"action": "set", "product": product.pk, "quantity": 0})
    assert raw_redis.exists(cart) == 0
    assert 'id="cart-empty"' in client.get("/cart/").content.decode()


def test_cart_page_carries_the_checkout_body_and_a_fingerprint_per_cart_state(client, product):
    add(client, product, 2)
    html = client.get("/cart/").content.decode()
    body = json.loads(html.split('<script id="checkout-data" type="application/json">')[1].split("</script>")[0])
    assert body == {"items": [{"product_id": product.pk, "quantity": 2}], "from_cart": True}
    first = html.split('data-fingerprint="')[1].split('"')[0]
    add(client, product, 1)
    second = client.get("/cart/").content.decode().split('data-fingerprint="')[1].split('"')[0]
    assert first != second  # a new cart state gets a new Idempotency-Key in the page's script
    assert "<script>" not in html  # no inline script: the page runs under a strict CSP


def test_an_order_from_the_cart_takes_its_lines_out_once(client, product, other, raw_redis):
    add(client, product, 3)
    add(client, other, 1)
    cart = keys.cart(owner_of(client))
    res = order(client, [(product, 2), (other, 1)], key="cart-1")
    assert res.status_code == 202 and res.json()["created"] is True
    assert raw_redis.hgetall(cart) == {str(product.pk): "1"}  # 3 - 2; the grinder line is gone

    again = order(client, [(product, 2), (other, 1)], key="cart-1")  # a retry: the same order
    assert again.status_code == 202 and again.json()["order_id"] == res.json()["order_id"]
    assert again.json()["created"] is False
    assert raw_redis.hgetall(cart) == {str(product.pk): "1"}  # not taken out twice
    assert Order.objects.count() == 1

    bad = client.post("/api/orders", data=json.dumps({"items": [{"product_id": product.pk, "quantity": 1}],
                                                       "from_cart": "yes"}), content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_cart"


def test_the_order_page_and_my_orders_belong_to_the_visitor(client, product):
    add(client, product, 1)
    order_id = order(client, [(product, 1)], key="k-1").json()["order_id"]
    page = client.get(f"/orders/{order_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-order-id="{order_id}"' in html and 'data-status="pending"' in html
    assert "Classic Kettle 0042" in html and "$12.50" in html
    assert "<title>Order #" in html

    mine = client.get("/orders/").content.decode()
    assert f"/orders/{order_id}/" in mine and "1 × Classic Kettle 0042" in mine

    stranger = Client()
    assert stranger.get(f"/orders/{order_id}/").status_code == 404
    assert f"/orders/{order_id}/" not in stranger.get("/orders/").content.decode()


def test_order_lines_show_their_totals(client, product):
    o = Order.objects.create(owner="session:x", total=Decimal("25.00"))
    line = OrderItem.objects.create(order=o, product=product, quantity=2, unit_price=Decimal("12.50"))
    assert line.line_total == Decimal("25.00")


def test_cart_page_says_so_when_redis_is_down(client, product, redis_server):
    add(client, product, 1)
    redis_server.kill()
    from config.redis import forget_redis_health

    forget_redis_health()
    res = client.get("/cart/")
    assert res.status_code == 503
    assert "The cart lives in Redis, which is unavailable" in res.content.decode()
    res = add(client, product, 1)
    assert res.status_code == 302
    assert "The cart lives in Redis, which is unavailable" in client.get(f"/shop/products/{product.pk}/").content.decode()
