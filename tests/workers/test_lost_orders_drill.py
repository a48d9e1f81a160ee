"""The drill of issue #10: pause the stream workers, place orders, restart Redis empty, resume.

Every accepted order (202) must end ``completed`` within 90 s, each fulfilled
once, with the real parts: uvicorn worker processes taking the orders, a
``run_stream_worker`` process with its relay and reconciler (as ``make run``
starts it), and the test session's redis-server restarted without
persistence, so the stream and every entry in it are gone.
"""

from __future__ import annotations

import signal
import subprocess
import sys
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

    start_worker.pause(worker)  # paused (outside a database transaction): nothing is consumed from here on
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


HOLDER = """
import sys, time
url = sys.argv[1]
if url.startswith("sqlite:"):
    import sqlite3
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
else:
    import psycopg
    conn = psycopg.connect(url)
    conn.execute("SELECT 1")  # psycopg opened a transaction: idle in transaction from here
print("holding", flush=True)
time.sleep(4)
conn.commit()
print("committed", flush=True)
time.sleep(60)
"""


def test_the_drill_pauses_a_worker_only_outside_a_transaction(start_worker):
    # the check behind pause(): caught inside a transaction, the process is let go and stopped again later
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, start_worker.db.url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(AssertionError, match="inside a transaction"):
            start_worker.pause(holder, timeout=1.0)  # the holder keeps its transaction for 4 s
        started = time.monotonic()
        start_worker.pause(holder)
        assert time.monotonic() - started > 0.5  # it waited for the commit...
        assert not start_worker._transaction_open()  # ...and is stopped with none open
        holder.send_signal(signal.SIGCONT)
        assert holder.stdout.readline().strip() == "committed"
    finally:
        holder.kill()
        holder.wait()
