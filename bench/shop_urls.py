"""URLs for ``bench/shop_cache.py``'s servers: the real site plus trivial baselines.

With ``DJANGO_SETTINGS_MODULE=bench.shop_site`` the server serves everything the site serves
(same middleware, templates, context processors) and adds the baselines:

- ``/bench/trivial/``: the product page's own template rendered from a
  constant product (no Redis, no database): what the page costs Django alone.
- ``/bench/trivial.json``: the API's JSON from a constant product.
- ``/bench/hello``: ``HttpResponse("ok")``, the floor of a request.
"""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import include, path
from django.views.decorators.csrf import ensure_csrf_cookie

from redis_patterns.cache import CacheState
from shop.selectors import Shelf

PRODUCT = {
    "id": 1, "name": "Constant Lamp 0001", "slug": "constant-lamp-0001", "description": "A product that never changes.",
    "price": "19.99", "stock": 7, "category": {"id": 1, "name": "Furniture", "slug": "furniture"},
    "tags": ["classic", "gift"], "image_hue": 40, "view_count": 0, "updated_at": "2026-01-01T00:00:00+00:00",
}


SHELF = Shelf(available=7, in_cart=0, source="catalog")  # what the real page adds: stock and the cart line


class _Read:
    value = PRODUCT
    state = CacheState.HIT
    tier = "redis"
    pending_views = 1
    loaded = False


@ensure_csrf_cookie  # as the real product page does
def trivial_page(request: HttpRequest) -> HttpResponse:
    response = render(request, "shop/product_detail.html", {"product": PRODUCT, "read": _Read, "shelf": SHELF,
                                                             "quantities": range(1, 8), "max_quantity": 100})
    response["X-Cache"] = "-"
    return response


def trivial_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse(PRODUCT)


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [
    path("bench/trivial/", trivial_page),
    path("bench/trivial.json", trivial_json),
    path("bench/hello", hello),
    path("", include("config.urls")),
]
