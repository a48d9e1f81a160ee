"""Order status: processing an order, and announcing each change (the writes after checkout).

``order_process_many`` is what fulfilling orders means to the shop: each
order pending -> completed | failed, a guarded ``UPDATE ... WHERE status IN
(pending, processing)`` so a redelivered message changes nothing, and the side
effect (a ``Fulfilment`` row) written in the same transaction; a whole batch
in one transaction (the workers' normal path: the statements and round trips
of a batch do not grow with it).  ``order_process`` is a batch of one.  The
shop does not know who calls them: the stream workers of ``workers/`` do, for
the entries of the ``orders`` stream.

Every status change is announced after its transaction commits, through
``realtime.services.notify_many`` (the way any app tells a browser
something), from ``status_announce_many`` only: a batch's announcements are
stored in one round trip.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from realtime.services import notify_many
from shop.models import Fulfilment, Order, OrderItem, Product
from shop.stock import CartLine, stock_release

log = logging.getLogger(__name__)


class OrderNotFoundError(Exception):
    """A stream message names an order the database does not have (a poison message)."""


def status_announce(owner: str, order_id: int, status: str, reason: str = "") -> None:
    """Tell the order's owner its new status (best effort: never undoes or blocks a committed change)."""
    status_announce_many([(owner, order_id, status, reason)])


def status_announce_many(changes: Sequence[tuple[str, int, str, str]]) -> None:
    """``status_announce`` for several ``(owner, order_id, status, reason)`` changes: one ``notify_many``.

    Their events are stored in one round trip and each owner sees its own in
    the order given (a batch's ``processing`` before its ``completed``).
    """
    events = []
    for owner, order_id, status, reason in changes:
        data: dict[str, Any] = {"order_id": order_id, "status": str(status)}
        if reason:
            data["failure_reason"] = reason
        events.append((owner, "order.status", data))
    notify_many(events)


class BatchConflictError(Exception):
    """An order of the batch changed between reading and writing it: process the batch one by one instead."""


def order_process(*, order_id: int, consumer: str = "", message_id: str = "") -> str:
    """Process one order; safe to call any number of times for the same order.

    Returns the outcome: ``"completed"``, ``"failed"``, or ``"duplicate"``
    (already done: a redelivered or republished message; nothing changes).
    Raises ``OrderNotFoundError`` for an unknown order (the worker retries
    it, then dead-letters it).

    A batch of one for ``order_process_many``, so the transition lives in one
    place: one transaction of three statements, whatever the number of items
    (read and lock the order with whether it has items, the guarded
    ``UPDATE ... WHERE status IN (pending, processing)``, the ``Fulfilment``
    row).  Only the caller that moves the order does the work; a caller whose
    guard finds it moved meanwhile (``BatchConflictError`` for a batch) was
    beaten to it by another delivery: a duplicate.  A worker killed before the
    commit leaves the order pending: the stream redelivers it.

    After the commit the owner is told ``processing`` (a worker has it) and
    then the final status, in that order.
    """
    try:
        (outcome,) = order_process_many([(order_id, message_id)], consumer=consumer)
    except BatchConflictError:
        return "duplicate"
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def order_process_many(orders: Sequence[tuple[int, str]], *, consumer: str = "") -> list[str | Exception]:
    """Process several orders in **one** transaction: each order's outcome, in order.

    ``orders`` is ``[(order_id, message_id), ...]``.  The result has one slot
    per order: ``"completed"``, ``"failed"`` (no items), ``"duplicate"``
    (already completed or failed, or named earlier in the batch), or an
    ``OrderNotFoundError`` (that order only; the others still commit).

    The one home of the transition (``order_process`` is a batch of one):
    read the orders (locked: ``SELECT ... FOR UPDATE`` on PostgreSQL), one
    guarded ``UPDATE ... WHERE status IN (pending, processing)`` for those
    that complete and one for those that fail, one ``INSERT`` of their
    fulfilment rows, one commit: at most four statements whatever the batch's
    size.  If an order moved between the read and the write (the guarded
    ``UPDATE`` changed fewer rows than it read: possible only without row
    locks), the transaction rolls back and ``BatchConflictError`` asks the
    caller to process the batch one order at a time, where each guard stands
    alone.
    """
    if not orders:
        return []
    wanted = [order_id for order_id, _ in orders]
    with transaction.atomic():
        found = {o.pk: o for o in (Order.objects.select_for_update(of=("self",)).filter(pk__in=wanted)
                                   .only("pk", "owner", "status")
                                   .annotate(has_items=Exists(OrderItem.objects.filter(order_id=OuterRef("pk")))))}
        results: list[str | Exception] = []
        complete: list[Order] = []
        fail: list[Order] = []
        firsts: dict[int, str] = {}  # an order named twice in one batch is done once, by its first message
        for order_id, message_id in orders:
            order = found.get(order_id)
            if order is None:
                results.append(OrderNotFoundError(f"order {order_id} does not exist"))
            elif order.status in (Order.Status.COMPLETED, Order.Status.FAILED) or order_id in firsts:
                results.append("duplicate")
            else:
                firsts[order_id] = message_id
                (complete if order.has_items else fail).append(order)
                results.append(str(Order.Status.COMPLETED if order.has_items else Order.Status.FAILED))
        now = timezone.now()
        open_statuses = (Order.Status.PENDING, Order.Status.PROCESSING)
        reason = "the order has no items"
        for group, final, why in ((complete, Order.Status.COMPLETED, ""), (fail, Order.Status.FAILED, reason)):
            if group and Order.objects.filter(pk__in=[o.pk for o in group], status__in=open_statuses).update(
                    status=final, failure_reason=why, updated_at=now) != len(group):
                raise BatchConflictError("an order of the batch changed meanwhile")
        Fulfilment.objects.bulk_create([Fulfilment(order_id=o.pk, consumer=consumer[:100],
                                                   message_id=firsts[o.pk][:40]) for o in complete])
        changes: list[tuple[str, int, str, str]] = []  # announced together once the batch commits
        for group, final, why in ((complete, Order.Status.COMPLETED, ""), (fail, Order.Status.FAILED, reason)):
            for order in group:
                if order.status == Order.Status.PENDING:
                    changes.append((order.owner, order.pk, Order.Status.PROCESSING, ""))
                changes.append((order.owner, order.pk, final, why))
        if changes:
            transaction.on_commit(lambda: status_announce_many(changes))
    return results


def orders_adopt(*, from_owner: str, to_owner: str, user_id: int) -> int:
    """Give a visitor's orders to the account it just logged in to (at login); returns how many moved.

    One ``UPDATE``: the orders placed anonymously (``session:<key>``) are
    the user's from now on (``GET /api/orders/<id>``, status notifications,
    the checkout page's list).  Only anonymous orders move, never another
    user's.
    """
    if not from_owner.startswith("session:") or from_owner == to_owner:
        return 0
    return Order.objects.filter(owner=from_owner).update(owner=to_owner, user_id=user_id)


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
        changed = Order.objects.filter(pk=order.pk, status=order.status).update(
            status=Order.Status.FAILED, failure_reason=reason[:200], updated_at=timezone.now())
        if not changed:
            return False
        owner, pk = order.owner, order.pk
        transaction.on_commit(lambda: status_announce(owner, pk, Order.Status.FAILED, reason))
        lines = [CartLine(pid, qty) for pid, qty in OrderItem.objects.filter(order_id=order.pk)
                 .values_list("product_id", "quantity")]
        for line in lines:
            Product.objects.filter(pk=line.product_id).update(stock=F("stock") + line.quantity)
        transaction.on_commit(lambda: stock_release(lines))
    log.error("order %s failed: %s", order_id, reason)
    return True
