"""Catalog pages and the caching demo pages: thin adapters over selectors, services and demos."""

from __future__ import annotations

import time
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods
from redis.exceptions import RedisError

from config.api import ApiError, visitor
from config.demos import DemoBusy, heavy_slot
from config.redis import cached_redis_health
from redis_patterns.tracing import tracing
from shop import api, browsing, caching, demos, selectors, services, visitors
from shop.caching import ReadTier, ViewCounting, WriteStrategy
from shop.checkout import MAX_QUANTITY, cart_add, cart_set
from shop.models import Product


def _with_cache_header(response: HttpResponse, state: str) -> HttpResponse:
    response["X-Cache"] = state
    return response


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6 or int(raw) < 1:
        raise Http404("no such page")
    return int(raw)


# --- catalog -------------------------------------------------------------------------------


@ensure_csrf_cookie  # the API's PATCH takes this cookie's value back in X-CSRFToken
def category_list(request: HttpRequest) -> HttpResponse:
    vid, new_vid = visitors.visitor_id(request)

    def also(pipe: Any) -> None:  # the visit and today's top 10 ride on the list read's round trip
        visitors.queue_view(pipe, visitor=vid)
        browsing.queue_top(pipe)

    read = selectors.category_list(also=also)
    top = browsing.top_from(read.extra[-1]) if read.extra else []
    response = render(request, "shop/categories.html", {"categories": read.value, "read": read, "top_today": top})
    return visitors.visitor_cookie(_with_cache_header(response, read.state.value), vid, new_vid)


@ensure_csrf_cookie  # the API's PATCH takes this cookie's value back in X-CSRFToken
def product_list(request: HttpRequest, category_slug: str) -> HttpResponse:
    page = _page_number(request)
    vid, new_vid = visitors.visitor_id(request)
    read = selectors.product_page(category_slug, page, also=lambda pipe: visitors.queue_view(pipe, visitor=vid))
    if read.value is None:
        raise Http404("no such category or page")
    data = read.value
    context = {"data": data, "read": read,
               "pages": range(max(1, page - 4), min(data["num_pages"], page + 4) + 1)}
    response = _with_cache_header(render(request, "shop/product_list.html", context), read.state.value)
    return visitors.visitor_cookie(response, vid, new_vid)


@ensure_csrf_cookie  # the API's PATCH takes this cookie's value back in X-CSRFToken
def product_detail(request: HttpRequest, product_id: int) -> HttpResponse:
    if not 0 < product_id <= 2**63 - 1:
        raise Http404("no such product")
    vid, new_vid = visitors.visitor_id(request)
    who = visitor(request)
    owner = who.owner if who else None
    # Stock and the cart line ride in the cache read's round trip, with the view count and the visit.
    read = services.product_view(product_id, visitor=vid, also=lambda pipe: selectors.shelf_queue(
        pipe, product_id=product_id, owner=owner))
    if read.value is None:
        raise Http404("no such product")
    shelf = selectors.shelf_from(read.extra, product=read.value, owner=owner)
    recent = browsing.recent_names(read.recent or [], known={product_id: read.value["name"]})
    context = {"product": read.value, "read": read, "shelf": shelf, "max_quantity": MAX_QUANTITY,
               "quantities": range(1, max(1, min(10, shelf.available)) + 1),
               "recently_viewed": [r for r in recent if r["id"] != product_id]}
    response = render(request, "shop/product_detail.html", context)
    return visitors.visitor_cookie(_with_cache_header(response, read.state.value), vid, new_vid)


# --- cart and orders -------------------------------------------------------------------------------

CART_DOWN = "The cart lives in Redis, which is unavailable right now: try again in a moment."


def _quantity(raw: str | None, low: int) -> int | None:
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 4:
        return None
    value = int(raw)
    return value if low <= value <= MAX_QUANTITY else None


def _back(request: HttpRequest, fallback: str) -> str:
    """Where a cart form returns to: its ``next`` when it is a path on this site, else ``fallback``."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return fallback


@require_http_methods(["GET", "POST"])
@ensure_csrf_cookie  # the checkout button posts to /api/orders with this cookie's value
def cart(request: HttpRequest) -> HttpResponse:
    """The cart (a hash per visitor): change quantities, remove lines, check out.

    The forms post here (``action`` = ``add``, ``set`` or ``remove``) and are
    redirected back (post/redirect/get), so they work without JavaScript; the
    checkout button is the page's script (``static/shop/cart.js``), because it
    sends an ``Idempotency-Key`` header.
    """
    cart_url = reverse("shop:cart")
    if request.method == "POST":
        action = request.POST.get("action", "")
        pid = api.parse_id(request.POST.get("product", ""))
        quantity = _quantity(request.POST.get("quantity", "1" if action == "add" else "0"),
                             0 if action == "set" else 1)
        back = _back(request, cart_url)
        if action not in ("add", "set", "remove") or pid is None or (action != "remove" and quantity is None):
            messages.error(request, f"Refused: quantity must be a whole number from {0 if action == 'set' else 1} "
                                    f"to {MAX_QUANTITY}. Nothing was changed.")
            return redirect(back)
        try:
            who = visitor(request, create=True)  # a new session is a Redis write: inside the try
            assert who is not None
            if action == "add":
                now = cart_add(owner=who.owner, product_id=pid, quantity=quantity or 1)
                messages.success(request, f"Added to your cart ({now} in the cart now).")
            elif action == "set":
                cart_set(owner=who.owner, product_id=pid, quantity=quantity or 0)
            else:
                cart_set(owner=who.owner, product_id=pid, quantity=0)
        except ApiError as exc:
            messages.error(request, f"Refused: {exc.detail}. Nothing was changed.")
        except RedisError:
            messages.error(request, CART_DOWN)
        return redirect(back)

    who = visitor(request)
    context: dict = {"max_quantity": MAX_QUANTITY}
    try:
        if who is None and not cached_redis_health()[0]:
            # With Redis down, a visitor whose session lives there cannot even be told apart.
            raise RedisError("Redis is unavailable")
        view = selectors.cart_view(owner=who.owner if who else None)
    except RedisError:
        context["cart_down"] = CART_DOWN
        return render(request, "shop/cart.html", context, status=503)
    context.update(cart=view, fingerprint=selectors.cart_fingerprint(view),
                   checkout_data={"items": view.items(), "from_cart": True})
    return render(request, "shop/cart.html", context)


def order_list(request: HttpRequest) -> HttpResponse:
    """"My orders": this visitor's orders, newest first."""
    who = visitor(request)
    orders = selectors.recent_orders(owner=who.owner if who else None, limit=50)
    return render(request, "shop/orders.html", {"orders": orders})


@ensure_csrf_cookie
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    """One order; its status moves live (pending -> processing -> completed) over the notifications socket."""
    who = visitor(request)
    order = selectors.order_for_owner(order_id=order_id, owner=who.owner if who else None)
    if order is None:
        raise Http404("no such order for this visitor")
    return render(request, "shop/order.html", {"order": order, "lines": selectors.order_lines(order),
                                               "steps": ORDER_STEPS})


ORDER_STEPS = [("pending", "Placed"), ("processing", "Processing"), ("completed", "Completed")]


# --- checkout ----------------------------------------------------------------------------------


@require_GET
@ensure_csrf_cookie
def checkout(request: HttpRequest) -> HttpResponse:
    """A product list with quantities; the page's script posts to ``/api/orders`` and follows the order."""
    try:
        who = visitor(request, create=True)  # the visitor's orders belong to this session
    except RedisError:  # sessions live in Redis: without it this visit stays anonymous, the page still renders
        who = visitor(request)
    owner = who.owner if who else None
    products = selectors.checkout_products()
    context: dict = {"products": products, "orders": selectors.recent_orders(owner=owner)}
    if cached_redis_health()[0]:
        try:
            context["rows"] = selectors.checkout_rows(owner=owner, products=products)
        except RedisError as exc:
            context["error"] = str(exc)
    context.setdefault("rows", [(p, None, 0) for p in products])
    return render(request, "shop/checkout.html", context)


# --- caching demo ------------------------------------------------------------------------------


def _demo_product_id(request: HttpRequest) -> int | None:
    """The demo's product: ``?product=`` when it names one; a bad or unknown id is a 404, never product 1."""
    raw = request.GET.get("product") or request.POST.get("product") or ""
    pid = selectors.demo_product_id(raw)
    if pid is None and raw:
        raise Http404("no such product")
    return pid


def _caching_state(pid: int | None) -> dict:
    """What the caching page shows about product ``pid`` (the entry, the switches, the counters)."""
    context: dict = {}
    if pid is not None:
        context["product"] = selectors.product_load(pid)
    if cached_redis_health()[0] and pid is not None:
        context["entry"] = selectors.cache_entry_state(pid)
        context["switches"] = caching.switches()
        context["write_strategy"] = context["switches"].write_strategy
        context["generation"] = selectors.catalog_generation(local=False)
        context["switches_expiry"] = selectors.switches_expiry()
        context.update(selectors.view_counter_state(pid))
    context["flushes"] = selectors.recent_flushes()
    return context


@require_http_methods(["GET", "POST"])
def caching_demo(request: HttpRequest) -> HttpResponse:
    """Cache-aside, the write strategies, write-behind counters and XFetch on one page."""
    pid = _demo_product_id(request)
    context: dict = {"product_id": pid, "strategies": list(WriteStrategy), "countings": list(ViewCounting),
                     "is_staff": request.user.is_staff}

    def refused(status: int, **extra: object) -> HttpResponse:
        # The whole page again, forms included, with the message where the input was.
        return render(request, "shop/caching.html", {**context, **_caching_state(pid), **extra}, status=status)

    if request.method == "POST":
        action = request.POST.get("action")
        if action == "flush":
            with tracing("flush") as trace:
                report = services.views_flush()
            messages.info(request, f"Flushed {report.views} views of {report.products} products in "
                                   f"{len(report.batches)} batch(es) ({trace.summary()}).")
        elif action in ("switches", "edit"):
            if not request.user.is_staff:
                return refused(403, forbidden=True)
            try:
                strategy = WriteStrategy(request.POST.get("strategy", ""))
                counting = ViewCounting(request.POST.get("view_counting", ViewCounting.WRITE_BEHIND))
                xfetch = {"on": True, "off": False}[request.POST.get("xfetch", "on")]
            except (ValueError, KeyError):
                return refused(400, bad_input="unknown strategy")
            if action == "switches":
                changed = services.switches_set(write_strategy=strategy, xfetch=xfetch, view_counting=counting)
                messages.info(request, f"Writes now use {strategy.value}; XFetch {'on' if xfetch else 'off'}; "
                                       f"views counted {counting.value}"
                                       f" ({', '.join(changed) or 'nothing'} changed).")
            else:
                price = request.POST.get("price", "")
                try:
                    with tracing("edit") as trace:
                        services.product_update(product_id=pid or 0, changes={"price": price}, strategy=strategy)
                except services.ProductValidationError as exc:
                    return refused(400, price_error=exc.detail, price_value=price, edit_strategy=strategy.value)
                except Product.DoesNotExist:
                    raise Http404("no such product") from None
                messages.info(request, f"Price saved with {strategy.value}: {trace.summary()} "
                                       "(the database write, then the cache step after the commit).")
        else:
            return refused(400, bad_input="unknown action")
        return redirect(f"{request.path}?product={pid}")

    context.update(_caching_state(pid))
    return render(request, "shop/caching.html", context)


@require_http_methods(["GET", "POST"])
def stampede_demo(request: HttpRequest) -> HttpResponse:
    """Fire N concurrent reads at a cold or just-expired key, naive vs single-flight."""
    context: dict = {"requests": 50, "load_ms": 50, "scenario": "cold", "scenarios": demos.SCENARIOS}
    if request.method == "POST":
        try:
            n = int(request.POST.get("requests", "50"))
            load_ms = int(request.POST.get("load_ms", "50"))
            scenario = request.POST.get("scenario", "cold")
            if not (1 <= n <= 200 and 0 <= load_ms <= 200 and scenario in demos.SCENARIOS):
                raise ValueError
        except ValueError:
            context["bad_input"] = "requests 1-200, load_ms 0-200, scenario cold or expired"
            return render(request, "shop/stampede.html", context, status=400)
        context.update(requests=n, load_ms=load_ms, scenario=scenario)
        if cached_redis_health()[0]:
            t0 = time.perf_counter()
            try:
                with heavy_slot():  # one heavy run at a time, site-wide
                    results = [demos.stampede_run(strategy=s, scenario=scenario, requests=n, load_ms=load_ms)
                               for s in demos.STRATEGIES]
            except DemoBusy as exc:
                context["bad_input"] = str(exc)
                return render(request, "shop/stampede.html", context, status=429)
            top = max(r.max for r in results) or 1.0
            context["results"] = [{"r": r, "bars": r.histogram(top=top)} for r in results]
            context["elapsed_ms"] = (time.perf_counter() - t0) * 1000
    return render(request, "shop/stampede.html", context)


@require_http_methods(["GET", "POST"])
def hotkeys_demo(request: HttpRequest) -> HttpResponse:
    """The same product read 200 times through each tier, and a write timed until every reader sees it."""
    pid = _demo_product_id(request)
    context: dict = {"product_id": pid, "reads": 200, "max_silence": caching.TRACKING_MAX_SILENCE}
    if request.method == "POST" and pid is not None and cached_redis_health()[0]:
        try:
            with heavy_slot():  # one heavy run at a time, site-wide
                results = [demos.hotkey_run(tier=tier, product_id=pid, reads=200) for tier in ReadTier]
                staleness = {tier.value: demos.staleness_run(tier=tier) for tier in ReadTier}
        except DemoBusy as exc:
            return render(request, "shop/hotkeys.html", {**context, "busy": str(exc)}, status=429)
        context["rows"] = [{"r": r, "s": staleness[r.tier]} for r in results]
        context["results"] = results
        bus = caching.invalidation_bus()
        context["bus_messages"] = bus.messages if bus else 0
        context["trackers"] = {mode: c.snapshot() for mode, c in caching.tracking_caches().items()}
        context["server_tracking"] = selectors.server_tracking()
    return render(request, "shop/hotkeys.html", context)
