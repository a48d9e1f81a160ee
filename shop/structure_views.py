"""The data-structure pages of the shop: store locator, visitors, activity, browsing, tags, search, modules, encodings.

Thin adapters: each validates its input, calls the feature's module
(``shop.stores``, ``visitors``, ``activity``, ``browsing``, ``tags``,
``autocomplete``, ``stack``, ``encodings``) and renders a ``pattern.html``
page (what it is, the live demo, the code).  Each page lists the keys it
shows with their encoding and memory (``shop.encodings.key_report``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods
from redis.exceptions import RedisError

from config.api import ApiError
from config.redis import cached_redis_health, get_redis
from sessions_app.keys import active_users_key
from shop import activity, browsing, charts, encodings, keys, stack, stores, tags, visitors
from shop.models import Product


def _page(request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200,
          vid: tuple[str, bool] | None = None) -> HttpResponse:
    response = render(request, template, context, status=status)
    if vid is not None:
        visitors.visitor_cookie(response, *vid)
    return response


def _guard(context: dict[str, Any], work: Any) -> None:
    """Run the page's Redis work unless Redis is known to be down; a Redis error becomes a message."""
    if not cached_redis_health()[0]:
        return
    try:
        work()
    except RedisError as exc:
        context["error"] = f"Redis error: {exc}"


# --- store locator ----------------------------------------------------------------------------------


def store_locator(request: HttpRequest) -> HttpResponse:
    """A city picker (or the browser's location), a radius or a box, the nearest stores on an SVG map."""
    choices = stores.store_choices()
    context: dict[str, Any] = {"choices": choices, "max_radius": stores.MAX_RADIUS_KM, "max_limit": stores.MAX_LIMIT,
                               "all_points": charts.world(choices)}
    query = request.GET.copy()
    city = query.get("city", "")
    picked = next((c for c in choices if str(c["id"]) == city), None)
    if picked and not query.get("lon"):
        query["lon"], query["lat"] = str(picked["lon"]), str(picked["lat"])
    if not query.get("lon") and choices:
        default = next((c for c in choices if c["city"] == "Amsterdam"), choices[0])
        query["lon"], query["lat"] = str(default["lon"]), str(default["lat"])
        picked = default
    shape = "box" if query.get("shape") == "box" else "radius"
    context.update(city=str(picked["id"]) if picked else "", shape=shape, source=query.get("source", "city"),
                   radius_km=query.get("radius_km") or f"{stores.DEFAULT_RADIUS_KM:g}",
                   limit=query.get("limit") or str(stores.DEFAULT_LIMIT), width_km=query.get("width_km") or "1500",
                   height_km=query.get("height_km") or "1000")
    status = 200
    if not choices:
        return _page(request, "shop/stores.html", context)

    def work() -> None:
        lon, lat, radius, limit = stores.nearby_params(query)
        box = None
        if shape == "box":
            box = (stores.number_param(query.get("width_km"), "width_km", default=1500.0),
                   stores.number_param(query.get("height_km"), "height_km", default=1000.0))
            if not all(0 < v <= 2 * stores.MAX_RADIUS_KM for v in box):
                raise ApiError(f"box sides must be greater than 0 and at most {2 * stores.MAX_RADIUS_KM:g} km",
                               code="out_of_range")
        found = stores.stores_nearby(lon=lon, lat=lat, radius_km=radius, limit=limit, box_km=box)
        context.update(lon=lon, lat=lat, results=found, result_points=charts.world([s.as_json() for s in found]),
                       centre=charts.world([{"lon": lon, "lat": lat}])[0],
                       keys=encodings.key_report([keys.stores_geo(), keys.stores_info()]))
        a, b = query.get("a"), query.get("b")
        if a and b and a.isdigit() and b.isdigit():
            context["distance"] = stores.store_distance(int(a), int(b))
            if context["distance"]:
                d = context["distance"]
                context["distance_haversine"] = stores.haversine_km(d["a"]["lon"], d["a"]["lat"], d["b"]["lon"],
                                                                     d["b"]["lat"], stores.REDIS_EARTH_RADIUS_KM)

    try:
        _guard(context, work)
    except ApiError as exc:
        context["bad_input"] = exc.detail
        status = 400
    return _page(request, "shop/stores.html", context, status=status)


# --- unique visitors ----------------------------------------------------------------------------------


def _hll_chart_svg() -> str:
    path = Path(settings.BASE_DIR) / "docs" / "hll_error.svg"
    try:
        return mark_safe(path.read_text())  # noqa: S308 - our own file, drawn by manage.py hll_chart
    except OSError:
        return ""


def unique_visitors(request: HttpRequest) -> HttpResponse:
    """Today's unique visitors (HLL vs exact), a product's, the week (PFCOUNT vs PFMERGE), and the error chart."""
    vid = visitors.visitor_id(request)
    context: dict[str, Any] = {"hll_chart": _hll_chart_svg(), "today": visitors.today().isoformat()}
    raw_product = request.GET.get("product", "")
    product = None
    if raw_product.isdigit() and len(raw_product) < 19:
        product = Product.objects.filter(pk=int(raw_product)).values("id", "name").first()
    product = product or Product.objects.order_by("id").values("id", "name").first()
    context["product"] = product

    def work() -> None:
        client = get_redis()
        pipe = client.pipeline(transaction=False)
        visitors.queue_view(pipe, visitor=vid[0])  # this page counts as a visit too (its own round trip)
        pipe.execute()
        day = visitors.today()
        context["site"] = visitors.visitors_count(day=day, memory=True)
        if product:
            context["product_count"] = visitors.visitors_count(day=day, product_id=product["id"], memory=True)
        context["week"] = visitors.visitors_week(day=day)
        history = visitors.visitors_history(days=14)
        context["history"] = history
        context["history_chart"] = charts.bars([h["estimate"] for h in history], [h["day"][5:] for h in history],
                                               label_every=2)
        names = [keys.visitors_site_day(day.isoformat()), keys.visitors_site_day_exact(day.isoformat()),
                 keys.visitors_site_week(visitors.week_days(day)[0].isoformat())]
        if product:
            names += [keys.visitors_product_day(product["id"], day.isoformat()),
                      keys.visitors_product_day_exact(product["id"], day.isoformat())]
        context["keys"] = encodings.key_report(names)

    _guard(context, work)
    return _page(request, "shop/visitors.html", context, vid=vid)


# --- activity bitmaps -----------------------------------------------------------------------------------


def activity_page(request: HttpRequest) -> HttpResponse:
    """Daily actives (BITCOUNT), the week (BITOP OR), retention of a cohort (BITOP AND), as charts."""
    context: dict[str, Any] = {}

    def work() -> None:
        summary = activity.activity_summary()
        context["summary"] = summary
        daily = summary["daily"]
        context["daily_chart"] = charts.bars([d["active"] for d in daily], [d["day"][5:] for d in daily], label_every=5)
        retention = summary["retention"]
        context["retention_chart"] = charts.line([r["pct"] for r in retention], [f"day {r['n']}" for r in retention],
                                                 top_value=100)
        day = visitors.today()
        monday = day - dt.timedelta(days=day.weekday())
        context["keys"] = encodings.key_report([active_users_key(day), keys.activity_week(monday.isoformat())])
        if request.user.is_authenticated:
            context["mine"] = activity.user_active_days(user_id=request.user.pk)

    _guard(context, work)
    return _page(request, "shop/activity.html", context)


# --- recently viewed and top today -------------------------------------------------------------------------


def recent_and_top(request: HttpRequest) -> HttpResponse:
    vid = visitors.visitor_id(request)
    context: dict[str, Any] = {}

    def work() -> None:
        context["recent"] = browsing.recently_viewed(visitor=vid[0])
        context["top"] = browsing.top_today()
        context["keys"] = encodings.key_report([keys.recently_viewed(vid[0]),
                                                keys.top_products_day(visitors.today().isoformat()),
                                                keys.autocomplete_popularity()])

    _guard(context, work)
    context["sample"] = list(Product.objects.order_by("id").values("id", "name")[:6])
    return _page(request, "shop/recent.html", context, vid=vid)


# --- tags ----------------------------------------------------------------------------------------------------


def tags_page(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {}
    status = 200
    query_string = request.GET.copy()
    for name in ("tags", "exclude"):  # the form sends checkboxes; the API takes comma lists
        if name in query_string:
            query_string[name] = ",".join(query_string.getlist(name))

    def work() -> None:
        context["tag_counts"] = tags.tag_counts()
        context["featured"] = tags.featured()
        query = tags.tags_params(query_string)
        context["query"] = query
        context["result"] = tags.tags_query(query)
        context["api_url"] = (f"/api/products?tags={','.join(query.tags)}&mode={query.mode}"
                              f"&exclude={','.join(query.exclude)}&page={query.page}")
        context["keys"] = encodings.key_report(tags.tag_demo_keys())

    try:
        _guard(context, work)
    except ApiError as exc:
        context["bad_input"], status = exc.detail, 400
    return _page(request, "shop/tags.html", context, status=status)


# --- search and autocomplete -------------------------------------------------------------------------------------


def search_page(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "")[:100]
    context: dict[str, Any] = {"q": q}

    def work() -> None:
        context["paths"] = stack.paths()
        if q.strip():
            context["results"] = stack.search(q, limit=20)
        context["keys"] = encodings.key_report([keys.autocomplete_index(), keys.autocomplete_popularity()])

    _guard(context, work)
    return _page(request, "shop/search.html", context)


# --- Redis Stack modules and their fallbacks -----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def modules_page(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {}
    status = 200

    def work() -> None:
        nonlocal status
        context["paths"] = stack.paths()
        context["seeded"] = stack.coupons_ready()
        if request.method == "POST":
            code = request.POST.get("code", "").strip().upper()
            if not code or len(code) > 40 or not code.replace("-", "").isalnum():
                context["bad_input"], status = "a coupon code: 1-40 letters, digits and dashes", 400
            elif request.POST.get("action") == "claim":
                context["claimed"] = (code, stack.coupon_claim(code))
            else:
                context["checked"] = (code, stack.coupon_check(code))
        context["bloom"] = stack.coupon_stats(probes=1000)
        per_minute = stack.orders_per_minute(minutes=60)
        context["orders_total"] = sum(v for _, v in per_minute)
        context["orders_chart"] = charts.bars([v for _, v in per_minute],
                                              [dt.datetime.fromtimestamp(t / 1000, tz=dt.UTC).strftime("%H:%M")
                                               for t, _ in per_minute], label_every=10)
        per_hour = stack.orders_per_hour(hours=24)
        context["hourly_chart"] = charts.bars([v for _, v in per_hour],
                                              [dt.datetime.fromtimestamp(t / 1000, tz=dt.UTC).strftime("%H")
                                               for t, _ in per_hour], label_every=3)
        first = Product.objects.order_by("id").values_list("id", flat=True).first()
        if first:
            context["document"] = stack.product_document(first)
        names = keys.orders_series_keys()
        today = visitors.today().isoformat()
        context["keys"] = encodings.key_report([keys.coupons_bloom_bits(), keys.coupons_bloom_module(), names["raw"],
                                                names["hourly"], f"{names['prefix']}:m:{today}",
                                                f"{names['prefix']}:h:{today}"]
                                               + ([context["document"]["key"]] if context.get("document", {}).get("key")
                                                  else []))

    _guard(context, work)
    context.setdefault("suggested_code", stack.new_coupon_code())
    return _page(request, "shop/modules.html", context, status=status)


# --- encodings --------------------------------------------------------------------------------------------------------


def encodings_page(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"notes": encodings.NOTES}

    def work() -> None:
        context["thresholds"] = encodings.thresholds()
        context["demo"] = encodings.encodings_demo()
        context["server_version"] = get_redis().info("server").get("redis_version", "?")

    _guard(context, work)
    return _page(request, "shop/encodings.html", context)

