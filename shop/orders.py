"""Order status: processing an order, and announcing each change (the writes after checkout).

``order_process`` is what fulfilling an order means to the shop: pending ->
processing -> completed | failed, each step a guarded ``UPDATE ... WHERE
status = <expected>`` so a redelivered message changes nothing, and the side
effect (a ``Fulfilment`` row) written in the same transaction as the final
transition.  The shop does not know who calls it: the stream workers of
``workers/`` do, for each entry of the ``orders`` stream.

Every status change is announced after its transaction commits, through
``realtime.services.notify`` (the one way any app tells a browser
something), from ``status_announce`` only.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from realtime.services import notify
from shop.models import Fulfilment, Order, OrderItem, Product
from shop.stock import CartLine, stock_release

log = logging.getLogger(__name__)


class OrderNotFoundError(Exception):
    """A stream message names an order the database does not have (a poison message)."""


def status_announce(owner: str, order_id: int, status: str, reason: str = "") -> None:
    """Tell the order's owner its new status (best effort: never undoes or blocks a committed change)."""
    data: dict[str, Any] = {"order_id": order_id, "status": str(status)}
    if reason:
        data["failure_reason"] = reason
    notify(owner, "order.status", data)


def _transition(order: Order, from_status: str, to_status: str, reason: str = "") -> bool:
    """Move ``order`` from one status to the next iff it is still in ``from_status``.

    Must run inside a transaction; the announcement is sent after it commits.
    """
    changed = Order.objects.filter(pk=order.pk, status=from_status).update(
        status=to_status, failure_reason=reason[:200], updated_at=timezone.now())
    if changed:
        transaction.on_commit(lambda: status_announce(order.owner, order.pk, to_status, reason))
    return bool(changed)


def order_process(*, order_id: int, consumer: str = "", message_id: str = "") -> str:
    """Process one order; safe to call any number of times for the same order.

    Returns the outcome: ``"completed"``, ``"failed"``, or ``"duplicate"``
    (already done: a redelivered or republished message; nothing changes).
    Raises ``OrderNotFoundError`` for an unknown order (the worker retries
    it, then dead-letters it).
    """
    order = Order.objects.filter(pk=order_id).only("pk", "owner", "status").first()
    if order is None:
        raise OrderNotFoundError(f"order {order_id} does not exist")
    if order.status in (Order.Status.COMPLETED, Order.Status.FAILED):
        return "duplicate"
    if order.status == Order.Status.PENDING:
        with transaction.atomic():
            _transition(order, Order.Status.PENDING, Order.Status.PROCESSING)
    with transaction.atomic():
        items = list(OrderItem.objects.filter(order_id=order.pk).values_list("product_id", "quantity"))
        reason = "" if items else "the order has no items"
        final = Order.Status.COMPLETED if not reason else Order.Status.FAILED
        # The guard: only the caller that moves processing -> final does the work.
        if not _transition(order, Order.Status.PROCESSING, final, reason):
            return "duplicate"
        if final == Order.Status.COMPLETED:
            Fulfilment.objects.create(order_id=order.pk, consumer=consumer[:100], message_id=message_id[:40])
        else:
            lines = [CartLine(pid, qty) for pid, qty in items]
            for line in lines:
                Product.objects.filter(pk=line.product_id).update(stock=F("stock") + line.quantity)
            transaction.on_commit(lambda: stock_release(lines))
    return str(final)


def order_give_up(*, order_id: int, reason: str) -> bool:
    """Fail an accepted order that cannot be processed, visibly: its owner is told, its stock goes back.

    For the outbox reconciler (``shop.checkout.outbox_reconcile``) when an
    order's message kept disappearing.  The same guarded transitions as
    ``order_process``: ``False`` (nothing changed) if the order finished meanwhile.
    """
    order = Order.objects.filter(pk=order_id).only("pk", "owner", "status").first()
    if order is None or order.status in (Order.Status.COMPLETED, Order.Status.FAILED):
        return False
    with transaction.atomic():
        if not _transition(order, str(order.status), Order.Status.FAILED, reason):
            return False
        lines = [CartLine(pid, qty) for pid, qty in OrderItem.objects.filter(order_id=order.pk)
                 .values_list("product_id", "quantity")]
        for line in lines:
            Product.objects.filter(pk=line.product_id).update(stock=F("stock") + line.quantity)
        transaction.on_commit(lambda: stock_release(lines))
    log.error("order %s failed: %s", order_id, reason)
    return True
