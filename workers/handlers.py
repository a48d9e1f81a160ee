"""Stream consumers of this app: which stream, which handler (thin adapters over services).

``run_stream_worker <name>`` looks the name up in ``STREAMS``.  A handler
turns a stream message into a service call and raises when it cannot: the
worker then leaves the entry pending, retries it, and dead-letters it after
``max_deliveries``.  A stream may also have a batch handler, which turns the
whole batch into one service call and reports a result per message (the
orders stream: ``order_process_many``, one transaction per batch).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import close_old_connections
from redis.exceptions import RedisError

from config.redis import get_redis
from ops import metrics
from redis_patterns.streams import BatchHandler, Handler, Message, WorkerConfig
from shop.orders import order_process, order_process_many
from workers import keys

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamSpec:
    """A consumable stream: its keys and a handler factory (given the worker's config)."""

    name: str
    stream: Callable[[str | None], str]
    dead_letter: Callable[[str | None], str]
    stats: Callable[[str, str | None], str]
    make_handler: Callable[[WorkerConfig], Handler]
    #: optional: handles a whole batch at once (``StreamWorker(handle_many=...)``)
    make_batch_handler: Callable[[WorkerConfig], BatchHandler] | None = None


def order_id_of(msg: Message) -> int:
    """The message's ``order_id``: a positive integer a database key can hold, or ``ValueError``.

    Checked here, not by the database: a number past 2**63 - 1 makes SQLite's driver raise
    ``OverflowError`` (PostgreSQL finds no row), and in a batch that would roll the whole batch back.
    """
    raw = msg.fields.get("order_id", "")
    try:
        order_id = int(raw)
    except ValueError:
        raise ValueError(f"order_id {raw[:40]!r} is not an integer") from None
    if not 0 < order_id < 2**63:
        raise ValueError(f"order_id {raw[:40]!r} is out of range")
    return order_id


def _count_duplicates(config: WorkerConfig, n: int) -> None:
    """Redeliveries (killed before XACK) or republished outbox messages absorbed by the guarded
    transition: counted in the stats hash, so the lab can show it happened (best effort)."""
    if config.stats:
        try:
            get_redis().hincrby(config.stats, "duplicates_absorbed", n)
        except RedisError:
            pass


def order_handler(config: WorkerConfig) -> Handler:
    """The orders stream's handler: ``order_process`` for the message's ``order_id``."""

    @metrics.stream_handler("orders", config.group)
    def handle(msg: Message) -> None:
        order_id = order_id_of(msg)
        outcome = order_process(order_id=order_id, consumer=config.consumer, message_id=msg.id)
        if outcome == "duplicate":
            _count_duplicates(config, 1)
        log.debug("%s: order %s -> %s", config.consumer, order_id, outcome)

    return handle


def order_batch_handler(config: WorkerConfig) -> BatchHandler:
    """The orders stream's batch handler: ``order_process_many``, one transaction for the whole batch.

    A message whose ``order_id`` is not an integer, or names no order, fails
    alone (its slot holds the error; the worker retries and dead-letters it).
    If the batch's transaction itself fails (a database error, or an order
    that moved under it: ``BatchConflictError``) nothing of it committed, and
    the worker handles the batch again one message at a time with
    ``order_handler``.
    """

    def handle_many(batch: list[Message]) -> list[Exception | None]:
        results: list[Exception | None] = [None] * len(batch)
        parsed: list[tuple[int, int, str]] = []  # (slot, order id, message id)
        for slot, msg in enumerate(batch):
            try:
                parsed.append((slot, order_id_of(msg), msg.id))
            except ValueError as exc:
                results[slot] = exc
        t0 = time.perf_counter()
        outcomes = order_process_many([(order_id, message_id) for _, order_id, message_id in parsed],
                                      consumer=config.consumer)
        duplicates = 0
        for (slot, _, _), outcome in zip(parsed, outcomes, strict=True):
            if isinstance(outcome, Exception):
                results[slot] = outcome
            elif outcome == "duplicate":
                duplicates += 1
        failed = sum(result is not None for result in results)
        metrics.stream_batch_handled("orders", config.group, len(batch) - failed, failed, time.perf_counter() - t0)
        if duplicates:
            _count_duplicates(config, duplicates)
        return results

    return handle_many


def before_batch(_batch: list[Message]) -> None:
    """Per batch, like Django does per request: drop database connections past their age or broken."""
    close_old_connections()


STREAMS: dict[str, StreamSpec] = {
    "orders": StreamSpec("orders", keys.orders_stream_for, keys.orders_dead_letter, keys.orders_stats,
                         order_handler, order_batch_handler),
}
