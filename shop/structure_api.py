"""The JSON API of the shop's data-structure features: thin adapters, input checked, errors as ``config.api``.

- ``GET /api/stores/nearby?lon=&lat=&radius_km=&limit=`` -> ``[{"id", "name", "city", "lon", "lat",
  "distance_km"}]`` nearest first (``shop.stores``; Geo).  ``lon`` in [-180, 180], ``lat`` in
  [-85.05112878, 85.05112878], ``0 < radius_km <= 5000`` (default 500), ``1 <= limit <= 50`` (default 10);
  anything else is a 400.
- ``GET /api/analytics/visitors?day=YYYY-MM-DD[&product=<id>]`` -> ``{"day", "estimate", "exact", "error_pct"}``
  (``shop.visitors``; HyperLogLog).  ``exact`` is ``null`` outside the two-day demo window.
- ``GET /api/products/autocomplete?q=<prefix>&limit=`` -> ``[{"id", "name"}]``, every name starting with
  ``q`` case-insensitively, most viewed first (``shop.autocomplete``).  Empty or longer than 50 -> 400.
- ``GET /api/products?tags=a,b&mode=all|any&exclude=c&page=`` -> one page of products by tag set algebra
  (``shop.tags``).  Unknown tag, bad mode or page past the end -> 400.

Redis down: 503 ``redis_unavailable`` (none of these has a database twin).
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from config.api import api_view
from shop import autocomplete, stores, tags, visitors


@api_view("GET", "HEAD")
def stores_nearby(request: HttpRequest) -> JsonResponse:
    lon, lat, radius_km, limit = stores.nearby_params(request.GET)
    found = stores.stores_nearby(lon=lon, lat=lat, radius_km=radius_km, limit=limit)
    return JsonResponse([s.as_json() for s in found], safe=False)


@api_view("GET", "HEAD")
def analytics_visitors(request: HttpRequest) -> JsonResponse:
    day, product = visitors.visitors_params(request.GET)
    return JsonResponse(visitors.visitors_count(day=day, product_id=product).as_json())


@api_view("GET", "HEAD")
def products_autocomplete(request: HttpRequest) -> JsonResponse:
    prefix, limit = autocomplete.autocomplete_params(request.GET)
    return JsonResponse(autocomplete.autocomplete(prefix=prefix, limit=limit), safe=False)


@api_view("GET", "HEAD")
def products_by_tags(request: HttpRequest) -> JsonResponse:
    return JsonResponse(tags.tags_query(tags.tags_params(request.GET)))
