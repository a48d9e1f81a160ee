"""Pages: the checkout, the staff streams page, and the Lua vs WATCH/MULTI/EXEC comparison."""

from __future__ import annotations

import threading
import time

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from redis.exceptions import RedisError

from config.context_processors import cached_redis_health
from config.redis import get_redis
from redis_patterns import check_and_set, streams
from redis_patterns.tracing import tracing
from workers import keys, selectors
from workers.api import owner_of

DEFAULT_GROUP = "fulfilment"


@require_GET
@ensure_csrf_cookie
def checkout(request: HttpRequest) -> HttpResponse:
    """A product list with quantities; the page's script posts to ``/api/orders`` and follows the order."""
    if not request.user.is_authenticated and not request.session.session_key:
        request.session.save()  # the visitor's orders belong to this session
    owner = owner_of(request)
    products = selectors.checkout_products()
    context: dict = {"products": products, "orders": selectors.recent_orders(owner=owner)}
    if cached_redis_health()[0]:
        try:
            in_redis = selectors.stock_in_redis([p.pk for p in products])
            cart = {i["product_id"]: i["quantity"] for i in selectors.cart_items(owner=owner)}
            context["rows"] = [(p, in_redis.get(p.pk), cart.get(p.pk, 0)) for p in products]
        except RedisError as exc:
            context["error"] = str(exc)
    context.setdefault("rows", [(p, None, 0) for p in products])
    return render(request, "workers/checkout.html", context)


@staff_member_required
@require_GET
def streams_page(request: HttpRequest) -> HttpResponse:
    """XINFO STREAM/GROUPS/CONSUMERS, pending and lag, the dead letters with a replay button."""
    context: dict = {"outbox": selectors.outbox_backlog(), "statuses": selectors.order_status_counts(),
                     "duplicates": selectors.duplicate_fulfilments(), "stream_key": keys.orders_stream(),
                     "dead_key": keys.orders_dead_letter()}
    if cached_redis_health()[0]:
        try:
            overview = selectors.stream_overview()
            for s in overview:
                for g in s["groups"]:
                    g["stats"] = selectors.worker_stats(g["name"]) if s["stream"] == keys.orders_stream() else {}
            context.update(overview=overview, dead=selectors.dead_letters(),
                           trim_floor=streams.safe_trim_id(get_redis(), keys.orders_stream())
                           if overview and overview[0]["exists"] else None)
        except RedisError as exc:
            context["error"] = str(exc)
    return render(request, "workers/streams.html", context)


@staff_member_required
@require_POST
def replay(request: HttpRequest) -> HttpResponse:
    """Put one dead-lettered entry back on the orders stream (``XADD`` + ``XDEL`` in ``MULTI``)."""
    entry_id = request.POST.get("id", "")
    parts = entry_id.split("-")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        messages.error(request, "Not a stream id.")
        return redirect("workers:streams")
    try:
        new_id = streams.replay_dead_letter(get_redis(), keys.orders_stream(), keys.orders_dead_letter(),
                                            entry_id)
    except RedisError as exc:
        messages.error(request, f"Redis error: {exc}")
        return redirect("workers:streams")
    if new_id is None:
        messages.error(request, f"No dead letter {entry_id} (already replayed?).")
    else:
        messages.success(request, f"Replayed {entry_id} as {new_id} on the orders stream.")
    return redirect("workers:streams")


# --- Lua vs WATCH/MULTI/EXEC vs the naive race ---------------------------------------------------

CAS_START = 100
CAS_AMOUNT = 10
CAS_THREADS = 8
CAS_TRIES = 5


def _race(approach: str) -> dict:
    """CAS_THREADS threads each try CAS_TRIES debits of CAS_AMOUNT from a balance of CAS_START."""
    client = get_redis()
    wallet = keys.wallet_demo(approach)
    client.set(wallet, CAS_START, ex=600)
    fn = {"lua": check_and_set.debit_lua, "watch": check_and_set.debit_watch,
          "naive": check_and_set.debit_naive}[approach]
    granted, attempts, round_trips, errors = [0], [0], [0], []
    lock = threading.Lock()
    start = threading.Barrier(CAS_THREADS)

    def buyer() -> None:
        start.wait()
        with tracing(approach) as trace:
            for _ in range(CAS_TRIES):
                try:
                    result = fn(client, wallet, CAS_AMOUNT)
                except Exception as exc:  # show it on the page rather than lose the thread silently
                    errors.append(str(exc))
                    break
                with lock:
                    granted[0] += result.ok
                    attempts[0] += result.attempts
        with lock:
            round_trips[0] += trace.round_trip_count

    threads = [threading.Thread(target=buyer) for _ in range(CAS_THREADS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed_ms = (time.perf_counter() - t0) * 1000
    final = int(client.get(wallet) or 0)
    calls = CAS_THREADS * CAS_TRIES
    return {"approach": approach, "granted": granted[0], "final": final, "calls": calls,
            "retries": attempts[0] - calls, "round_trips": round_trips[0], "ms": elapsed_ms,
            "correct": granted[0] == CAS_START // CAS_AMOUNT and final == 0, "errors": errors[:3]}


@require_http_methods(["GET", "POST"])
def check_and_set_page(request: HttpRequest) -> HttpResponse:
    context: dict = {"start": CAS_START, "amount": CAS_AMOUNT, "threads": CAS_THREADS, "tries": CAS_TRIES,
                     "expected": CAS_START // CAS_AMOUNT}
    if request.method == "POST" and cached_redis_health()[0]:
        try:
            context["results"] = [_race(a) for a in ("lua", "watch", "naive")]
        except RedisError as exc:
            context["error"] = str(exc)
    return render(request, "workers/check_and_set.html", context)
