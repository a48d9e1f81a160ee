"""The drill of issue #10: pause the stream workers, place orders, restart Redis empty, resume.

Every accepted order (202) must end ``completed`` within 90 s, each fulfilled
once, with the real parts: uvicorn worker processes taking the orders, a
``run_stream_worker`` process with its relay and reconciler (as ``make run``
starts it), and the test session's redis-server restarted without
persistence, so the stream and every entry in it are gone.
"""

from __future__ import annotations

import signal
import time

import pytest
from django.db.models import Count

from shop.models import Fulfilment, Order, OutboxMessage
from tests.conftest import wait_for
from tests.httpclient import Visitor
from tests.processes import make_product

pytestmark = pytest.mark.slow


def place(base: str, product_id: int, n: int, tag: str) -> list[int]:
    """``n`` orders from ``n`` visitors through the API; each must be accepted (202)."""
    ids = []
    for i in range(n):
        visitor = Visitor(base)
        visitor.open("/checkout/")
        status, _, body = visitor.json("POST", "/api/orders", {"items": [{"product_id": product_id, "quantity": 1}]},
                                       headers={"Idempotency-Key": f"drill-{tag}-{i}"})
        assert status == 202, body
        ids.append(body["order_id"])
    return ids


def test_every_accepted_order_completes_after_redis_restarts_empty_under_paused_workers(
        web_server, start_worker, redis_server, raw_redis):
    product = make_product(stock=1000)
    worker = start_worker("drill", relay=True)  # the worker, its relay and the reconciler, default timings
    wait_for(lambda: raw_redis.exists("t:{orders}:stream"), timeout=30)  # the group exists: the worker is up

    worker.send_signal(signal.SIGSTOP)  # paused: nothing is consumed from here on
    try:
        before = place(web_server, product.pk, 12, "before")
        assert raw_redis.xlen("t:{orders}:stream") == 12  # published, and marked so in the outbox
        assert OutboxMessage.objects.filter(published_at__isnull=True).count() == 0

        redis_server.stop()  # no persistence: it comes back empty, the stream and its group gone
        redis_server.start()
        after = place(web_server, product.pk, 8, "after")
    finally:
        worker.send_signal(signal.SIGCONT)
    resumed = time.monotonic()

    accepted = before + after
    wait_for(lambda: Order.objects.filter(pk__in=accepted, status="completed").count() == len(accepted),
             timeout=90, interval=0.5)
    took = time.monotonic() - resumed
    per_order = dict(Fulfilment.objects.filter(order_id__in=accepted).values_list("order_id")
                     .annotate(n=Count("id")).values_list("order_id", "n"))
    assert sorted(per_order) == sorted(accepted) and set(per_order.values()) == {1}  # none lost, none twice
    # the orders lost with the stream were published again; the 8 placed after the restart never needed it
    republished = set(OutboxMessage.objects.filter(attempts__gt=1).values_list("payload__order_id", flat=True))
    assert republished and republished <= set(before)
    assert "published again" in start_worker.log(worker)
    assert took < 90
