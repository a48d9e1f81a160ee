"""The stream workers as real processes: crashes, poison messages, Redis restarts, lost groups."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import redis
from django.db.models import Count

from redis_patterns.servers import RedisServer
from tests.conftest import wait_for
from tests.processes import ROOT, make_orders, publish, status_counts
from workers import keys

pytestmark = pytest.mark.slow

GROUP = "fulfilment"


def _fulfilments_per_order() -> dict[int, int]:
    from shop.models import Fulfilment

    return dict(Fulfilment.objects.values_list("order_id").annotate(n=Count("id")).values_list("order_id", "n"))


def test_sigkill_after_handling_before_xack_every_order_completes_exactly_once(start_worker, raw_redis):
    order_ids = make_orders(300)
    publish(raw_redis, order_ids)
    stream = keys.orders_stream()

    # The victim handles batches of 20; after its third batch is handled (committed
    # in the database) it SIGKILLs itself before the XACK: the worst moment to die.
    victim = start_worker("victim", "--count", "20", "--crash-before-ack-after", "3")
    wait_for(lambda: victim.poll() is not None, timeout=60)
    assert victim.returncode == -signal.SIGKILL
    summary = raw_redis.xpending(stream, GROUP)
    assert summary["consumers"] == [{"name": "victim", "pending": 20}]
    assert status_counts().get("completed") == 60  # 40 acknowledged + 20 handled but never acknowledged

    rescuer = start_worker("rescuer", "--count", "50", "--claim-idle-ms", "500", "--claim-every", "0.2")
    wait_for(lambda: status_counts().get("completed") == 300 and raw_redis.xpending(stream, GROUP)["pending"] == 0,
             timeout=90)

    per_order = _fulfilments_per_order()
    assert sorted(per_order) == sorted(order_ids)           # no order lost
    assert set(per_order.values()) == {1}                   # no duplicate side effect
    stats = raw_redis.hgetall(keys.orders_stats(GROUP))
    # The 20 handled-but-unacknowledged entries were delivered again and absorbed.
    assert int(stats["duplicates_absorbed"]) == 20
    assert rescuer.poll() is None
    assert "claimed 20 entries" in start_worker.log(rescuer)


def test_poison_message_is_dead_lettered_after_n_deliveries_and_the_rest_flow(start_worker, raw_redis):
    order_ids = make_orders(40)
    stream, dead = keys.orders_stream(), keys.orders_dead_letter()
    publish(raw_redis, order_ids[:20])
    poison = raw_redis.xadd(stream, {"order_id": "not-a-number"})
    missing = raw_redis.xadd(stream, {"order_id": "987654321"})  # no such order
    publish(raw_redis, order_ids[20:])

    start_worker("w1", "--count", "10", "--max-deliveries", "3", "--claim-idle-ms", "200", "--claim-every", "0.1")
    wait_for(lambda: raw_redis.xlen(dead) == 2 and status_counts().get("completed") == 40, timeout=60)

    entries = {fields["dead_origin_id"]: fields for _, fields in raw_redis.xrange(dead)}
    assert set(entries) == {poison, missing}
    assert entries[poison]["order_id"] == "not-a-number"
    assert entries[poison]["dead_deliveries"] == "3"
    assert "not an integer" in entries[poison]["dead_error"]
    assert "does not exist" in entries[missing]["dead_error"]
    wait_for(lambda: raw_redis.xpending(stream, GROUP)["pending"] == 0, timeout=10)


def test_worker_recovers_by_itself_when_redis_restarts(start_worker, redis_server_factory):
    server: RedisServer = redis_server_factory(config={"appendonly": "yes", "appendfsync": "always"})
    client = redis.Redis(host=server.host, port=server.port, decode_responses=True)
    order_ids = make_orders(100)
    worker = start_worker("w1", "--count", "10", redis_url=server.url)
    publish(client, order_ids[:50])
    wait_for(lambda: status_counts().get("completed") == 50, timeout=30)

    server.stop()  # SHUTDOWN: the AOF is complete
    # Down long enough for the client's own short retries to give up: the worker's backoff takes over.
    wait_for(lambda: "Redis unavailable" in start_worker.log(worker), timeout=30)
    server.start()  # same port, same directory: the stream and the group come back from the AOF
    client = redis.Redis(host=server.host, port=server.port, decode_responses=True)
    publish(client, order_ids[50:])
    wait_for(lambda: status_counts().get("completed") == 100, timeout=60)
    assert worker.poll() is None  # the same process, never restarted
    assert set(_fulfilments_per_order().values()) == {1}
    client.close()


def test_worker_recreates_its_group_on_nogroup(start_worker, raw_redis):
    order_ids = make_orders(20)
    stream = keys.orders_stream()
    worker = start_worker("w1")
    publish(raw_redis, order_ids[:10])
    wait_for(lambda: status_counts().get("completed") == 10, timeout=30)
    # What a restart without persistence does: the stream and its group are gone.
    raw_redis.delete(stream)
    publish(raw_redis, order_ids[10:])
    wait_for(lambda: status_counts().get("completed") == 20, timeout=30)
    assert worker.poll() is None
    assert "re-creating the group" in start_worker.log(worker)


@pytest.mark.parametrize("mode", [(), ("--one-by-one",)], ids=["batch", "one-by-one"])
def test_sigterm_finishes_the_batch_acknowledges_and_leaves(start_worker, raw_redis, mode):
    order_ids = make_orders(200)
    publish(raw_redis, order_ids)
    stream = keys.orders_stream()
    worker = start_worker("w1", "--count", "50", *mode)
    wait_for(lambda: status_counts().get("completed", 0) > 0, timeout=30)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    # Whatever it took, it handled and acknowledged: nothing is left pending in its name.
    assert raw_redis.xpending(stream, GROUP)["pending"] == 0
    consumers = [c["name"] for c in raw_redis.xinfo_consumers(stream, GROUP)]
    assert "w1" not in consumers  # an empty consumer leaves the group on a clean exit
    assert "stop requested" in start_worker.log(worker)


def test_process_killed_between_commit_and_xadd_is_published_by_the_relay(start_worker, raw_redis, clean_db):
    """The outbox: a web process dies right after COMMIT, before its XADD; the relay publishes it."""
    from shop.models import OutboxMessage
    from tests.processes import make_product

    product = make_product(stock=5)
    script = (
        "import os, signal\n"
        "from django.db import transaction\n"
        "from shop import checkout\n"
        "with transaction.atomic():\n"
        "    # runs first among the on_commit callbacks: after COMMIT, before the publish\n"
        "    transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))\n"
        f"    checkout.order_checkout(owner='session:dead', user_id=None,\n"
        f"        lines=[checkout.CartLine({product.pk}, 2)], idempotency_key='k1')\n"
    )
    proc = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=clean_db.env(),
                          capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    message = OutboxMessage.objects.get()
    assert message.published_at is None
    assert raw_redis.xlen(keys.orders_stream()) == 0

    worker = subprocess.Popen([sys.executable, "manage.py", "run_stream_worker", "orders", "--consumer", "relay-w",
                               "--block-ms", "300", "--relay-every", "0.2"], cwd=ROOT, env=clean_db.env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: status_counts().get("completed") == 1, timeout=30)
    finally:
        os.kill(worker.pid, signal.SIGTERM)
        worker.wait(timeout=15)
    message.refresh_from_db()
    assert message.published_at is not None and message.stream_id
    product.refresh_from_db()
    assert product.stock == 3


def test_lab_streams_reports_nothing_lost_after_a_sigkill(clean_db, raw_redis):
    proc = subprocess.run(
        [sys.executable, "manage.py", "lab_streams", "--workers", "2", "--orders", "300", "--count", "10",
         "--claim-idle-ms", "500", "--poison", "1", "--timeout", "90"],
        cwd=ROOT, env=clean_db.env(), capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = proc.stdout
    assert "nothing lost, nothing done twice" in out
    lines = {line.strip().rsplit("  ", 1)[0].strip(): line.strip().rsplit("  ", 1)[1].strip()
             for line in out.splitlines() if "  " in line.strip()}
    assert lines["orders produced"] == "300" and lines["orders completed"] == "300"
    assert lines["orders lost"] == "0" and lines["duplicate side effects (orders fulfilled twice)"] == "0"
    assert lines["dead-lettered"] == "1"
    assert "SIGKILL lab-w" in out
    from shop.models import Order

    assert not Order.objects.filter(owner__startswith="lab:").exists()  # the lab cleans up after itself
