"""The shop's JSON API: thin adapters over ``shop.selectors`` (reads) and the services (writes).

- ``GET /api/products/<id>``: the product; ``X-Cache: hit|miss|stale|bypass``.
  A missing product is a 404 remembered for 30 s (negative cache).
- ``PATCH /api/products/<id>`` (staff): any of ``name``, ``description``,
  ``price`` (decimal string), ``stock``; optional ``?strategy=invalidate|write_through``.
  The next ``GET`` reflects it.
- ``POST /api/cart/items`` ``{"product_id": 1, "quantity": 2}`` (negative to
  remove) and ``GET /api/cart``: the visitor's cart, a hash in Redis.
- ``POST /api/orders`` ``{"items": [...]}`` with ``Idempotency-Key``: 202
  ``{"order_id", "status"}``; the same key again gives the same order, once.
  ``"from_cart": true`` takes the ordered lines out of the visitor's cart
  once the order is created (the cart page sends it).
- ``GET /api/orders/<id>``: only for the visitor who placed it (404 for anyone else).

Errors are ``{"error": "<code>", "detail": "..."}`` with a 4xx status (see
``config.api``), and change nothing.  Unsafe methods need the CSRF token in
``X-CSRFToken``; a CSRF failure is a JSON 403 too.

``POST /api/orders`` is an async view for one reason: a request that finds
its ``Idempotency-Key`` in flight waits for the other request's result, and
waiting on the event loop does not hold the process's one thread for sync
views (under ASGI, Django runs every sync view of a process in one thread).
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import reverse

from config.api import ApiError, Forbidden, NotFound, api_view, avisitor, json_body, visitor
from shop import checkout, selectors, services
from shop.caching import WriteStrategy
from shop.models import Product

MAX_ID = 2**63 - 1
CART_DOWN = "the cart lives in Redis, which is unavailable; try again shortly"


def parse_id(raw: str) -> int | None:
    """A positive int id, or ``None``."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None


def _id(raw: str) -> int:
    pid = parse_id(raw)
    if pid is None:
        raise ApiError("the product id must be a positive integer", code="invalid_id")
    return pid


# --- products ---------------------------------------------------------------------------------


@api_view("GET", "HEAD", "PATCH")
def product_detail(request: HttpRequest, product_id: str) -> JsonResponse:
    pid = _id(product_id)
    if request.method == "PATCH":
        return _patch(request, pid)
    read = selectors.product_get(pid)
    if read.value is None:
        response = NotFound(f"no product with id {pid}").response()
    else:
        response = JsonResponse(read.value)
    response["X-Cache"] = read.state.value
    return response


def _patch(request: HttpRequest, pid: int) -> JsonResponse:
    if not request.user.is_authenticated:
        raise Forbidden("log in as a staff user (/accounts/login/)", code="not_authenticated")
    if not request.user.is_staff:
        raise Forbidden("only staff may edit products")
    body = json_body(request)
    raw_strategy = request.GET.get("strategy")
    strategy = None
    if raw_strategy is not None:
        try:
            strategy = WriteStrategy(raw_strategy)
        except ValueError:
            raise ApiError(f"strategy must be one of: {', '.join(WriteStrategy)}", code="invalid_strategy") from None
    try:
        services.product_update(product_id=pid, changes=body, strategy=strategy)
    except Product.DoesNotExist:
        raise NotFound(f"no product with id {pid}") from None
    response = JsonResponse(selectors.product_load(pid))
    response["X-Write-Strategy"] = (strategy or selectors.write_strategy()).value
    return response


# --- cart -------------------------------------------------------------------------------------


@api_view("GET", "HEAD", redis_detail=CART_DOWN)
def cart(request: HttpRequest) -> JsonResponse:
    """``GET /api/cart``: ``{"items": [{"product_id", "quantity"}]}`` from the visitor's hash."""
    who = visitor(request)
    return JsonResponse({"items": selectors.cart_items(owner=who.owner if who else None)})


@api_view("POST", redis_detail=CART_DOWN)
def cart_items(request: HttpRequest) -> JsonResponse:
    """``POST /api/cart/items`` ``{"product_id": 1, "quantity": 2}`` (negative to remove): ``HINCRBY``."""
    pid, qty = checkout.cart_line_check(json_body(request))
    who = visitor(request, create=True)
    assert who is not None
    quantity = checkout.cart_add(owner=who.owner, product_id=pid, quantity=qty)
    return JsonResponse({"product_id": pid, "quantity": quantity, "items": selectors.cart_items(owner=who.owner)})


# --- orders -------------------------------------------------------------------------------------


@api_view("POST")
async def orders(request: HttpRequest) -> JsonResponse:
    """``POST /api/orders``: 202 ``{"order_id", "status"}``; the same key again gives the same order."""
    body = json_body(request)
    lines = checkout.cart_parse(body)
    from_cart = body.get("from_cart", False)
    if not isinstance(from_cart, bool):
        raise checkout.InvalidCartError("from_cart must be true or false")
    idem_key = checkout.idempotency_key_check(request.headers.get("Idempotency-Key"))
    who = await avisitor(request, create=True)
    assert who is not None
    result = await checkout.order_checkout_waiting(owner=who.owner, user_id=who.user_id, lines=lines,
                                                   idempotency_key=idem_key, from_cart=from_cart)
    order = result.order
    headers = {"Location": reverse("shop:api_order", args=[order.pk])}
    if not result.created:
        headers["Idempotent-Replayed"] = "true"
    return JsonResponse({"order_id": order.pk, "status": order.status, "created": result.created},
                        status=202, headers=headers)


@api_view("GET", "HEAD")
def order_detail(request: HttpRequest, order_id: int) -> JsonResponse:
    """``GET /api/orders/<id>``: only for the visitor that placed it; 404 for anyone else."""
    who = visitor(request)
    order = selectors.order_for_owner(order_id=order_id, owner=who.owner if who else None)
    if order is None:
        raise NotFound(f"no order {order_id} for this visitor")
    return JsonResponse(selectors.order_as_json(order))
