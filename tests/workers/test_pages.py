"""The checkout page, the staff streams page (with replay) and the check-and-set page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from redis_patterns import streams
from shop.models import Category, Product
from workers import keys

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    return client


def test_checkout_page_lists_products_and_sets_the_session_and_csrf_cookie(client):
    category = Category.objects.create(name="C", slug="c")
    Product.objects.create(category=category, name="Teapot", slug="teapot", description="", price=Decimal(9),
                           stock=3, image_hue=5)
    res = client.get("/checkout/")
    assert res.status_code == 200
    body = res.content.decode()
    assert "Teapot" in body and "Idempotency-Key" in body and "reserve_stock.lua" in body
    assert "csrftoken" in res.cookies and client.session.session_key
    assert "Redis on this page" in body


def test_streams_page_is_staff_only(client):
    res = client.get("/workers/streams/")
    assert res.status_code == 302 and "/admin/login/" in res["Location"]
    assert client.post("/workers/streams/replay/", {"id": "1-1"}).status_code == 302
    User.objects.create_user("joe", password="pw")
    client.login(username="joe", password="pw")
    assert client.get("/workers/streams/").status_code == 302


def test_streams_page_shows_groups_pending_lag_and_replays_a_dead_letter(staff_client, raw_redis):
    stream, dead = keys.orders_stream(), keys.orders_dead_letter()
    for i in range(3):
        raw_redis.xadd(stream, {"order_id": str(i)})
    streams.ensure_group(raw_redis, stream, "fulfilment")
    raw_redis.xreadgroup("fulfilment", "worker-1", {stream: ">"}, count=1)
    dead_id = raw_redis.xadd(dead, {"order_id": "x", "dead_origin_id": "1-1", "dead_deliveries": "5",
                                    "dead_group": "fulfilment", "dead_consumer": "worker-1",
                                    "dead_error": "ValueError: bad"})
    page = staff_client.get("/workers/streams/").content.decode()
    assert "worker-1" in page and "fulfilment" in page and "ValueError: bad" in page
    assert "Replay" in page
    # the code the workers run, highlighted (Pygments marks a function's name with class "nf")
    assert '<span class="nf">order_process_many</span>' in page
    assert '<span class="nf">publish_events</span>' in page
    assert '<span class="nf">order_batch_handler</span>' in page

    res = staff_client.post("/workers/streams/replay/", {"id": dead_id})
    assert res.status_code == 302
    assert raw_redis.xlen(dead) == 0
    assert raw_redis.xrevrange(stream, count=1)[0][1] == {"order_id": "x"}
    assert staff_client.post("/workers/streams/replay/", {"id": "nonsense"}).status_code == 302


def test_check_and_set_page_runs_the_race(client):
    assert client.get("/patterns/check-and-set/").status_code == 200
    page = client.post("/patterns/check-and-set/").content.decode()
    assert page.count("<td>lua</td>") == 1 and "<td>watch</td>" in page and "<td>naive</td>" in page
    assert "debit_if_enough.lua" in page


def test_home_links_the_new_pages(client):
    body = client.get("/").content.decode()
    assert "/checkout/" in body and "/patterns/check-and-set/" in body and "/workers/streams/" in body


def test_streams_page_shows_orders_not_done_and_messages_published_again(staff_client, raw_redis,
                                                                        django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from shop import checkout, stock
    from shop.models import Order, OutboxMessage

    category = Category.objects.create(name="C", slug="c")
    product = Product.objects.create(category=category, name="Pot", slug="pot", description="", price=Decimal(2),
                                     stock=9, image_hue=5)
    with django_capture_on_commit_callbacks(execute=True):
        order = checkout.order_checkout(owner="session:s", user_id=None, lines=[stock.CartLine(product.pk, 1)]).order
    raw_redis.delete(keys.orders_stream())  # Redis lost it
    Order.objects.filter(pk=order.pk).update(updated_at=timezone.now() - timedelta(minutes=2))
    OutboxMessage.objects.update(published_at=timezone.now() - timedelta(minutes=2))
    page = staff_client.get("/workers/streams/").content.decode()
    assert 'id="not-done">1<' in page and f"#{order.pk}" in page and 'id="republished">0<' in page
    checkout.outbox_reconcile()
    assert 'id="republished">1<' in staff_client.get("/workers/streams/").content.decode()
