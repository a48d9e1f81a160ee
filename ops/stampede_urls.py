"""URLs of the site ``lab_stampede`` starts: the real ones, plus ``/lab/stampede/<id>``.

``GET /lab/stampede/<id>?protect=1`` reads product ``<id>`` through the
shop's cache (``shop.caching.cache()``, the same ``redis_patterns.cache.Cache``
and keys as the product pages) with a short freshness, so the hot key keeps
expiring under load:

- ``protect=1``: the site's protection: single-flight under a lease,
  stale-while-revalidate, XFetch refresh-ahead;
- ``protect=0``: naive cache-aside: every request that finds the entry
  expired loads from the database.

The loader is the product query plus ``LAB_STAMPEDE_LOAD_MS`` of sleep (an
expensive query, as on the stampede demo page).  ``X-Cache: miss`` marks the
requests that ran the loader, so the load client counts database loads from
the responses.
"""

from __future__ import annotations

import os
import time
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import path

from config.urls import urlpatterns as site_urlpatterns
from redis_patterns.cache import CachePolicy
from shop import caching, keys, selectors

FRESH_S = float(os.environ.get("LAB_STAMPEDE_TTL", "1.0"))
LOAD_MS = float(os.environ.get("LAB_STAMPEDE_LOAD_MS", "100"))
# The lease outlives a fill until it runs out (redis_patterns/cache.py says why), so it also sets how
# soon an expired entry can be reloaded: keep it under the freshness, above the slowest load.
LEASE_S = max(2 * LOAD_MS / 1000, min(5.0, FRESH_S / 2))


def policy(protect: bool) -> CachePolicy:
    """The two policies compared; the same freshness and stale window, protection on or off."""
    return CachePolicy(ttl=FRESH_S, jitter=0.0, stale_ttl=30.0, lease_ttl=LEASE_S, wait_timeout=5.0,
                       xfetch_beta=1.0 if protect else 0.0, single_flight=protect)


def stampede_read(request: HttpRequest, product_id: int) -> JsonResponse:
    """One read of a hot product; see the module docstring."""
    protect = request.GET.get("protect") == "1"

    def load() -> Any:
        value = selectors.product_load(product_id)  # the real query...
        time.sleep(LOAD_MS / 1000)  # ...plus the cost of an expensive one
        return value

    lookup = caching.cache().get(keys.product_key(product_id), keys.product_lease_key(product_id), load,
                                 policy(protect))
    if lookup.value is None:
        response = JsonResponse({"error": "not_found", "detail": f"no product with id {product_id}"}, status=404)
    else:
        response = JsonResponse({"id": lookup.value["id"], "name": lookup.value["name"]})
    response["X-Cache"] = lookup.state.value
    return response


urlpatterns = [
    *site_urlpatterns,
    path("lab/stampede/<int:product_id>", stampede_read),
]
