"""JSON API: ``POST /api/orders``, ``GET /api/orders/<id>``, ``POST /api/cart/items``, ``GET /api/cart``.

Thin adapters: parse, call ``workers.services`` / ``selectors``, turn errors
into ``{"error": ..., "detail": ...}`` with a 4xx status.  ``POST`` needs the
CSRF token in ``X-CSRFToken`` (Django's middleware checks it).

``POST /api/orders`` is an async view for one reason: a request that finds
its ``Idempotency-Key`` in flight waits for the other request's result, and
waiting on the event loop does not hold the process's one thread for sync
views (under ASGI, Django runs every sync view of a process in one thread).
"""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from redis.exceptions import RedisError

from config.redis import get_async_redis
from redis_patterns import idempotency
from workers import keys, selectors, services


def json_error(code: str, detail: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail, **extra}, status=status)


def owner_of(request: HttpRequest) -> str | None:
    """``"user:<id>"`` once logged in, else ``"session:<key>"``, else None (no session yet)."""
    if request.user.is_authenticated:
        return f"user:{request.user.pk}"
    key = request.session.session_key
    return f"session:{key}" if key else None


async def _aowner(request: HttpRequest) -> tuple[str, int | None]:
    """The owner for a write, creating the session if the visitor has none yet."""
    user = await request.auser()
    if user.is_authenticated:
        return f"user:{user.pk}", user.pk
    if not request.session.session_key:
        await request.session.asave()
    return f"session:{request.session.session_key}", None


def _body(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return None


async def orders(request: HttpRequest) -> JsonResponse:
    """``POST /api/orders``: 202 ``{"order_id", "status"}``; the same key again gives the same order."""
    if request.method != "POST":
        return json_error("method_not_allowed", "use POST", 405)
    payload = _body(request)
    if payload is None:
        return json_error("invalid_json", "the body must be JSON", 400)
    try:
        lines = services.cart_parse(payload)
    except services.CheckoutError as exc:
        return JsonResponse(exc.as_json(), status=exc.status)
    idem_key = request.headers.get("Idempotency-Key") or None
    owner, user_id = await _aowner(request)
    checkout = sync_to_async(services.order_checkout)
    for attempt in range(3):
        try:
            result = await checkout(owner=owner, user_id=user_id, lines=lines, idempotency_key=idem_key)
            break
        except services.IdempotencyInProgressError as exc:
            if attempt == 2:
                return JsonResponse(exc.as_json(), status=exc.status, headers={"Retry-After": "1"})
            # Another request with this key is running: wait for its result, then ask again.
            try:
                await idempotency.await_done(get_async_redis(), keys.idempotency_record(owner, idem_key or ""),
                                             services.checkout_fingerprint(lines), timeout_s=10)
            except RedisError:
                pass
        except services.CheckoutError as exc:
            return JsonResponse(exc.as_json(), status=exc.status)
    order = result.order
    headers = {"Location": reverse("workers:api_order", args=[order.pk])}
    if not result.created:
        headers["Idempotent-Replayed"] = "true"
    return JsonResponse({"order_id": order.pk, "status": order.status, "created": result.created},
                        status=202, headers=headers)


def order_detail(request: HttpRequest, order_id: int) -> JsonResponse:
    """``GET /api/orders/<id>``: only for the session or user that placed it; 404 for anyone else."""
    if request.method != "GET":
        return json_error("method_not_allowed", "use GET", 405)
    order = selectors.order_for_owner(order_id=order_id, owner=owner_of(request))
    if order is None:
        return json_error("not_found", f"no order {order_id} for this visitor", 404)
    return JsonResponse(selectors.order_as_json(order))


def cart(request: HttpRequest) -> JsonResponse:
    """``GET /api/cart``: ``{"items": [{"product_id", "quantity"}]}`` from the visitor's hash."""
    if request.method != "GET":
        return json_error("method_not_allowed", "use GET", 405)
    owner = owner_of(request)
    try:
        items = selectors.cart_items(owner=owner)
    except RedisError:
        return json_error("redis_unavailable", "the cart lives in Redis, which is unavailable", 503)
    return JsonResponse({"items": items})


def cart_items(request: HttpRequest) -> JsonResponse:
    """``POST /api/cart/items`` ``{"product_id": 1, "quantity": 2}`` (negative to remove): ``HINCRBY``."""
    if request.method != "POST":
        return json_error("method_not_allowed", "use POST", 405)
    payload = _body(request)
    if not isinstance(payload, dict):
        return json_error("invalid_json", 'expected {"product_id": <id>, "quantity": <n>}', 400)
    pid, qty = payload.get("product_id"), payload.get("quantity", 1)
    if isinstance(pid, bool) or not isinstance(pid, int) or pid < 1:
        return json_error("invalid_cart", "product_id must be a positive integer", 400)
    if isinstance(qty, bool) or not isinstance(qty, int) or qty == 0 or abs(qty) > services.MAX_QUANTITY:
        return json_error("invalid_cart", f"quantity must be a non-zero integer within ±{services.MAX_QUANTITY}",
                          400)
    if not request.session.session_key and not request.user.is_authenticated:
        request.session.save()
    owner = owner_of(request) or ""
    try:
        quantity = services.cart_add(owner=owner, product_id=pid, quantity=qty)
    except services.CheckoutError as exc:
        return JsonResponse(exc.as_json(), status=exc.status)
    except RedisError:
        return json_error("redis_unavailable", "the cart lives in Redis, which is unavailable", 503)
    return JsonResponse({"product_id": pid, "quantity": quantity, "items": selectors.cart_items(owner=owner)})


