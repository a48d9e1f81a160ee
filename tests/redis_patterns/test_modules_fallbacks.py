"""One contract suite per feature, run against the Redis Stack module and against its core fallback.

The ``module`` parameter carries ``requires_modules`` (tests/redis_harness.py):
it skips with the reason when the server has no modules; on Redis Stack
(``make test-servers``) both run.
"""

from __future__ import annotations

import datetime as dt

import pytest

from redis_patterns import modules
from redis_patterns.bloom import BloomSize, CoreBloom, ModuleBloom, false_positive_rate
from redis_patterns.documents import HashDocuments, JsonDocuments, flatten, unflatten
from redis_patterns.search import CoreSearch, ModuleSearch, tokens
from redis_patterns.timeseries import HOUR_MS, MINUTE_MS, CoreSeries, ModuleSeries
from tests.conftest import wait_for


def kinds(module: str) -> list:
    """The fallback always; the module path where the server has ``module`` loaded."""
    return ["core", pytest.param("module", marks=pytest.mark.requires_modules(module))]


@pytest.fixture
def client(raw_redis):
    return raw_redis


# --- detection --------------------------------------------------------------------------------------


def test_detection_asks_once_and_says_why_not(client):
    modules.forget()
    found = modules.modules(client)
    assert modules.modules(client) is found  # cached per client
    if not found.has(modules.BLOOM):  # no modules, or only others (Valkey lists its Lua engine as one)
        assert "fallback" in found.describe(modules.BLOOM)
    else:
        assert found.has(modules.BLOOM) and found.describe(modules.BLOOM).startswith("module bf")


# --- bloom ------------------------------------------------------------------------------------------


@pytest.fixture(params=kinds(modules.BLOOM))
def bloom(request, client):
    if request.param == "module":
        return ModuleBloom(client, "t:bloom:bf", capacity=5000, error_rate=0.01)
    return CoreBloom(client, "t:bloom:bits", capacity=5000, error_rate=0.01)


def test_bloom_has_no_false_negatives_and_says_new_once(bloom):
    items = [f"CODE-{i}" for i in range(3000)]
    assert all(bloom.add_many(items[:2000]))  # every add of a new item reports it new (few collisions at 40%)
    assert bloom.add("CODE-1") is False and bloom.exists("CODE-1") is True
    assert all(bloom.exists_many(items[:2000]))  # never a false negative


def test_bloom_false_positive_rate_is_near_its_target(bloom):
    bloom.add_many([f"CODE-{i}" for i in range(5000)])  # filled to capacity
    rate = false_positive_rate(bloom, probes=20_000)
    assert rate < 0.02  # target 1% at capacity; the measured rate lands near it
    if isinstance(bloom, CoreBloom):
        assert abs(rate - bloom.size.expected_rate(5000)) < 0.005
        assert bloom.info()["bytes"] <= bloom.size.bits // 8 + 1


def test_bloom_sizing_formula():
    size = BloomSize.for_capacity(100_000, 0.01)
    assert (size.bits, size.hashes) == (958_506, 7)
    assert abs(size.expected_rate(100_000) - 0.01) < 0.001


# --- time series ---------------------------------------------------------------------------------------


@pytest.fixture(params=kinds(modules.TIMESERIES))
def series(request, client):
    if request.param == "module":
        return ModuleSeries(client, "t:ts:raw", "t:ts:hourly")
    return CoreSeries(client, "t:ts")


def test_series_counts_per_minute_and_per_hour(series, client):
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    base = now - now % HOUR_MS - 3 * HOUR_MS  # three hours ago, on the hour (recent: within the retention)
    events = [base + 5_000, base + 50_000, base + 61_000, base + 3 * MINUTE_MS + 1, base + HOUR_MS + 10,
              base + 2 * HOUR_MS + 7]
    pipe = client.pipeline(transaction=False)
    for ts in events:
        series.add(ts, pipe=pipe)
    pipe.execute()
    minutes = series.range(base, base + 4 * MINUTE_MS, MINUTE_MS)
    assert minutes == [(base, 2), (base + MINUTE_MS, 1), (base + 2 * MINUTE_MS, 0), (base + 3 * MINUTE_MS, 1),
                       (base + 4 * MINUTE_MS, 0)]
    hours = series.range(base, base + 2 * HOUR_MS + 30_000, HOUR_MS)
    assert hours == [(base, 4), (base + HOUR_MS, 1), (base + 2 * HOUR_MS, 1)]


def test_core_series_keys_expire_with_the_day(client):
    series = CoreSeries(client, "t:ts")
    today = dt.datetime.now(dt.UTC).date()
    series.add(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
    end = int(dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC).timestamp())
    assert client.expiretime(f"t:ts:m:{today.isoformat()}") == end + 8 * 86400
    assert client.expiretime(f"t:ts:h:{today.isoformat()}") == end + 90 * 86400


# --- search --------------------------------------------------------------------------------------------

DOCS = {
    1: {"name": "Nordic Lamp", "description": "A warm desk lamp", "category": "Furniture"},
    2: {"name": "Trail Lamp", "description": "A headlamp for night runs", "category": "Outdoors"},
    3: {"name": "Nordic Desk", "description": "Oak desk", "category": "Furniture"},
}


@pytest.fixture(params=kinds(modules.SEARCH))
def engine(request, client):
    def doc(i: int) -> str:
        return f"t:search:{{fts}}:doc:{i}"

    if request.param == "module":
        found = ModuleSearch(client, index_name="t:search:idx", doc_prefix="t:search:{fts}:doc:", doc_key=doc)
        found.drop()
        return found
    return CoreSearch(client, doc_key=doc, term_key=lambda t: f"t:search:{{fts}}:term:{t}")


def _settle(engine):
    if isinstance(engine, ModuleSearch):
        wait_for(lambda: not engine.indexing(), timeout=10)


def test_search_finds_documents_with_every_word(engine):
    for i, fields in DOCS.items():
        engine.index(i, fields)
    _settle(engine)
    assert sorted(engine.query("nordic")[1]) == [1, 3]
    assert engine.query("Nordic LAMP") == (1, [1])
    assert engine.query("zebra") == (0, [])
    assert engine.query("!!") == (0, [])


def test_search_follows_updates_and_removals(engine):
    for i, fields in DOCS.items():
        engine.index(i, fields)
    engine.index(1, {**DOCS[1], "name": "Nordic Chair"})
    engine.remove(3)
    _settle(engine)
    assert engine.query("nordic")[1] == [1]
    assert engine.query("chair")[1] == [1]
    assert engine.query("desk lamp")[1] == [1]  # the description still has both words


def test_tokens():
    assert tokens("Chef's Knife, 20cm - Chef's!") == ["chef", "knife", "20cm"]


# --- documents ------------------------------------------------------------------------------------------

PRODUCT = {"id": 7, "name": "Nordic Lamp", "price": "19.99", "stock": 12, "tags": ["eco", "gift"],
           "category": {"id": 2, "name": "Furniture", "slug": "furniture"}}


@pytest.fixture(params=kinds(modules.JSON))
def documents(request, client):
    if request.param == "module":
        return JsonDocuments(client)
    return HashDocuments(client)


def test_documents_round_trip_read_paths_and_increment(documents, client):
    documents.put("t:doc:{7}", PRODUCT, ttl=60)
    assert documents.get("t:doc:{7}") == PRODUCT
    assert documents.get("t:doc:{7}", ["price", "category.name", "tags"]) == {
        "price": "19.99", "category.name": "Furniture", "tags": ["eco", "gift"]}
    assert documents.incr("t:doc:{7}", "stock", -3) == 9
    assert documents.get("t:doc:{7}", ["stock"]) == {"stock": 9}
    assert 0 < client.ttl("t:doc:{7}") <= 60
    assert documents.get("t:doc:{missing}") is None
    assert documents.incr("t:doc:{missing}", "stock", 1) is None
    documents.put("t:doc:{7}", {"id": 7}, ttl=60)  # a new version replaces the old one whole
    assert documents.get("t:doc:{7}") == {"id": 7}


def test_flatten_round_trip():
    assert unflatten(flatten(PRODUCT)) == PRODUCT
    assert flatten({"a": {"b": {"c": 1}}, "d": {}}) == {"a.b.c": "1", "d": "{}"}
