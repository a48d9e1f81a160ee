"""The orders stream's handlers in process: the batch handler the workers run, and the one-by-one fallback."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from redis_patterns.streams import StreamWorker, WorkerConfig
from tests.processes import make_orders, publish, status_counts
from workers import keys
from workers.handlers import order_batch_handler, order_handler

pytestmark = pytest.mark.django_db


def worker_for(client, **kw) -> StreamWorker:
    base = dict(stream=keys.orders_stream(), group="g", consumer="c1", dead_letter=keys.orders_dead_letter(),
                stats=keys.orders_stats("g"), count=10, block_ms=10, claim_idle_ms=0, claim_every_s=3600,
                trim_every_s=0, max_deliveries=3)
    cfg = WorkerConfig(**{**base, **kw})
    return StreamWorker(client, cfg, order_handler(cfg), handle_many=order_batch_handler(cfg))


def test_the_workers_batch_is_one_transaction_and_a_bad_message_fails_alone(r, raw_redis,
                                                                          django_capture_on_commit_callbacks):
    order_ids = make_orders(8)
    stream = keys.orders_stream()
    publish(raw_redis, order_ids[:4])
    bad = raw_redis.xadd(stream, {"order_id": "not-a-number"})
    missing = raw_redis.xadd(stream, {"order_id": "987654321"})
    huge = raw_redis.xadd(stream, {"order_id": str(10**25)})  # past what a database key holds
    publish(raw_redis, order_ids[4:])
    worker = worker_for(r, count=12)
    worker.setup()
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        assert worker.run_once() == 8
    writes = [q["sql"].split()[0] for q in queries.captured_queries if q["sql"].split()[0] in ("UPDATE", "INSERT")]
    assert writes == ["UPDATE", "INSERT"]  # eight orders: one guarded UPDATE, one INSERT of eight fulfilment rows
    assert status_counts() == {"completed": 8}
    assert {e["message_id"] for e in raw_redis.xpending_range(stream, "g", "-", "+", 20)} == {bad, missing, huge}
    assert worker.stats.failed == 3 and worker.stats.batch_fallbacks == 0  # each failed alone, in the batch

    # Delivered again (a worker killed before its XACK, or the outbox publishing twice): absorbed, counted.
    publish(raw_redis, order_ids[:3])
    with django_capture_on_commit_callbacks(execute=True):
        assert worker.run_once() == 3
    assert raw_redis.hget(keys.orders_stats("g"), "duplicates_absorbed") == "3"
    assert status_counts() == {"completed": 8}
