"""The store locator: GEOSEARCH by radius and box, GEODIST, the API's range checks, the geo set following edits."""

from __future__ import annotations

import pytest

from redis_patterns.tracing import tracing
from shop import keys, stores
from shop.models import Store

pytestmark = pytest.mark.django_db

PARIS = (2.3522, 48.8566)


def nearby(client, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.get(f"/api/stores/nearby?{query}")


def test_nearby_is_sorted_and_every_distance_matches_haversine(client, catalog):
    response = nearby(client, lon=PARIS[0], lat=PARIS[1], radius_km=1500, limit=50)
    assert response.status_code == 200
    found = response.json()
    assert len(found) >= 10  # Paris, Brussels, London, Amsterdam, ... all within 1500 km
    assert [s["city"] for s in found[:3]] == ["Paris", "Brussels", "London"]
    distances = [s["distance_km"] for s in found]
    assert distances == sorted(distances)
    assert all(d <= 1500 for d in distances)
    for s in found:
        assert set(s) == {"id", "name", "city", "lon", "lat", "distance_km"}
        reference = stores.haversine_km(PARIS[0], PARIS[1], s["lon"], s["lat"])
        assert abs(s["distance_km"] - reference) <= max(0.005 * reference, 0.01), s
    # Every store within the radius is there, and no other (the database says which).
    expected = {st.city for st in Store.objects.all()
                if stores.haversine_km(PARIS[0], PARIS[1], st.longitude, st.latitude) < 1495}
    assert expected <= {s["city"] for s in found}


def test_limit_keeps_the_nearest(client, catalog):
    found = nearby(client, lon=PARIS[0], lat=PARIS[1], radius_km=5000, limit=3).json()
    everything = nearby(client, lon=PARIS[0], lat=PARIS[1], radius_km=5000, limit=50).json()
    assert found == everything[:3]


@pytest.mark.parametrize("params, code", [
    ({"lon": 181, "lat": 0}, "out_of_range"),
    ({"lon": -180.5, "lat": 0}, "out_of_range"),
    ({"lon": 0, "lat": 86}, "out_of_range"),
    ({"lon": 0, "lat": -90}, "out_of_range"),
    ({"lon": 0, "lat": 0, "radius_km": 0}, "out_of_range"),
    ({"lon": 0, "lat": 0, "radius_km": -5}, "out_of_range"),
    ({"lon": 0, "lat": 0, "radius_km": 5001}, "out_of_range"),
    ({"lon": 0, "lat": 0, "limit": 51}, "out_of_range"),
    ({"lon": 0, "lat": 0, "limit": 0}, "out_of_range"),
    ({"lon": 0, "lat": 0, "limit": "ten"}, "invalid_parameter"),
    ({"lon": "nan", "lat": 0}, "invalid_parameter"),
    ({"lon": "east", "lat": 0}, "invalid_parameter"),
    ({"lat": 0}, "missing_parameter"),
])
def test_out_of_range_input_is_a_json_400(client, catalog, params, code):
    response = nearby(client, **params)
    assert response.status_code == 400
    assert response.json()["error"] == code and response.json()["detail"]


def test_a_search_is_one_round_trip_and_rebuilds_a_missing_set(catalog, raw_redis):
    raw_redis.delete(keys.stores_geo(), keys.stores_info())
    first = stores.stores_nearby(lon=PARIS[0], lat=PARIS[1], radius_km=300, limit=5)
    assert [s.city for s in first] == ["Paris", "Brussels"]
    assert raw_redis.zcard(keys.stores_geo()) == Store.objects.count()
    with tracing() as trace:
        again = stores.stores_nearby(lon=PARIS[0], lat=PARIS[1], radius_km=300, limit=5)
    assert again == first
    assert trace.round_trip_count == 1


def test_box_search_and_geodist(catalog):
    # A 1000 km wide, 900 km high box around Paris: London, Brussels, Amsterdam (390 km N) in; Berlin (750 km E) out.
    found = stores.stores_nearby(lon=PARIS[0], lat=PARIS[1], radius_km=1, limit=50, box_km=(1000, 900))
    cities = [s.city for s in found]
    assert cities[0] == "Paris" and {"Brussels", "London", "Amsterdam"} <= set(cities) and "Berlin" not in cities
    paris, london = (Store.objects.get(city=c) for c in ("Paris", "London"))
    distance = stores.store_distance(paris.pk, london.pk)
    reference = stores.haversine_km(paris.longitude, paris.latitude, london.longitude, london.latitude)
    assert distance["a"]["name"] == paris.name and abs(distance["km"] - reference) < 0.005 * reference
    assert stores.store_distance(paris.pk, 999_999) is None


def test_admin_edits_move_the_store_after_the_commit(admin_client, catalog, raw_redis,
                                                      django_capture_on_commit_callbacks):
    store = Store.objects.get(city="Lisbon")
    stores.stores_rebuild()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(f"/admin/shop/store/{store.pk}/change/", {
            "name": "Redis Shop Porto", "city": "Porto", "longitude": "-8.6291", "latitude": "41.1579"})
        assert response.status_code == 302
        # Not yet: the geo set changes only once the transaction has committed.
        assert raw_redis.hget(keys.stores_info(), str(store.pk)) is not None
        assert "Porto" not in raw_redis.hget(keys.stores_info(), str(store.pk))
    for callback in callbacks:
        callback()
    lon, lat = raw_redis.geopos(keys.stores_geo(), str(store.pk))[0]
    assert abs(lon - -8.6291) < 1e-4 and abs(lat - 41.1579) < 1e-4
    near_porto = stores.stores_nearby(lon=-8.61, lat=41.15, radius_km=50, limit=5)
    assert [s.name for s in near_porto] == ["Redis Shop Porto"]

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"/admin/shop/store/{store.pk}/delete/", {"post": "yes"})
    assert raw_redis.geopos(keys.stores_geo(), str(store.pk)) == [None]
    assert raw_redis.hget(keys.stores_info(), str(store.pk)) is None


def test_the_page_plots_the_results_and_refuses_bad_input(client, catalog):
    paris = Store.objects.get(city="Paris")
    page = client.get(f"/shop/stores/?city={paris.pk}&radius_km=400")
    html = page.content.decode()
    assert page.status_code == 200 and 'id="store-results"' in html and "Redis Shop Brussels" in html
    assert html.count('class="found"') == len(page.context["results"]) >= 2
    assert "GEOSEARCH" in html  # the trace panel (inside the script call) and the explanation
    browser = client.get("/shop/stores/?lon=139.69&lat=35.68&source=browser&radius_km=500")
    assert [s.city for s in browser.context["results"]][:1] == ["Tokyo"]
    bad = client.get("/shop/stores/?lon=0&lat=0&source=browser&radius_km=99999")
    assert bad.status_code == 400 and "radius_km" in bad.context["bad_input"]
