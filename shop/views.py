"""Catalog pages and the caching demo pages: thin adapters over selectors, services and demos."""

from __future__ import annotations

import time

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods
from redis.exceptions import RedisError

from config.api import visitor
from config.demos import DemoBusy, heavy_slot
from config.redis import cached_redis_health
from redis_patterns.tracing import tracing
from shop import caching, demos, selectors, services
from shop.caching import ReadTier, ViewCounting, WriteStrategy
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
    read = selectors.category_list()
    response = render(request, "shop/categories.html", {"categories": read.value, "read": read})
    return _with_cache_header(response, read.state.value)


@ensure_csrf_cookie  # the API's PATCH takes this cookie's value back in X-CSRFToken
def product_list(request: HttpRequest, category_slug: str) -> HttpResponse:
    page = _page_number(request)
    read = selectors.product_page(category_slug, page)
    if read.value is None:
        raise Http404("no such category or page")
    data = read.value
    context = {"data": data, "read": read,
               "pages": range(max(1, page - 4), min(data["num_pages"], page + 4) + 1)}
    return _with_cache_header(render(request, "shop/product_list.html", context), read.state.value)


@ensure_csrf_cookie  # the API's PATCH takes this cookie's value back in X-CSRFToken
def product_detail(request: HttpRequest, product_id: int) -> HttpResponse:
    if not 0 < product_id <= 2**63 - 1:
        raise Http404("no such product")
    read = services.product_view(product_id)
    if read.value is None:
        raise Http404("no such product")
    response = render(request, "shop/product_detail.html", {"product": read.value, "read": read})
    return _with_cache_header(response, read.state.value)


# --- checkout ----------------------------------------------------------------------------------


@require_GET
@ensure_csrf_cookie
def checkout(request: HttpRequest) -> HttpResponse:
    """A product list with quantities; the page's script posts to ``/api/orders`` and follows the order."""
    who = visitor(request, create=True)  # the visitor's orders belong to this session
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


@require_http_methods(["GET", "POST"])
def caching_demo(request: HttpRequest) -> HttpResponse:
    """Cache-aside, the write strategies, write-behind counters and XFetch on one page."""
    pid = _demo_product_id(request)
    context: dict = {"product_id": pid, "strategies": list(WriteStrategy), "countings": list(ViewCounting),
                     "is_staff": request.user.is_staff}
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "flush":
            with tracing("flush") as trace:
                report = services.views_flush()
            messages.info(request, f"Flushed {report.views} views of {report.products} products in "
                                   f"{len(report.batches)} batch(es) ({trace.summary()}).")
        elif action in ("switches", "edit"):
            if not request.user.is_staff:
                return render(request, "shop/caching.html", {**context, "forbidden": True}, status=403)
            try:
                strategy = WriteStrategy(request.POST.get("strategy", ""))
                counting = ViewCounting(request.POST.get("view_counting", ViewCounting.WRITE_BEHIND))
                xfetch = {"on": True, "off": False}[request.POST.get("xfetch", "on")]
            except (ValueError, KeyError):
                return render(request, "shop/caching.html", {**context, "bad_input": "unknown strategy"},
                              status=400)
            if action == "switches":
                services.switches_set(write_strategy=strategy, xfetch=xfetch, view_counting=counting)
                messages.info(request, f"Writes now use {strategy.value}; XFetch {'on' if xfetch else 'off'}; "
                                       f"views counted {counting.value}.")
            else:
                try:
                    with tracing("edit") as trace:
                        services.product_update(product_id=pid or 0, changes={"price": request.POST.get("price")},
                                                strategy=strategy)
                except services.ProductValidationError as exc:
                    return render(request, "shop/caching.html", {**context, "bad_input": exc.detail}, status=400)
                except Product.DoesNotExist:
                    raise Http404("no such product") from None
                messages.info(request, f"Price saved with {strategy.value}: {trace.summary()} "
                                       "(the database write, then the cache step after the commit).")
        else:
            return render(request, "shop/caching.html", {**context, "bad_input": "unknown action"}, status=400)
        return redirect(f"{request.path}?product={pid}")

    redis_ok = cached_redis_health()[0]
    if pid is not None:
        context["product"] = selectors.product_load(pid)
    if redis_ok and pid is not None:
        context["entry"] = selectors.cache_entry_state(pid)
        context["switches"] = caching.switches()
        context["write_strategy"] = context["switches"].write_strategy
        context["generation"] = selectors.catalog_generation()
        context.update(selectors.view_counter_state(pid))
    context["flushes"] = selectors.recent_flushes()
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
    """The same product read 200 times through each tier: where did the reads land?"""
    pid = _demo_product_id(request)
    context: dict = {"product_id": pid, "reads": 200}
    if request.method == "POST" and pid is not None and cached_redis_health()[0]:
        try:
            with heavy_slot():  # one heavy run at a time, site-wide
                results = [demos.hotkey_run(tier=tier, product_id=pid, reads=200) for tier in ReadTier]
        except DemoBusy as exc:
            return render(request, "shop/hotkeys.html", {**context, "busy": str(exc)}, status=429)
        context["results"] = results
        bus = caching.invalidation_bus()
        context["bus_messages"] = bus.messages if bus else 0
    return render(request, "shop/hotkeys.html", context)
