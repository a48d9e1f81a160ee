"""The key registry against a site that served traffic.

A broad run of the site's behaviour (catalog pages and API, cart and
checkout with its stream, the game, notifications over a WebSocket, the
pattern pages and their demos, login attempts under the rate limiter, the
Celery tasks, a stream worker) against the private server, then every key in
it is held against ``config.keyspace``:

- every key belongs to a declared family (``family_of``), of the declared type;
- the no-TTL report is empty: every key of a family that must expire has a TTL;
- ``manage.py keys`` lists every family, and ``--no-ttl`` agrees.

(``tests/conftest.py`` also audits the keys every other test leaves behind.)
"""

from __future__ import annotations

import io
import json
import uuid

import pytest
from asgiref.sync import async_to_sync
from django.core.management import CommandError, call_command

from config.keyspace import families, family_of
from ops import audit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _serve_traffic(client, staff, django_user_model) -> None:
    from shop.models import Category, Product

    call_command("seed_demo", products=36, quiet=True, stdout=io.StringIO())
    product = Product.objects.order_by("id").first()
    category = Category.objects.order_by("id").first()
    ok = lambda res: res.status_code < 500  # noqa: E731 - a 4xx is fine: the keys written are what is checked

    for path in ["/", "/shop/", f"/shop/c/{category.slug}/", f"/shop/products/{product.pk}/",
                 f"/shop/products/{product.pk}/", "/checkout/", "/leaderboard/", "/realtime/",
                 "/realtime/pubsub-vs-streams/", "/patterns/pipelining/", "/patterns/scripts/",
                 "/patterns/check-and-set/", "/patterns/rate-limiting/", "/patterns/caching/",
                 "/patterns/stampede/", "/patterns/hot-keys/", "/patterns/locks/", "/patterns/queues/",
                 "/healthz"]:
        assert ok(client.get(path)), path
    for _ in range(3):
        assert client.get(f"/api/products/{product.pk}").status_code == 200
    assert client.get("/api/products/999999").status_code == 404  # the remembered "not found"

    csrf = client.cookies["csrftoken"].value
    post = lambda path, body, **h: client.post(path, json.dumps(body), content_type="application/json",  # noqa: E731
                                               HTTP_X_CSRFTOKEN=csrf, **h)
    assert ok(post("/api/cart/items", {"product_id": product.pk, "quantity": 2}))
    assert post("/api/orders", {"items": [{"product_id": product.pk, "quantity": 1}]},
                HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())).status_code == 202
    for player, score in (("ada", 120), ("bob", 90), ("ada", 150)):
        assert ok(post("/api/leaderboards/reaction/scores", {"player": player, "score": score}))
    assert ok(client.get("/api/leaderboards/reaction/top?limit=5"))
    assert ok(client.get("/api/leaderboards/reaction/players/ada?around=2"))
    for i in range(3):
        client.post("/accounts/login/", {"username": "nobody", "password": f"wrong-{i}"})

    for path, data in [("/patterns/pipelining/", {}), ("/patterns/scripts/", {"action": "run"}),
                       ("/patterns/check-and-set/", {}), ("/patterns/stampede/", {"requests": "8", "load_ms": "5"}),
                       ("/patterns/hot-keys/", {"product": str(product.pk)}),
                       ("/patterns/locks/", {"action": "acquire"}), ("/patterns/locks/", {"action": "release"}),
                       ("/patterns/queues/", {"action": "push_priority", "label": "a", "priority": "1"}),
                       ("/patterns/queues/", {"action": "schedule", "label": "b", "delay_s": "30"}),
                       ("/patterns/queues/", {"action": "push_reliable", "label": "c"}),
                       ("/patterns/queues/", {"action": "take_die"}),
                       ("/patterns/queues/", {"action": "dedup", "job_id": "job-1"}),
                       ("/realtime/pubsub-vs-streams/", {})]:
        assert ok(client.post(path, data)), path
    for path, data in [("/patterns/caching/", {"action": "flush"}),
                       ("/patterns/caching/", {"action": "switches", "strategy": "write_through", "xfetch": "on"}),
                       ("/realtime/broadcast/", {"message": "Flash sale", "level": "info"})]:
        assert ok(staff.post(path, data)), path
    assert ok(staff.get("/ops/redis/reports/"))

    # Celery's periodic tasks, called as beat would have them run.
    from leaderboard.tasks import archive_daily_boards
    from shop.tasks import flush_view_counts, warm_product_cache
    from workers.tasks import promote_delayed_jobs, reap_reliable_queue, snapshot_queue_depths

    for task in (flush_view_counts, warm_product_cache, promote_delayed_jobs, reap_reliable_queue,
                 snapshot_queue_depths, archive_daily_boards):
        task.apply()

    # A WebSocket (channel layer, presence, the event log) and a stream worker's batch.
    from channels.testing import WebsocketCommunicator

    from config.asgi import application

    async def socket() -> None:
        comm = WebsocketCommunicator(application, "/ws/notifications/",
                                     headers=[(b"origin", b"http://testserver"), (b"host", b"testserver")])
        connected, _ = await comm.connect()
        assert connected
        await comm.receive_json_from(timeout=5)
        await comm.send_json_to({"action": "subscribe", "topic": "leaderboard:reaction"})
        await comm.send_json_to({"action": "heartbeat", "page": "/leaderboard/"})
        await comm.receive_json_from(timeout=5)
        await comm.disconnect()

    async_to_sync(socket)()

    from config.redis import build_client
    from redis_patterns.streams import StreamWorker
    from shop.checkout import outbox_relay_once
    from workers.handlers import STREAMS
    from workers.management.commands.run_stream_worker import worker_config

    outbox_relay_once()
    opts = {"stream": "orders", "group": "fulfilment", "count": 10, "block_ms": 100, "claim_idle_ms": 30_000,
            "claim_every": 5.0, "max_deliveries": 3, "trim_every": 30.0}
    cfg = worker_config(opts, "registry-w1")
    worker = StreamWorker(build_client(socket_timeout=5), cfg, STREAMS["orders"].make_handler(cfg))
    worker.setup()
    worker.run_once()
    worker.flush_stats()


def test_after_real_traffic_every_key_is_declared_and_every_expiring_key_has_its_ttl(
        client, django_user_model, raw_redis, settings):
    settings.ALLOWED_HOSTS = ["testserver", "localhost"]
    staff_user = django_user_model.objects.create_user("ops-registry", password="pw-registry-1", is_staff=True)
    from django.test import Client

    staff = Client()
    staff.force_login(staff_user)
    _serve_traffic(client, staff, django_user_model)

    result = audit.sample_keyspace(100_000)
    assert result.complete and len(result.samples) == raw_redis.dbsize()
    present = {s.family.pattern for s in result.samples if s.family}
    assert len(present) >= 20, f"the traffic should have written most families, wrote {sorted(present)}"
    assert [s.name for s in result.undeclared] == []
    assert [(s.name, s.type, s.family.type) for s in result.wrong_type] == []
    assert [s.name for s in result.no_ttl] == []

    out = io.StringIO()
    call_command("keys", "--no-ttl", "--scan", stdout=out)  # raises CommandError (exit 1) on a missing TTL
    text = out.getvalue()
    assert "no-TTL report: empty" in text
    for fam in families():
        assert fam.pattern in text


def test_an_undeclared_family_is_caught(raw_redis):
    """The check itself: a key nobody declared, or a cache key written without its TTL, is reported."""
    from shop.keys import product_key

    raw_redis.set("t:newfeature:{42}:state", "x", ex=60)
    raw_redis.set(product_key(42), "x")
    result = audit.sample_keyspace(1000)
    assert [s.name for s in result.undeclared] == ["t:newfeature:{42}:state"]
    assert [s.name for s in result.no_ttl] == [product_key(42)]
    assert family_of("t:newfeature:{42}:state", prefix="t") is None
    out = io.StringIO()
    with pytest.raises(CommandError, match="have no TTL"):
        call_command("keys", "--no-ttl", stdout=out)
    raw_redis.delete("t:newfeature:{42}:state")  # the per-test audit (tests/conftest.py) would refuse it too
