"""The store locator: the stores in a Redis geo set, searched by distance (course 2.9).

Pattern
    Each ``Store`` row is a member of one geo set (``GEOADD lon lat id``): a
    sorted set whose score is the 52-bit geohash of the point.  ``GEOSEARCH
    FROMLONLAT ... BYRADIUS r km ASC COUNT n WITHDIST WITHCOORD`` answers
    "the n nearest stores within r km"; ``BYBOX w h km`` the same in a
    rectangle; ``GEODIST`` the distance between two members; ``GEOPOS`` a
    member's coordinates.  Names and cities live in a hash beside the set,
    read by the same script (``shop/lua/stores_nearby.lua``): one round trip
    for the whole answer.

Accuracy
    Redis computes distances with the haversine formula on a sphere of radius
    6372.797560856 km and stores coordinates as a geohash (about 0.6 m of
    error), so a distance is within ~0.2% of an ellipsoidal one and agrees
    with any haversine to well under 0.1% (the tests check 0.5%).  Latitude
    is limited to ±85.05112878° (the Web Mercator band the geohash covers).

Writes
    The database is the source of truth.  A store saved or deleted in the
    admin calls ``store_changed`` (after the commit): ``GEOADD`` + ``HSET``,
    or ``ZREM`` + ``HDEL``, in one ``MULTI``.  A missing set (a fresh or
    flushed Redis) is rebuilt from the table by the first search that finds
    it missing (``stores_rebuild``: ``DEL`` + ``GEOADD`` + ``HSET`` in one
    ``MULTI``, so no reader sees half a set).

Cost
    ``GEOSEARCH`` is O(N + log M): N points in the geohash boxes around the
    shape.  ``COUNT n`` still scans the whole area and sorts it; ``COUNT n
    ANY`` stops at the first n found (unsorted), which is what makes a huge
    radius over many points cheap (``bench/shop_structures.py`` measures it).

Failure policy
    Redis down: the API answers 503 (the search has no database twin).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from redis.exceptions import RedisError

from config.api import ApiError
from config.redis import get_redis
from redis_patterns.scripts import loader
from shop import keys
from shop.models import Store

log = logging.getLogger(__name__)

#: Redis's geohash covers latitudes up to this (Web Mercator); GEOADD refuses beyond it.
MAX_LATITUDE = 85.05112878
MAX_RADIUS_KM = 5000.0
MAX_LIMIT = 50
DEFAULT_RADIUS_KM = 500.0
DEFAULT_LIMIT = 10
#: The sphere Redis's geo commands use (``src/geohash_helper.c``: EARTH_RADIUS_IN_METERS).
REDIS_EARTH_RADIUS_KM = 6372.797560856


@dataclass(frozen=True)
class NearbyStore:
    id: int
    name: str
    city: str
    lon: float
    lat: float
    distance_km: float

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "city": self.city, "lon": round(self.lon, 6),
                "lat": round(self.lat, 6), "distance_km": round(self.distance_km, 3)}


def haversine_km(lon1: float, lat1: float, lon2: float, lat2: float, radius_km: float = 6371.0088) -> float:
    """Great-circle distance between two points (the reference the tests hold Redis to)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * radius_km * math.asin(math.sqrt(min(1.0, a)))


# --- input -----------------------------------------------------------------------------------------


def number_param(raw: str | None, name: str, *, default: float | None = None) -> float:
    """A finite float from a query parameter, ``default`` when absent, else ``ApiError`` (400)."""
    if raw is None or raw == "":
        if default is None:
            raise ApiError(f"{name} is required", code="missing_parameter")
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(f"{name} must be a number", code="invalid_parameter") from None
    if not math.isfinite(value):
        raise ApiError(f"{name} must be a finite number", code="invalid_parameter")
    return value


def nearby_params(query: Any) -> tuple[float, float, float, int]:
    """``(lon, lat, radius_km, limit)`` from a query dict, or ``ApiError`` (400) saying which is out of range."""
    lon = number_param(query.get("lon"), "lon")
    lat = number_param(query.get("lat"), "lat")
    radius = number_param(query.get("radius_km"), "radius_km", default=DEFAULT_RADIUS_KM)
    raw_limit = query.get("limit") or str(DEFAULT_LIMIT)
    if not raw_limit.isascii() or not raw_limit.isdigit() or len(raw_limit) > 6:
        raise ApiError(f"limit must be an integer from 1 to {MAX_LIMIT}", code="invalid_parameter")
    limit = int(raw_limit)
    if not -180 <= lon <= 180:
        raise ApiError("lon must be between -180 and 180", code="out_of_range")
    if not -MAX_LATITUDE <= lat <= MAX_LATITUDE:
        raise ApiError(f"lat must be between -{MAX_LATITUDE} and {MAX_LATITUDE} (the band Redis geo indexes)",
                       code="out_of_range")
    if not 0 < radius <= MAX_RADIUS_KM:
        raise ApiError(f"radius_km must be greater than 0 and at most {MAX_RADIUS_KM:g}", code="out_of_range")
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(f"limit must be from 1 to {MAX_LIMIT}", code="out_of_range")
    return lon, lat, radius, limit


# --- reads ------------------------------------------------------------------------------------------


def stores_nearby(*, lon: float, lat: float, radius_km: float, limit: int, box_km: tuple[float, float] | None = None,
                  client: Any = None) -> list[NearbyStore]:
    """The stores within ``radius_km`` of (lon, lat) (or in a ``box_km`` = (width, height) box), nearest first.

    One round trip (the script); one more, plus a database read, the first
    time after the geo set went missing.
    """
    client = client or get_redis()
    shape = ["box", box_km[0], box_km[1]] if box_km else ["radius", radius_km, 0]
    args = [repr(lon), repr(lat), *shape, limit]
    scripts = loader("shop")
    reply = scripts.call(client, "stores_nearby", keys=[keys.stores_geo(), keys.stores_info()], args=args)
    if reply is None:
        stores_rebuild(client=client)
        reply = scripts.call(client, "stores_nearby", keys=[keys.stores_geo(), keys.stores_info()], args=args) or []
    found = []
    for i in range(0, len(reply), 5):
        store_id, dist, s_lon, s_lat, raw = reply[i:i + 5]
        info = json.loads(raw) if raw else {"name": f"store {store_id}", "city": ""}
        found.append(NearbyStore(int(store_id), info["name"], info["city"], float(s_lon), float(s_lat), float(dist)))
    return found


def store_distance(a: int, b: int, *, client: Any = None) -> dict[str, Any] | None:
    """``GEODIST`` between two stores and their ``GEOPOS``, in one pipelined round trip (``None``: unknown id)."""
    client = client or get_redis()
    pipe = client.pipeline(transaction=False)
    pipe.geodist(keys.stores_geo(), str(a), str(b), unit="km")
    pipe.geopos(keys.stores_geo(), str(a), str(b))
    pipe.hmget(keys.stores_info(), [str(a), str(b)])
    dist, positions, infos = pipe.execute()
    if dist is None or None in positions:
        return None
    names = [json.loads(raw)["name"] if raw else "" for raw in infos]
    return {"km": float(dist), "a": {"id": a, "name": names[0], "lon": positions[0][0], "lat": positions[0][1]},
            "b": {"id": b, "name": names[1], "lon": positions[1][0], "lat": positions[1][1]}}


def store_choices() -> list[dict[str, Any]]:
    """Every store for the city picker (from the database: the picker is not a Redis feature)."""
    return [{"id": s.pk, "name": s.name, "city": s.city, "lon": s.longitude, "lat": s.latitude}
            for s in Store.objects.order_by("city")]


# --- writes -----------------------------------------------------------------------------------------


def _queue_store(pipe: Any, store: Store) -> None:
    pipe.geoadd(keys.stores_geo(), [store.longitude, store.latitude, str(store.pk)])
    pipe.hset(keys.stores_info(), str(store.pk), json.dumps({"name": store.name, "city": store.city}))


def stores_rebuild(*, client: Any = None) -> int:
    """Replace the geo set and its details with the ``Store`` table, atomically (``MULTI``). Returns the count."""
    client = client or get_redis()
    stores = [s for s in Store.objects.all() if -MAX_LATITUDE <= s.latitude <= MAX_LATITUDE]
    pipe = client.pipeline(transaction=True)
    pipe.delete(keys.stores_geo(), keys.stores_info())
    for store in stores:
        _queue_store(pipe, store)
    pipe.execute()
    return len(stores)


def store_sync(*, store_id: int, client: Any = None) -> None:
    """Make Redis agree with the committed row: ``GEOADD`` + ``HSET``, or ``ZREM`` + ``HDEL`` if it is gone."""
    client = client or get_redis()
    store = Store.objects.filter(pk=store_id).first()
    pipe = client.pipeline(transaction=True)
    if store is None or not -MAX_LATITUDE <= store.latitude <= MAX_LATITUDE:
        pipe.zrem(keys.stores_geo(), str(store_id))
        pipe.hdel(keys.stores_info(), str(store_id))
    else:
        _queue_store(pipe, store)
    pipe.execute()


def store_changed(*, store_id: int) -> None:
    """Call after writing a store (the admin does): the geo set follows once the transaction commits.

    Redis down at that moment: logged; ``seed_demo`` (every ``make run``)
    rebuilds the set from the table, as does any search that finds it missing.
    """

    def sync() -> None:
        try:
            store_sync(store_id=store_id)
        except RedisError as exc:
            log.warning("store %s not updated in the geo set: %s", store_id, exc)

    transaction.on_commit(sync)
