"""Checkout, the transactional outbox, and the cart (the writes of buying something).

Checkout (``order_checkout``), in order:

1. Idempotency: claim the client's ``Idempotency-Key`` in Redis
   (``redis_patterns.idempotency``); a repeat gets the stored order, a
   different body with the same key a 409.  The database's unique
   (owner, key) constraint backs it up when Redis forgot the key.
2. Stock: reserve every line at once in Redis with one Lua script
   (``shop.stock``): concurrent buyers of the last units are turned away
   there, without touching the database.
3. One database transaction: the guarded stock decrement
   (``UPDATE ... SET stock = stock - q WHERE stock >= q``: the database stays
   the source of truth, and a drifted Redis value cannot oversell), the order,
   its lines, and an ``OutboxMessage``.  If anything fails the transaction
   rolls back, the Redis reservation is given back, and nothing is published.
4. After the commit (``transaction.on_commit``): ``XADD`` the outbox message
   to the ``orders`` stream and mark it published.  If the process dies
   before that, the relay (``outbox_relay_once``, run by
   ``run_stream_worker``) publishes it: at-least-once, and the order handler
   (``shop.orders.order_process``) is idempotent, so a message published
   twice is handled once.
5. An accepted order always completes or fails visibly, even when Redis
   loses the stream after the message was published (a restart without
   persistence, the last second of an AOF ``everysec``, a failover to a
   replica that had not caught up): the reconciler (``outbox_reconcile``, run
   by ``run_stream_worker`` every few seconds) looks up the stream entry of
   every order still pending or processing after ``RECONCILE_AFTER`` and
   publishes the message again when Redis no longer has it (the handler is
   idempotent).  A message that went missing more than ``MAX_REPUBLISH``
   times fails its order, visibly (``shop.orders.order_give_up``).

The shop publishes "order placed" to the ``orders`` stream and does not know
who consumes it (``workers/`` does, by calling ``shop.orders``).

Redis down: reservation falls back to the database guard alone, the
idempotency key to the unique constraint, and publishing to the relay.
Checkout keeps working; the order waits in the outbox until Redis is back.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from redis.exceptions import RedisError

from config.api import ApiError, Conflict
from config.redis import get_redis
from redis_patterns import hashttl, idempotency
from redis_patterns.scripts import loader
from shop import keys, orders, stack
from shop.models import Order, OrderItem, OutboxMessage, Product
from shop.stock import CartLine, OutOfStock, stock_forget, stock_release, stock_reserve

log = logging.getLogger(__name__)

MAX_LINES = 50
MAX_QUANTITY = 100
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,64}")
RELAY_GRACE = timedelta(seconds=2)  # the on_commit publisher normally gets there first
#: An order still pending or processing this long after its last change has its stream entry checked.
RECONCILE_AFTER = timedelta(seconds=15)
#: Publishes of one message after the first, when Redis keeps losing it; then the order fails visibly.
MAX_REPUBLISH = 3
CART_TTL_SECONDS = 7 * 24 * 3600
CART_LINE_TTL_SECONDS = 7 * 24 * 3600  # per line, where the server has hash-field TTL (redis_patterns.hashttl)


# --- errors --------------------------------------------------------------------------------


class InvalidCartError(ApiError):
    code = "invalid_cart"


class UnknownProductError(ApiError):
    code = "unknown_product"


class OutOfStockError(Conflict):
    code = "out_of_stock"


class IdempotencyKeyReusedError(Conflict):
    code = "idempotency_key_reused"


class IdempotencyInProgressError(Conflict):
    code = "request_in_progress"


# --- cart parsing ----------------------------------------------------------------------------


def _positive_int(value: Any, name: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidCartError(f"{name} must be an integer")
    if not 1 <= value <= maximum:
        raise InvalidCartError(f"{name} must be between 1 and {maximum}")
    return value


def cart_parse(payload: Any) -> list[CartLine]:
    """Validate ``{"items": [{"product_id": 1, "quantity": 2}, ...]}``; lines merged and sorted."""
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise InvalidCartError('expected {"items": [{"product_id": <id>, "quantity": <n>}, ...]}')
    items = payload["items"]
    if not items:
        raise InvalidCartError("the cart is empty")
    if len(items) > MAX_LINES:
        raise InvalidCartError(f"at most {MAX_LINES} lines per order")
    merged: dict[int, int] = {}
    for item in items:
        if not isinstance(item, dict):
            raise InvalidCartError("each item must be an object with product_id and quantity")
        pid = _positive_int(item.get("product_id"), "product_id", 2**62)
        merged[pid] = merged.get(pid, 0) + _positive_int(item.get("quantity"), "quantity", MAX_QUANTITY)
        if merged[pid] > MAX_QUANTITY:
            raise InvalidCartError(f"at most {MAX_QUANTITY} units of one product")
    return [CartLine(pid, qty) for pid, qty in sorted(merged.items())]


def idempotency_key_check(raw: str | None) -> str | None:
    """The ``Idempotency-Key`` header, validated (``None`` when absent)."""
    if raw is None or raw == "":
        return None
    if not IDEMPOTENCY_KEY.fullmatch(raw):
        raise InvalidCartError("Idempotency-Key: 1-64 characters of A-Z a-z 0-9 . _ : -")
    return raw


# --- checkout ---------------------------------------------------------------------------------


def checkout_fingerprint(lines: list[CartLine]) -> str:
    """What makes two checkout requests "the same body" for the Idempotency-Key."""
    return idempotency.fingerprint([[line.product_id, line.quantity] for line in lines])


@dataclass(frozen=True)
class CheckoutResult:
    order: Order
    created: bool  # False: an earlier request with the same Idempotency-Key made it


def order_checkout(*, owner: str, user_id: int | None, lines: list[CartLine],
                   idempotency_key: str | None = None, from_cart: bool = False) -> CheckoutResult:
    """Place an order: idempotency, stock reservation, one transaction, publish after commit.

    ``from_cart``: the lines are what the visitor's cart showed; once the
    order is created they are taken out of the cart (``cart_subtract``).  A
    replay (same ``Idempotency-Key``) changes the cart no further.

    Raises ``ApiError`` subclasses (400/409) for everything the client can
    fix or should know; ``IdempotencyInProgressError`` when another request
    with the same key is running (``order_checkout_waiting`` waits for it).

    Call it outside any transaction (in autocommit, as views run): the order
    commits inside, and publishing happens after that commit.  Inside an outer
    transaction that later rolls back, the Redis reservation would stay taken
    until the stock hash expires (an hour): under-selling, never overselling.
    """
    idempotency_key = idempotency_key_check(idempotency_key)
    request_hash = checkout_fingerprint(lines)
    claim = None
    if idempotency_key is not None:
        record = keys.idempotency_record(owner, idempotency_key)
        try:
            claim = idempotency.begin(get_redis(), record, request_hash)
        except RedisError as exc:
            log.warning("idempotency record unavailable (%s); relying on the database constraint", exc)
        if claim is not None and claim.state == "mismatch":
            raise IdempotencyKeyReusedError("this Idempotency-Key was used with a different request body")
        if claim is not None and claim.state == "pending":
            raise IdempotencyInProgressError("a request with this Idempotency-Key is still running",
                                             headers={"Retry-After": "1"})
        if claim is not None and claim.state == "done":
            order = Order.objects.filter(pk=int(claim.result or 0), owner=owner).first()
            if order is not None:
                return CheckoutResult(order, created=False)
        existing = _existing(owner, idempotency_key, request_hash, claim)
        if existing is not None:
            return existing
    try:
        order = _place_order(owner=owner, user_id=user_id, lines=lines, idempotency_key=idempotency_key,
                             request_hash=request_hash)
    except IntegrityError:
        # Same (owner, key) committed by a concurrent request that Redis did not stop.
        existing = _existing(owner, idempotency_key or "", request_hash, claim)
        if existing is None:
            raise
        return existing
    except BaseException:
        _release_claim(claim)
        raise
    _complete_claim(claim, order.pk)
    if from_cart:
        try:
            cart_subtract(owner=owner, lines=lines)
        except RedisError as exc:  # the order stands; the cart merely still shows what was bought
            log.warning("order %s placed but its lines are still in the cart (%s)", order.pk, exc)
    return CheckoutResult(order, created=True)


async def order_checkout_waiting(*, owner: str, user_id: int | None, lines: list[CartLine],
                                 idempotency_key: str | None = None, from_cart: bool = False,
                                 attempts: int = 3) -> CheckoutResult:
    """``order_checkout`` for async views: a request whose key is in flight waits for the other's result.

    Waiting happens on the event loop (``idempotency.await_done``), so it does
    not hold the one thread Django runs a process's sync views in.
    """
    from asgiref.sync import sync_to_async

    from config.redis import get_async_redis

    checkout = sync_to_async(order_checkout)
    for attempt in range(attempts):
        try:
            return await checkout(owner=owner, user_id=user_id, lines=lines, idempotency_key=idempotency_key,
                                  from_cart=from_cart)
        except IdempotencyInProgressError:
            if attempt == attempts - 1:
                raise
            try:
                await idempotency.await_done(get_async_redis(), keys.idempotency_record(owner, idempotency_key or ""),
                                             checkout_fingerprint(lines), timeout_s=10)
            except RedisError:
                pass
    raise AssertionError("unreachable")


def _existing(owner: str, idempotency_key: str, request_hash: str,
              claim: idempotency.Claim | None) -> CheckoutResult | None:
    order = Order.objects.filter(owner=owner, idempotency_key=idempotency_key).first()
    if order is None:
        return None
    if order.request_hash != request_hash:
        _release_claim(claim)
        raise IdempotencyKeyReusedError("this Idempotency-Key was used with a different request body")
    _complete_claim(claim, order.pk)
    return CheckoutResult(order, created=False)


def _complete_claim(claim: idempotency.Claim | None, order_id: int) -> None:
    if claim is not None and claim.acquired:
        try:
            idempotency.complete(get_redis(), claim, str(order_id))
        except RedisError as exc:
            log.warning("could not record the idempotency result (%s)", exc)


def _release_claim(claim: idempotency.Claim | None) -> None:
    if claim is not None and claim.acquired:
        try:
            idempotency.release(get_redis(), claim)
        except RedisError as exc:
            log.warning("could not release the idempotency key (%s); it expires by itself", exc)


def _place_order(*, owner: str, user_id: int | None, lines: list[CartLine], idempotency_key: str | None,
                 request_hash: str) -> Order:
    products = Product.objects.in_bulk([line.product_id for line in lines])
    unknown = [line.product_id for line in lines if line.product_id not in products]
    if unknown:
        raise UnknownProductError(f"no product with id {unknown[0]}", product_id=unknown[0])
    try:
        reserved = stock_reserve(lines)
    except OutOfStock as exc:
        raise OutOfStockError(str(exc), product_id=exc.product_id, available=exc.available) from None
    try:
        with transaction.atomic():
            for line in lines:
                # The database guard: whatever Redis said, never sell what the row does not have.
                taken = Product.objects.filter(pk=line.product_id, stock__gte=line.quantity).update(
                    stock=F("stock") - line.quantity)
                if not taken:
                    available = Product.objects.filter(pk=line.product_id).values_list("stock", flat=True).first()
                    raise OutOfStockError(f"only {available} left of product {line.product_id}",
                                          product_id=line.product_id, available=available or 0)
            total = sum((products[line.product_id].price * line.quantity for line in lines), Decimal(0))
            order = Order.objects.create(owner=owner, user_id=user_id, total=total,
                                         idempotency_key=idempotency_key, request_hash=request_hash)
            OrderItem.objects.bulk_create([
                OrderItem(order=order, product_id=line.product_id, quantity=line.quantity,
                          unit_price=products[line.product_id].price)
                for line in lines
            ])
            message = OutboxMessage.objects.create(topic=OutboxMessage.ORDERS, payload={"order_id": order.pk})
            transaction.on_commit(lambda: _after_checkout(order, message.pk))
    except OutOfStockError:
        if reserved:
            stock_release(lines)
            # Redis said yes, the database no: the hash drifted. Reload these fields.
            try:
                stock_forget([line.product_id for line in lines])
            except RedisError as exc:
                log.warning("could not drop drifted stock fields: %s", exc)
        raise
    except BaseException:
        if reserved:
            stock_release(lines)
        raise
    return order


def _after_checkout(order: Order, message_id: int) -> None:
    orders.status_announce(order.owner, order.pk, Order.Status.PENDING)
    try:
        outbox_publish(ids=[message_id])
    except RedisError as exc:
        log.warning("order %s committed but not published yet (%s); the relay will publish it", order.pk, exc)


# --- the outbox ------------------------------------------------------------------------------


def _stream_for(topic: str) -> str:
    if topic == OutboxMessage.ORDERS:
        return keys.orders_stream()
    raise ValueError(f"unknown outbox topic {topic!r}")


def outbox_publish(*, ids: list[int] | None = None, older_than: timedelta | None = None,
                   limit: int = 500) -> int:
    """``XADD`` unpublished outbox messages (one pipeline) and mark them published.

    Runs in a database transaction that locks the rows it publishes
    (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's
    ``IMMEDIATE`` transactions serialize writers), so two relays do not
    publish the same rows at the same time.  A crash after the ``XADD`` and
    before the commit publishes them again later: at-least-once.
    Returns how many were published.
    """
    with transaction.atomic():
        qs = OutboxMessage.objects.filter(published_at__isnull=True)
        if ids is not None:
            qs = qs.filter(pk__in=ids)
        if older_than is not None:
            qs = qs.filter(created_at__lte=timezone.now() - older_than)
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        rows = list(qs.order_by("id")[:limit])
        if not rows:
            return 0
        pipe = get_redis().pipeline(transaction=False)
        for row in rows:
            # No MAXLEN here: capping at write time could drop entries still pending.
            pipe.xadd(_stream_for(row.topic), {**{k: str(v) for k, v in row.payload.items()},
                                               "outbox_id": str(row.pk)})
        # The orders-per-minute series rides in the same round trip (shop.stack; at-least-once, like the stream).
        series_at = len(pipe)
        for row in rows:
            if row.topic == OutboxMessage.ORDERS:
                stack.queue_order_placed(pipe, at=row.created_at)
        stream_ids = pipe.execute()[:series_at]
        now = timezone.now()
        for row, stream_id in zip(rows, stream_ids, strict=True):
            row.published_at = now
            row.stream_id = stream_id
            row.attempts += 1
        OutboxMessage.objects.bulk_update(rows, ["published_at", "stream_id", "attempts"])
    return len(rows)


def outbox_relay_once(*, grace: timedelta = RELAY_GRACE, limit: int = 500) -> int:
    """Publish committed messages nobody published (the web process died, or Redis was down)."""
    published = outbox_publish(older_than=grace, limit=limit)
    if published:
        log.info("outbox relay published %d message(s) left behind", published)
    return published


@dataclass
class ReconcileReport:
    """What one reconciler pass did."""

    checked: int = 0  # published messages of orders still not done after RECONCILE_AFTER
    missing: int = 0  # ... whose stream entry Redis no longer had
    republished: int = 0
    given_up: int = 0  # missing more than MAX_REPUBLISH times: their orders failed


def outbox_reconcile(*, stale_after: timedelta = RECONCILE_AFTER, limit: int = 200) -> ReconcileReport:
    """Publish again the messages of accepted orders that Redis lost after they were published.

    The outbox relay covers a message never published; this covers one
    published and then lost with the stream.  Orders still ``pending`` or
    ``processing`` ``stale_after`` after their last change are looked up by
    their message's stream id (``XRANGE id id``, one pipelined round trip for
    the batch): an entry the stream still has is left to the workers (waiting,
    or pending in a consumer that ``XAUTOCLAIM`` will take over from); a
    missing one is published again.  Handled twice, a message changes nothing
    (``order_process`` is idempotent); one that went missing more than
    ``MAX_REPUBLISH`` times fails its order with a reason, rather than leave it
    pending forever.  Cheap when nothing is stuck: one indexed query.
    """
    report = ReconcileReport()
    cutoff = timezone.now() - stale_after
    stuck = list(Order.objects.filter(status__in=(Order.Status.PENDING, Order.Status.PROCESSING),
                                      updated_at__lte=cutoff).order_by("id").values_list("pk", flat=True)[:limit])
    if not stuck:
        return report
    rows = [row for row in OutboxMessage.objects.filter(topic=OutboxMessage.ORDERS, published_at__lte=cutoff)
            .exclude(stream_id="").filter(payload__order_id__in=stuck).order_by("id")]
    report.checked = len(rows)
    if not rows:
        return report
    pipe = get_redis().pipeline(transaction=False)
    for row in rows:
        pipe.xrange(_stream_for(row.topic), row.stream_id, row.stream_id)
    lost = [row for row, found in zip(rows, pipe.execute(), strict=True) if not found]
    report.missing = len(lost)
    again = [row for row in lost if row.attempts <= MAX_REPUBLISH]
    for row in lost:
        if row.attempts > MAX_REPUBLISH and orders.order_give_up(
                order_id=int(row.payload["order_id"]),
                reason=f"its message was lost by Redis {row.attempts} times; not retried again"):
            report.given_up += 1
    if again:
        # Guarded on the id we saw: a concurrent reconciler that already republished it wins.
        for row in again:
            OutboxMessage.objects.filter(pk=row.pk, stream_id=row.stream_id).update(published_at=None)
        report.republished = outbox_publish(ids=[row.pk for row in again])
        log.warning("outbox reconciler: %d order message(s) were lost by Redis after publishing; "
                    "published again: %d", len(again), report.republished)
    return report


# --- the cart (a hash per visitor) ---------------------------------------------------------------


def cart_line_check(payload: Any) -> tuple[int, int]:
    """Validate ``{"product_id": 1, "quantity": 2}`` (a negative quantity removes units)."""
    pid, qty = payload.get("product_id"), payload.get("quantity", 1)
    if isinstance(pid, bool) or not isinstance(pid, int) or not 1 <= pid <= 2**62:
        raise InvalidCartError("product_id must be a positive integer")
    if isinstance(qty, bool) or not isinstance(qty, int) or qty == 0 or abs(qty) > MAX_QUANTITY:
        raise InvalidCartError(f"quantity must be a non-zero integer within ±{MAX_QUANTITY}")
    return pid, qty


def cart_add(*, owner: str, product_id: int, quantity: int) -> int:
    """Add ``quantity`` (may be negative) of a product; returns the line's new quantity.

    One script (``shop/lua/cart_add.lua``): ``HINCRBY``, clamp to
    ``0..MAX_QUANTITY`` (0 removes the line) and refresh the TTL atomically.
    Where the server has hash-field TTL (Redis 7.4+, Valkey 9.0+; detected
    once, ``redis_patterns.hashttl``) the changed line also gets its own
    expiry (``HEXPIRE``), so a line nobody touched for ``CART_LINE_TTL_SECONDS``
    goes on its own; elsewhere every line lives as long as the cart.
    """
    if not Product.objects.filter(pk=product_id).exists():
        raise UnknownProductError(f"no product with id {product_id}", product_id=product_id)
    client, cart_key = get_redis(), keys.cart(owner)
    per_line = hashttl.supported(client, cart_key)
    quantity, line_ttl = loader("shop").call(
        client, "cart_add", keys=[cart_key],
        args=[product_id, quantity, MAX_QUANTITY, CART_TTL_SECONDS, CART_LINE_TTL_SECONDS if per_line else 0])
    if per_line and int(quantity) > 0 and not int(line_ttl):
        # The server refused HEXPIRE (a failover to an older one): the line has the cart's TTL; detect again.
        hashttl.forget(client)
    return int(quantity)


def cart_set(*, owner: str, product_id: int, quantity: int) -> int:
    """Set a line to exactly ``quantity`` (0 removes it); returns the quantity now in the cart.

    ``HSET`` (or ``HDEL``) and ``EXPIRE`` in one ``MULTI``: the cart's TTL is
    refreshed in the same transaction that changes it.
    """
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 0 <= quantity <= MAX_QUANTITY:
        raise InvalidCartError(f"quantity must be a whole number from 0 to {MAX_QUANTITY}")
    if quantity and not Product.objects.filter(pk=product_id).exists():
        raise UnknownProductError(f"no product with id {product_id}", product_id=product_id)
    pipe = get_redis().pipeline(transaction=True)
    cart = keys.cart(owner)
    if quantity:
        pipe.hset(cart, str(product_id), quantity)
        pipe.expire(cart, CART_TTL_SECONDS)
    else:
        pipe.hdel(cart, str(product_id))
        pipe.expire(cart, CART_TTL_SECONDS)  # a no-op once the last line (and the hash) is gone
    pipe.execute()
    return quantity


def cart_subtract(*, owner: str, lines: list[CartLine]) -> None:
    """Take ordered lines out of the cart: each line's quantity goes down by what was bought.

    Subtracting (rather than deleting the cart) keeps anything added in
    another tab meanwhile.  One pipelined round trip of ``cart_add`` scripts
    with negative deltas (each clamps at 0 and removes the line).
    """
    if not lines:
        return
    client = get_redis()
    scripts = loader("shop")
    pipe = client.pipeline(transaction=False)
    for line in lines:
        scripts.queue(client, pipe, "cart_add", keys=[keys.cart(owner)],
                      args=[line.product_id, -line.quantity, MAX_QUANTITY, CART_TTL_SECONDS])
    scripts.execute(client, pipe)


def cart_clear(*, owner: str) -> None:
    get_redis().delete(keys.cart(owner))



def cart_merge(*, from_owner: str, to_owner: str) -> int:
    """Move every line of ``from_owner``'s cart into ``to_owner``'s (at login); returns the lines moved.

    One script (``shop/lua/cart_merge.lua``) over both carts (they share the
    ``{cart}`` slot): quantities add up, clamped to ``MAX_QUANTITY``, the first
    cart is deleted and the second's TTL refreshed, atomically.  Merging a cart
    into itself changes nothing.
    """
    if from_owner == to_owner:
        return 0
    return int(loader("shop").call(get_redis(), "cart_merge", keys=[keys.cart(from_owner), keys.cart(to_owner)],
                                   args=[MAX_QUANTITY, CART_TTL_SECONDS]))
