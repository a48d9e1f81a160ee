"""Autocomplete: every suggestion starts with the prefix, ranked by views, one round trip, following edits."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from redis_patterns.tracing import tracing
from shop import autocomplete, keys
from shop.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def names(db):
    call_command("seed_demo", products=400, quiet=True, stdout=open("/dev/null", "w"))  # noqa: SIM115
    return dict(Product.objects.values_list("pk", "name"))


@pytest.mark.parametrize("prefix", ["n", "No", "NORDIC", "nordic l", "classic chef's", "zen", "x", "deluxe c"])
def test_every_suggestion_starts_with_the_prefix_and_none_is_missed(client, names, prefix):
    found = client.get(f"/api/products/autocomplete?q={prefix}&limit=20").json()
    expected = sorted(n for n in names.values() if n.lower().startswith(prefix.lower()))
    assert all(s["name"].lower().startswith(prefix.lower()) for s in found)
    assert all(names[s["id"]] == s["name"] for s in found)
    assert len(found) == min(20, len(expected))
    if len(expected) <= 20:
        assert sorted(s["name"] for s in found) == expected
    else:  # no views yet: the first matches in name order
        assert [s["name"] for s in found] == expected[:20]


def test_the_most_viewed_come_first(client, names, r):
    nordic = sorted((n, pid) for pid, n in names.items() if n.startswith("Nordic"))
    favourite, second = nordic[-1][1], nordic[-2][1]
    r.zincrby(keys.autocomplete_popularity(), 50, favourite)
    r.zincrby(keys.autocomplete_popularity(), 10, second)
    found = client.get("/api/products/autocomplete?q=nor&limit=5").json()
    assert [s["id"] for s in found[:2]] == [favourite, second]


def test_one_round_trip_per_keystroke(names):
    autocomplete.autocomplete(prefix="c")  # the index exists from seed_demo
    for prefix in ("c", "cl", "cla", "clas"):
        with tracing() as trace:
            autocomplete.autocomplete(prefix=prefix, limit=8)
        assert trace.round_trip_count == 1


def test_a_rename_moves_the_product_in_the_index(names, django_capture_on_commit_callbacks):
    from shop import services

    product = Product.objects.get(pk=next(iter(names)))
    with django_capture_on_commit_callbacks(execute=True):
        services.product_update(product_id=product.pk, changes={"name": "Quasar Kettle"})
    assert [s["id"] for s in autocomplete.autocomplete(prefix="quasar")] == [product.pk]
    assert product.pk not in [s["id"] for s in autocomplete.autocomplete(prefix=product.name[:12], limit=20)]


def test_a_missing_index_is_rebuilt_and_the_swap_is_atomic(names, raw_redis):
    raw_redis.delete(keys.autocomplete_index(), keys.autocomplete_members())
    assert len(autocomplete.autocomplete(prefix="c", limit=20)) > 0
    assert raw_redis.zcard(keys.autocomplete_index()) == len(names)
    assert raw_redis.ttl(keys.autocomplete_index()) == -1  # permanent (an index of the table)
    assert raw_redis.keys("*:new:*") == []  # the staging keys were renamed away


@pytest.mark.parametrize("query", ["q=", "q=%20%20", "", "q=" + "a" * 51, "q=ab&limit=0", "q=ab&limit=21",
                                   "q=ab&limit=x"])
def test_empty_or_over_long_prefix_and_bad_limit_are_400(client, query):
    response = client.get(f"/api/products/autocomplete?{query}")
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_prefix", "invalid_parameter")


def test_the_search_page_has_the_debounced_box(client, names):
    name = names[min(names)]  # e.g. "Deluxe Novel 0001"
    words = " ".join(name.split()[:2])
    html = client.get(f"/shop/search/?q={words.lower()}").content.decode()
    assert 'data-autocomplete="/api/products/autocomplete"' in html and "autocomplete.js" in html
    assert 'id="search-results"' in html and name in html
