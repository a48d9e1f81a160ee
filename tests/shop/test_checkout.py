"""Checkout through the API (in-process): validation, ownership, idempotency, stock, the outbox."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client

from shop import checkout, keys, orders, stock
from shop.models import Category, Order, OutboxMessage, Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def product() -> Product:
    category = Category.objects.create(name="C", slug="c")
    return Product.objects.create(category=category, name="Mug", slug="mug", description="", price=Decimal("4.00"),
                                  stock=5, image_hue=1)


@pytest.fixture
def second(product: Product) -> Product:
    return Product.objects.create(category=product.category, name="Cup", slug="cup", description="",
                                  price=Decimal("1.50"), stock=1, image_hue=2)


def post(client: Client, body: object, **headers: str):
    return client.post("/api/orders", data=json.dumps(body) if not isinstance(body, str) else body,
                       content_type="application/json", headers=headers)


def items(product: Product, quantity: int = 1) -> dict:
    return {"items": [{"product_id": product.pk, "quantity": quantity}]}


def test_order_is_accepted_published_after_commit_and_visible_to_its_owner_only(
        client, product, raw_redis, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        res = post(client, items(product, 2))
    assert res.status_code == 202
    body = res.json()
    assert body["status"] == "pending" and body["created"] is True
    order = Order.objects.get(pk=body["order_id"])
    assert order.owner == f"session:{client.session.session_key}"
    assert order.total == Decimal("8.00")
    entries = raw_redis.xrange(keys.orders_stream())
    assert [fields["order_id"] for _, fields in entries] == [str(order.pk)]
    assert OutboxMessage.objects.get().published_at is not None
    assert "redis;dur=" in res["Server-Timing"]

    detail = client.get(f"/api/orders/{order.pk}")
    assert detail.status_code == 200 and detail.json()["status"] == "pending"
    stranger = Client()
    assert stranger.get(f"/api/orders/{order.pk}").status_code == 404
    assert stranger.get(f"/api/orders/{order.pk}").json()["error"] == "not_found"
    assert client.get("/api/orders/999999").status_code == 404


def test_unsafe_methods_need_the_csrf_token(product):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/checkout/")
    assert page.status_code == 200
    token = browser.cookies["csrftoken"].value
    assert post(browser, items(product)).status_code == 403
    assert post(browser, items(product), X_CSRFToken=token).status_code == 202


@pytest.mark.parametrize("body, code", [
    ("not json", "invalid_json"),
    ({"items": []}, "invalid_cart"),
    ({"items": "x"}, "invalid_cart"),
    ({"items": [{"product_id": "1", "quantity": 1}]}, "invalid_cart"),
    ({"items": [{"product_id": 1, "quantity": 0}]}, "invalid_cart"),
    ({"items": [{"product_id": 1, "quantity": 101}]}, "invalid_cart"),
    ({"items": [{"product_id": 1, "quantity": True}]}, "invalid_cart"),
    ({"items": [{"product_id": 999999, "quantity": 1}]}, "unknown_product"),
])
def test_bad_input_is_a_clear_400_and_changes_nothing(client, product, body, code, raw_redis):
    res = post(client, body)
    assert res.status_code == 400
    assert res.json()["error"] == code and res.json()["detail"]
    assert Order.objects.count() == 0
    assert raw_redis.hget(keys.stock(), str(product.pk)) in (None, "5")


def test_bad_idempotency_key_and_wrong_method(client, product):
    res = post(client, items(product), Idempotency_Key="has spaces and *")
    assert res.status_code == 400 and res.json()["error"] == "invalid_cart"
    assert client.get("/api/orders").status_code == 405


def test_same_key_same_order_once_and_409_for_another_body(client, product):
    first = post(client, items(product, 1), Idempotency_Key="abc-1")
    again = post(client, items(product, 1), Idempotency_Key="abc-1")
    assert first.status_code == again.status_code == 202
    assert first.json()["order_id"] == again.json()["order_id"]
    assert again["Idempotent-Replayed"] == "true"
    other = post(client, items(product, 2), Idempotency_Key="abc-1")
    assert other.status_code == 409 and other.json()["error"] == "idempotency_key_reused"
    assert Order.objects.count() == 1
    product.refresh_from_db()
    assert product.stock == 4
    # Another visitor may use the same key string: keys are per owner.
    assert post(Client(), items(product, 1), Idempotency_Key="abc-1").json()["order_id"] != first.json()["order_id"]


def test_idempotency_falls_back_to_the_database_when_redis_forgot_the_key(client, product, raw_redis):
    first = post(client, items(product, 1), Idempotency_Key="k-lost").json()
    owner = f"session:{client.session.session_key}"
    raw_redis.delete(keys.idempotency_record(owner, "k-lost"))
    again = post(client, items(product, 1), Idempotency_Key="k-lost")
    assert again.status_code == 202 and again.json()["order_id"] == first["order_id"]
    assert Order.objects.count() == 1


def test_out_of_stock_is_409_and_reserves_nothing(client, product, second, raw_redis):
    res = post(client, {"items": [{"product_id": product.pk, "quantity": 2},
                                  {"product_id": second.pk, "quantity": 2}]})
    assert res.status_code == 409
    assert res.json() == {"error": "out_of_stock", "detail": f"only 1 left of product {second.pk}",
                          "product_id": second.pk, "available": 1}
    # All or nothing: the first line was not taken either.
    assert raw_redis.hmget(keys.stock(), [product.pk, second.pk]) == ["5", "1"]
    assert Order.objects.count() == 0


def test_rolled_back_order_is_never_published_and_its_reservation_is_released(
        product, second, raw_redis, django_capture_on_commit_callbacks):
    """Redis says yes, the database says no (drift): the transaction rolls back, nothing is published."""
    stock.stock_load([product.pk, second.pk])
    Product.objects.filter(pk=second.pk).update(stock=0)  # changed behind Redis's back
    lines = [stock.CartLine(product.pk, 2), stock.CartLine(second.pk, 1)]
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(checkout.OutOfStockError):
        checkout.order_checkout(owner="session:x", user_id=None, lines=lines)
    assert callbacks == []
    assert Order.objects.count() == 0 and OutboxMessage.objects.count() == 0
    assert raw_redis.xlen(keys.orders_stream()) == 0
    product.refresh_from_db()
    assert product.stock == 5  # the first line's decrement rolled back with the rest
    # The reservation was given back and the drifted fields dropped, to be reloaded from the database.
    assert raw_redis.hmget(keys.stock(), [product.pk, second.pk]) == [None, None]


def test_checkout_works_without_redis_and_the_relay_publishes_later(
        product, redis_server, raw_redis, django_capture_on_commit_callbacks):
    from config.redis import reset_clients

    redis_server.stop()
    reset_clients()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            result = checkout.order_checkout(owner="session:x", user_id=None,
                                             lines=[stock.CartLine(product.pk, 1)], idempotency_key="k")
    finally:
        redis_server.start()
        reset_clients()
    assert result.created and OutboxMessage.objects.get().published_at is None
    product.refresh_from_db()
    assert product.stock == 4  # the database guard alone protected the stock
    assert checkout.outbox_relay_once(grace=__import__("datetime").timedelta(0)) == 1
    assert [f["order_id"] for _, f in raw_redis.xrange(keys.orders_stream())] == [str(result.order.pk)]
    assert checkout.outbox_relay_once(grace=__import__("datetime").timedelta(0)) == 0


def test_the_checkout_api_keeps_taking_orders_while_redis_is_down_and_its_limit_holds(
        client, product, redis_server, settings):
    """The README's promise (checkout works without Redis) and the limit's policy (``fail: "local"``) agree.

    With sessions in the database: Redis sessions (the default) cannot tell a visitor apart while Redis
    is down, and checkout then answers 503 (the README says so); the limiter's policy is what is tested here.
    """
    from config import ratelimit
    from config.redis import reset_clients

    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    settings.RATELIMIT_RULES = {**settings.RATELIMIT_RULES,
                                "checkout": {**settings.RATELIMIT_RULES["checkout"], "limit": 2}}
    redis_server.stop()
    reset_clients()
    try:
        codes = [post(client, items(product), **{"Idempotency-Key": f"down-{n}"}).status_code for n in range(3)]
    finally:
        redis_server.start()
        reset_clients()
    assert codes == [202, 202, 429]  # taken without Redis, then the per-process fallback's limit
    assert Order.objects.count() == 2 and OutboxMessage.objects.filter(published_at__isnull=True).count() == 2
    assert ratelimit.rules()["checkout"].fail == "local"


def test_order_process_is_idempotent_and_announces_each_status(product, raw_redis,
                                                             django_capture_on_commit_callbacks):
    from realtime.keys import events_stream
    from redis_patterns.event_log import to_event
    from shop.models import Fulfilment

    result = checkout.order_checkout(owner="session:p", user_id=None, lines=[stock.CartLine(product.pk, 1)])
    with django_capture_on_commit_callbacks(execute=True):
        assert orders.order_process(order_id=result.order.pk, consumer="c") == "completed"
        assert orders.order_process(order_id=result.order.pk, consumer="c") == "duplicate"
    assert Fulfilment.objects.filter(order=result.order).count() == 1
    events = [to_event(i, f) for i, f in raw_redis.xrange(events_stream("session:p"))]
    assert [(e["type"], e["status"]) for e in events] == [("order.status", "processing"),
                                                          ("order.status", "completed")]
    with pytest.raises(orders.OrderNotFoundError):
        orders.order_process(order_id=123456)


def test_cart_api_is_a_hash_per_visitor(client, product, raw_redis):
    res = client.post("/api/cart/items", data=json.dumps({"product_id": product.pk, "quantity": 2}),
                      content_type="application/json")
    assert res.status_code == 200 and res.json()["quantity"] == 2
    client.post("/api/cart/items", data=json.dumps({"product_id": product.pk, "quantity": 1}),
                content_type="application/json")
    assert client.get("/api/cart").json() == {"items": [{"product_id": product.pk, "quantity": 3}]}
    owner = f"session:{client.session.session_key}"
    assert 0 < raw_redis.ttl(keys.cart(owner)) <= checkout.CART_TTL_SECONDS
    assert Client().get("/api/cart").json() == {"items": []}
    bad = client.post("/api/cart/items", data=json.dumps({"product_id": 999999, "quantity": 1}),
                      content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"] == "unknown_product"
    assert client.post("/api/cart/items", data="x", content_type="application/json").status_code == 400


def test_a_warm_checkout_sends_four_round_trips_of_its_own(product, django_capture_on_commit_callbacks):
    from redis_patterns.tracing import tracing

    lines = [stock.CartLine(product.pk, 1)]
    checkout.order_checkout(owner="session:rt", user_id=None, lines=lines, idempotency_key="warm-up")
    with tracing() as trace, django_capture_on_commit_callbacks(execute=True):
        checkout.order_checkout(owner="session:rt", user_id=None, lines=lines, idempotency_key="second")
    own = [rt.describe()[0] for rt in trace.round_trips
           if any(row["key"].startswith(("t:idem", "t:stock", "t:{orders}")) for row in rt.describe())]
    # claim the key, reserve the stock, record the result, XADD after the commit
    # (the test's transaction runs on_commit callbacks last; in autocommit the XADD comes third)
    assert [(row["name"], row["key"].split(":")[1]) for row in own] == [
        ("FCALL", "idem"), ("FCALL", "stock"), ("FCALL", "idem"), ("XADD", "{orders}")]


def test_cart_lines_are_clamped_and_removed_atomically(client, product, raw_redis):
    def add(quantity: int) -> int:
        return client.post("/api/cart/items", data=json.dumps({"product_id": product.pk, "quantity": quantity}),
                           content_type="application/json").json()["quantity"]

    assert add(60) == 60
    assert add(60) == checkout.MAX_QUANTITY
    assert add(-100) == 0
    owner = f"session:{client.session.session_key}"
    assert raw_redis.exists(keys.cart(owner)) == 0  # the last line went, and the empty hash with it
    assert add(-1) == 0 and raw_redis.exists(keys.cart(owner)) == 0


def test_order_process_is_one_transaction_of_three_statements_whatever_the_items(product, second):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from shop.models import Order, OrderItem

    def order_of(lines: list[tuple[Product, int]]) -> int:
        order = Order.objects.create(owner="session:q", total=Decimal("1.00"))
        OrderItem.objects.bulk_create([OrderItem(order=order, product=p, quantity=q, unit_price=p.price)
                                       for p, q in lines])
        return order.pk

    small, large = order_of([(product, 1)]), order_of([(product, 1), (second, 1)] * 3)
    counts = []
    for order_id in (small, large):
        with CaptureQueriesContext(connection) as queries:
            assert orders.order_process(order_id=order_id, consumer="c") == "completed"
        counts.append([q["sql"].split()[0] for q in queries.captured_queries])
    # read the order (with whether it has items), the guarded UPDATE, the fulfilment row (plus the
    # transaction's own SAVEPOINT/RELEASE inside the test's transaction): the same for 1 item and for 6
    assert counts[0] == counts[1]
    assert [q for q in counts[0] if q not in ("SAVEPOINT", "RELEASE")] == ["SELECT", "UPDATE", "INSERT"]

    failed = Order.objects.create(owner="session:q", total=Decimal("1.00"))  # no items: fails
    assert orders.order_process(order_id=failed.pk) == "failed"


def test_a_batch_of_orders_is_one_transaction_of_the_same_statements_whatever_its_size(
        product, second, raw_redis, django_capture_on_commit_callbacks):
    """``order_process_many``: each order's own outcome, in one transaction whose statements do not grow with
    the batch; an unknown order fails alone; a completed one, or one named twice, is a duplicate."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from realtime.keys import events_stream
    from redis_patterns.event_log import to_event
    from shop.models import Fulfilment, OrderItem

    def order_of(owner: str, with_items: bool = True) -> int:
        order = Order.objects.create(owner=owner, total=Decimal("1.00"))
        if with_items:
            OrderItem.objects.create(order=order, product=product, quantity=1, unit_price=product.price)
        return order.pk

    def statements(batch: list[tuple[int, str]]) -> tuple[list, list[str]]:
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
            results = orders.order_process_many(batch, consumer="c")
        return results, [q["sql"].split()[0] for q in queries.captured_queries
                         if q["sql"].split()[0] not in ("SAVEPOINT", "RELEASE")]

    two = [(order_of("session:a"), "1-0"), (order_of("session:b"), "2-0")]
    small, small_sql = statements(two)
    assert small == ["completed", "completed"]
    ten = [(order_of(f"session:m{i}"), f"{i + 10}-0") for i in range(10)]
    large, large_sql = statements(ten)
    assert large == ["completed"] * 10
    # read and lock the orders, one guarded UPDATE, one INSERT of the fulfilment rows: 2 orders or 10
    assert small_sql == large_sql == ["SELECT", "UPDATE", "INSERT"]
    assert Fulfilment.objects.filter(order_id__in=[pk for pk, _ in ten]).count() == 10
    assert Fulfilment.objects.get(order_id=ten[3][0]).message_id == "13-0"

    empty = order_of("session:e", with_items=False)
    fresh = order_of("session:f")
    mixed, _ = statements([(ten[0][0], "20-0"), (123456, "21-0"), (empty, "22-0"), (fresh, "23-0"),
                           (fresh, "24-0")])
    assert mixed[0] == "duplicate" and isinstance(mixed[1], orders.OrderNotFoundError)
    assert mixed[2:] == ["failed", "completed", "duplicate"]
    assert Order.objects.get(pk=empty).failure_reason == "the order has no items"
    assert Fulfilment.objects.filter(order_id=fresh).count() == 1
    assert Fulfilment.objects.get(order_id=fresh).message_id == "23-0"  # the first message that named it
    events = [to_event(i, f) for i, f in raw_redis.xrange(events_stream("session:f"))]
    assert [e["status"] for e in events] == ["processing", "completed"]  # announced once, in order
    assert orders.order_process_many([]) == []


def _place(product: Product, n: int, capture) -> list[Order]:
    placed = []
    for i in range(n):
        with capture(execute=True):
            placed.append(checkout.order_checkout(owner=f"session:r{i}", user_id=None,
                                                  lines=[stock.CartLine(product.pk, 1)]).order)
    return placed


def test_the_reconciler_publishes_again_what_redis_lost_after_publishing(
        product, raw_redis, django_capture_on_commit_callbacks):
    from datetime import timedelta

    lost, kept = _place(product, 2, django_capture_on_commit_callbacks)
    stream = keys.orders_stream()
    assert all(m.published_at for m in OutboxMessage.objects.all())
    # Redis loses the first one's entry (a restart without persistence, a failover to a lagging replica)
    lost_id = OutboxMessage.objects.get(payload__order_id=lost.pk).stream_id
    raw_redis.xdel(stream, lost_id)
    assert checkout.outbox_reconcile().checked == 0  # not stale yet: the workers may be on it
    report = checkout.outbox_reconcile(stale_after=timedelta(0))
    assert (report.checked, report.missing, report.republished) == (2, 1, 1)
    again = OutboxMessage.objects.get(payload__order_id=lost.pk)
    assert again.attempts == 2 and again.stream_id != lost_id
    assert [f["order_id"] for _, f in raw_redis.xrange(stream)] == [str(kept.pk), str(lost.pk)]
    # found now: nothing more to do; a completed order is never looked at
    assert checkout.outbox_reconcile(stale_after=timedelta(0)).missing == 0
    orders.order_process(order_id=lost.pk)
    orders.order_process(order_id=kept.pk)
    assert checkout.outbox_reconcile(stale_after=timedelta(0)).checked == 0


def test_a_message_lost_again_and_again_fails_its_order_visibly(product, raw_redis,
                                                               django_capture_on_commit_callbacks):
    from datetime import timedelta

    from realtime.keys import events_stream
    from redis_patterns.event_log import to_event

    (order,) = _place(product, 1, django_capture_on_commit_callbacks)
    product.refresh_from_db()
    assert product.stock == 4
    for _ in range(checkout.MAX_REPUBLISH):
        raw_redis.delete(keys.orders_stream())
        assert checkout.outbox_reconcile(stale_after=timedelta(0)).republished == 1
    raw_redis.delete(keys.orders_stream())
    with django_capture_on_commit_callbacks(execute=True):
        report = checkout.outbox_reconcile(stale_after=timedelta(0))
    assert (report.republished, report.given_up) == (0, 1)
    order.refresh_from_db()
    assert order.status == Order.Status.FAILED and "lost by Redis" in order.failure_reason
    product.refresh_from_db()
    assert product.stock == 5  # its unit went back
    told = [to_event(i, f) for i, f in raw_redis.xrange(events_stream(order.owner))]
    assert told[-1]["status"] == "failed"  # the owner sees it
