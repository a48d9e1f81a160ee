"""The issue's "done when", through a real ASGI server (uvicorn) and real HTTP clients with their own cookies."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

from shop import keys, stores

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

VISITORS = 1200


@pytest.fixture
def site(live_server_url):
    call_command("seed_demo", products=300, quiet=True, stdout=open("/dev/null", "w"))  # noqa: SIM115
    return live_server_url


def get(base: str, path: str, cookie: str | None = None, conn: http.client.HTTPConnection | None = None):
    parts = urlsplit(base)
    own = conn is None
    conn = conn or http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    response = conn.getresponse()
    body = response.read()
    if own:
        conn.close()
    return response, body


def test_nearby_stores_sorted_within_half_a_percent_of_haversine_and_400_out_of_range(site):
    lon, lat = 13.405, 52.52  # Berlin
    response, body = get(site, f"/api/stores/nearby?lon={lon}&lat={lat}&radius_km=2000&limit=50")
    assert response.status == 200
    found = json.loads(body)
    assert len(found) >= 15 and found[0]["city"] == "Berlin"
    distances = [s["distance_km"] for s in found]
    assert distances == sorted(distances)
    for s in found:
        reference = stores.haversine_km(lon, lat, s["lon"], s["lat"])
        assert abs(s["distance_km"] - reference) <= max(0.005 * reference, 0.01)
    for bad in ("lon=200&lat=0", "lon=0&lat=89", "lon=0&lat=0&radius_km=0", "lon=0&lat=0&radius_km=6000",
                "lon=0&lat=0&limit=500"):
        response, body = get(site, f"/api/stores/nearby?{bad}")
        assert response.status == 400 and json.loads(body)["error"] == "out_of_range", bad


def test_n_distinct_visitors_are_estimated_within_three_percent(site):
    from shop.models import Product

    ids = list(Product.objects.values_list("pk", flat=True))

    def visit(i: int) -> str:
        parts = urlsplit(site)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            first, _ = get(site, f"/shop/products/{ids[i % len(ids)]}/", conn=conn)
            assert first.status == 200
            cookie = next(v for k, v in first.getheaders() if k.lower() == "set-cookie"
                          and v.startswith(keys.VISITOR_COOKIE + "="))
            again, _ = get(site, "/shop/", cookie=cookie.split(";")[0], conn=conn)  # the same visitor: not counted again
            assert again.status == 200
            return cookie
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        cookies = list(pool.map(visit, range(VISITORS)))
    assert len(set(cookies)) == VISITORS
    response, body = get(site, "/api/analytics/visitors")
    answer = json.loads(body)
    assert answer["exact"] == VISITORS
    assert abs(answer["estimate"] - VISITORS) <= 0.03 * VISITORS, answer
    assert abs(answer["error_pct"]) <= 3


@pytest.mark.parametrize("prefix", ["c", "Cl", "NORDIC", "zen g", "deluxe"])
def test_autocomplete_results_all_start_with_the_prefix(site, prefix):
    response, body = get(site, f"/api/products/autocomplete?q={prefix.replace(' ', '%20')}&limit=20")
    assert response.status == 200
    found = json.loads(body)
    assert found and all(s["name"].lower().startswith(prefix.lower()) for s in found)
    response, _ = get(site, "/api/products/autocomplete?q=")
    assert response.status == 400
