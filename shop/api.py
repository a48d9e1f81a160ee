"""``GET/PATCH /api/products/<id>``: thin JSON adapters over ``shop.selectors`` and ``shop.services``.

- ``GET``: the product; ``X-Cache: hit|miss|stale|bypass``.  A missing product
  is a 404 remembered for 30 s (negative cache).
- ``PATCH`` (staff, CSRF token in ``X-CSRFToken``): JSON object with any of
  ``name``, ``description``, ``price`` (decimal string), ``stock``; optional
  ``?strategy=invalidate|write_through``.  The next ``GET`` reflects it.
- Errors are ``{"error": "<code>", "detail": "..."}`` with a 4xx status, and change nothing.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from shop import selectors, services
from shop.caching import WriteStrategy
from shop.models import Product

MAX_ID = 2**63 - 1


def error(status: int, code: str, detail: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": code, "detail": detail}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _csrf_rejected(request: HttpRequest) -> bool:
    """Django's own CSRF check, run here so a failure answers JSON instead of the HTML 403 page."""
    middleware = CsrfViewMiddleware(lambda req: None)
    middleware.process_request(request)
    return middleware.process_view(request, None, (), {}) is not None


def parse_id(raw: str) -> int | None:
    """A positive int id, or ``None``."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None


@csrf_exempt  # checked in the view (PATCH only) so that a failure is a JSON 403
def product_detail(request: HttpRequest, product_id: str) -> JsonResponse:
    pid = parse_id(product_id)
    if pid is None:
        return error(400, "invalid_id", "the product id must be a positive integer")
    if request.method in ("GET", "HEAD"):
        return _get(pid)
    if request.method == "PATCH":
        return _patch(request, pid)
    return error(405, "method_not_allowed", "use GET or PATCH", Allow="GET, HEAD, PATCH")


def _get(pid: int) -> JsonResponse:
    read = selectors.product_get(pid)
    if read.value is None:
        response = error(404, "not_found", f"no product with id {pid}")
    else:
        response = JsonResponse(read.value)
    response["X-Cache"] = read.state.value
    return response


def _patch(request: HttpRequest, pid: int) -> JsonResponse:
    if _csrf_rejected(request):
        return error(403, "csrf_failed", "send the csrftoken cookie's value in the X-CSRFToken header")
    if not request.user.is_authenticated:
        return error(403, "not_authenticated", "log in as a staff user (/admin/login/)")
    if not request.user.is_staff:
        return error(403, "forbidden", "only staff may edit products")
    if request.content_type != "application/json":
        return error(415, "unsupported_media_type", "send Content-Type: application/json")
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return error(400, "invalid_json", "the body is not valid JSON")
    raw_strategy = request.GET.get("strategy")
    strategy = None
    if raw_strategy is not None:
        try:
            strategy = WriteStrategy(raw_strategy)
        except ValueError:
            return error(400, "invalid_strategy", f"strategy must be one of: {', '.join(WriteStrategy)}")
    try:
        services.product_update(product_id=pid, changes=body, strategy=strategy)
    except services.ProductValidationError as exc:
        return error(400, exc.code, exc.detail)
    except Product.DoesNotExist:
        return error(404, "not_found", f"no product with id {pid}")
    response = JsonResponse(selectors.product_load(pid))
    response["X-Write-Strategy"] = (strategy or selectors.write_strategy()).value
    return response
