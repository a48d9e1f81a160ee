"""Reads for the order pipeline's pages and API."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from config.redis import get_redis
from redis_patterns import streams
from shop.models import Order, Product
from workers import keys
from workers.models import Fulfilment, OutboxMessage


def order_for_owner(*, order_id: int, owner: str | None) -> Order | None:
    """The order if ``owner`` placed it; None for anyone else (the API answers 404 alike)."""
    if not owner:
        return None
    return Order.objects.filter(pk=order_id, owner=owner).prefetch_related("items").first()


def order_as_json(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.pk,
        "status": order.status,
        "total": str(order.total),
        "failure_reason": order.failure_reason,
        "items": [{"product_id": i.product_id, "quantity": i.quantity, "unit_price": str(i.unit_price)}
                  for i in order.items.all()],
        "created_at": order.created_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
    }


def recent_orders(*, owner: str | None, limit: int = 10) -> list[Order]:
    if not owner:
        return []
    return list(Order.objects.filter(owner=owner).order_by("-id")[:limit])


def checkout_products(limit: int = 12) -> list[Product]:
    return list(Product.objects.order_by("id")[:limit])


def stock_in_redis(product_ids: list[int]) -> dict[int, int | None]:
    """Units available per product according to the stock hash (None: not loaded)."""
    if not product_ids:
        return {}
    values = get_redis().hmget(keys.stock(), product_ids)
    return {pid: (int(v) if v is not None else None) for pid, v in zip(product_ids, values, strict=True)}


def stream_overview() -> list[dict[str, Any]]:
    """``XINFO`` of the orders stream and its dead-letter stream."""
    return streams.group_overview(get_redis(), [keys.orders_stream(), keys.orders_dead_letter()])


def dead_letters(limit: int = 50) -> list[dict[str, Any]]:
    """The newest dead-lettered entries (``XREVRANGE ... COUNT``)."""
    rows = get_redis().xrevrange(keys.orders_dead_letter(), count=limit)
    return [{"id": entry_id, "fields": fields} for entry_id, fields in rows]


def worker_stats(group: str) -> dict[str, int]:
    return streams.read_stats(get_redis(), keys.orders_stats(group))


def outbox_backlog() -> dict[str, int]:
    return {
        "unpublished": OutboxMessage.objects.filter(published_at__isnull=True).count(),
        "published": OutboxMessage.objects.filter(published_at__isnull=False).count(),
    }


def order_status_counts() -> dict[str, int]:
    return dict(Order.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))


def duplicate_fulfilments() -> int:
    """Orders fulfilled more than once (should always be 0)."""
    return Fulfilment.objects.values("order_id").annotate(n=Count("id")).filter(n__gt=1).count()


def cart_items(*, owner: str | None) -> list[dict[str, int]]:
    """The visitor's cart (``HGETALL``), sorted by product id."""
    if not owner:
        return []
    raw = get_redis().hgetall(keys.cart(owner))
    return [{"product_id": int(pid), "quantity": int(qty)} for pid, qty in sorted(raw.items(), key=lambda kv: int(kv[0]))]
