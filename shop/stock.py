"""Stock reservation in Redis, in front of the database's guarded decrement.

One hash (``shop.keys.stock``) holds the units each product still has
available.  Checkout reserves every line of an order at once in one script
(``shop/lua/reserve_stock.lua``), so concurrent buyers of the last units are
turned away in Redis without touching the database; the database's
``UPDATE ... SET stock = stock - q WHERE stock >= q`` stays the source of
truth, so a drifted hash can under-sell for a while but never oversell.

Fields are loaded lazily from the database (``init_stock.lua``, ``HSETNX``:
a field loaded and reserved from meanwhile is newer than our read and wins)
and dropped whenever the database row changes outside checkout
(``stock_forget``), so the next reservation reloads it.

Failure policy: fail open to the database guard.  With Redis down,
``stock_reserve`` answers "not reserved" and checkout relies on the
guarded ``UPDATE`` alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from redis.exceptions import RedisError

from config.redis import get_redis
from redis_patterns.scripts import loader
from shop import keys
from shop.models import Product

log = logging.getLogger(__name__)

STOCK_TTL_MS = 3600 * 1000


@dataclass(frozen=True)
class CartLine:
    """One line of a cart or an order: a product and a quantity (> 0)."""

    product_id: int
    quantity: int


class OutOfStock(Exception):
    """Redis says a line cannot be reserved: ``product_id`` has only ``available`` units."""

    def __init__(self, product_id: int, available: int) -> None:
        super().__init__(f"only {available} left of product {product_id}")
        self.product_id = product_id
        self.available = available


def _flat(lines: Iterable[CartLine]) -> list[int]:
    out: list[int] = []
    for line in lines:
        out += [line.product_id, line.quantity]
    return out


def stock_load(product_ids: list[int]) -> int:
    """Copy these products' stock from the database into the stock hash (missing fields only)."""
    rows = list(Product.objects.filter(pk__in=product_ids).values_list("pk", "stock"))
    if not rows:
        return 0
    args: list[int] = [STOCK_TTL_MS]
    for pk, stock in rows:
        args += [pk, stock]
    return int(loader("shop").call(get_redis(), "init_stock", keys=[keys.stock()], args=args))


def stock_forget(product_ids: list[int]) -> None:
    """Drop products from the stock hash; the next checkout reloads them from the database.

    Call after changing ``Product.stock`` outside checkout (admin, restock, the API's PATCH).
    """
    if product_ids:
        get_redis().hdel(keys.stock(), *product_ids)


def stock_reserve(lines: list[CartLine]) -> bool:
    """Reserve all lines atomically in Redis.

    Returns True when reserved, False when Redis is unavailable (the database
    guard alone then protects the stock).  Raises ``OutOfStock``.
    """
    client = get_redis()
    args = [STOCK_TTL_MS, *_flat(lines)]
    try:
        for _ in range(3):
            reply = loader("shop").call(client, "reserve_stock", keys=[keys.stock()], args=args)
            if reply[0] == 1:
                return True
            if reply[0] == 0:
                raise OutOfStock(int(reply[1]), int(reply[2]))
            stock_load([int(pid) for pid in reply[1:]])  # -1: not loaded yet
        log.warning("stock hash kept losing fields; relying on the database guard")
        return False
    except RedisError as exc:
        log.warning("stock reservation unavailable (%s); relying on the database guard", exc)
        return False


def stock_release(lines: list[CartLine]) -> None:
    """Give reserved units back in Redis (best effort: the database is the truth)."""
    try:
        loader("shop").call(get_redis(), "release_stock", keys=[keys.stock()], args=_flat(lines))
    except RedisError as exc:
        log.warning("could not release a stock reservation (%s); it expires with the hash", exc)


def stock_in_redis(product_ids: list[int]) -> dict[int, int | None]:
    """Units available per product according to the stock hash (``None``: not loaded)."""
    if not product_ids:
        return {}
    values = get_redis().hmget(keys.stock(), product_ids)
    return {pid: (int(v) if v is not None else None) for pid, v in zip(product_ids, values, strict=True)}
