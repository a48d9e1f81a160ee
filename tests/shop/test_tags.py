"""Tags as sets: all-of, any-of, exclusion against the database's answer, paging, featured, bad input."""

from __future__ import annotations

import pytest

from shop import keys, selectors, tags
from shop.models import Product, Tag

pytestmark = pytest.mark.django_db


def tagged(name: str) -> set[int]:
    return set(Product.objects.filter(tags__name=name).values_list("pk", flat=True))


def all_pages(client, query: str) -> tuple[list[int], dict]:
    first = client.get(f"/api/products?{query}&page=1").json()
    ids = [p["id"] for p in first["products"]]
    for page in range(2, first["num_pages"] + 1):
        ids += [p["id"] for p in client.get(f"/api/products?{query}&page={page}").json()["products"]]
    return ids, first


@pytest.fixture
def big_catalog(db):
    from django.core.management import call_command

    call_command("seed_demo", products=300, quiet=True, stdout=open("/dev/null", "w"))  # noqa: SIM115


@pytest.mark.parametrize("query, expected", [
    ("tags=eco", lambda: tagged("eco")),
    ("tags=eco,gift&mode=all", lambda: tagged("eco") & tagged("gift")),
    ("tags=gift,eco&mode=any", lambda: tagged("eco") | tagged("gift")),
    ("tags=eco,gift&mode=any&exclude=sale", lambda: (tagged("eco") | tagged("gift")) - tagged("sale")),
    ("exclude=sale,new", lambda: set(Product.objects.values_list("pk", flat=True)) - tagged("sale") - tagged("new")),
])
def test_set_algebra_matches_the_database_on_every_page(client, big_catalog, query, expected):
    ids, first = all_pages(client, query)
    assert ids == sorted(expected())  # every match once, pages in id order
    assert first["count"] == len(ids) and first["page_size"] == tags.PAGE_SIZE
    assert all(set(p) == {"id", "name", "price", "tags"} for p in first["products"])


def test_the_combination_is_stored_briefly_and_reused_by_the_next_pages(client, big_catalog, raw_redis):
    client.get("/api/products?tags=eco,gift&mode=any&page=1")
    generation = selectors.catalog_generation()
    stored = keys.tag_query(generation, tags.TagQuery(("eco", "gift"), "any", (), 1).canonical)
    assert 0 < raw_redis.ttl(stored) <= tags.QUERY_TTL
    assert raw_redis.scard(stored) == len(tagged("eco") | tagged("gift"))
    # The tag order in the URL does not matter: same stored result.
    client.get("/api/products?tags=gift,eco&mode=any&page=2")
    assert len(raw_redis.keys("*:q:*")) == 1


@pytest.mark.parametrize("query, code", [
    ("tags=nosuchtag", "unknown_tag"), ("exclude=nosuchtag", "unknown_tag"), ("mode=some", "invalid_parameter"),
    ("tags=Eco!", "invalid_parameter"), ("tags=a,b,c,d,e,f", "invalid_parameter"), ("page=0", "invalid_parameter"),
    ("page=x", "invalid_parameter"), ("tags=eco&exclude=eco", "invalid_parameter"), ("tags=eco&page=999", "out_of_range"),
])
def test_bad_input_is_a_json_400(client, catalog, query, code):
    response = client.get(f"/api/products?{query}")
    assert response.status_code == 400 and response.json()["error"] == code


def test_a_product_write_is_reflected_by_a_new_generation(client, catalog, django_capture_on_commit_callbacks):
    from shop import services

    product = catalog[0]
    before = {p["id"] for p in client.get("/api/products?tags=refurbished").json()["products"]}
    with django_capture_on_commit_callbacks(execute=True):
        product.tags.add(Tag.objects.get(name="refurbished"))
        services.product_changed(product_id=product.pk)
    after = {p["id"] for p in client.get("/api/products?tags=refurbished").json()["products"]}
    assert after == before | {product.pk}


def test_featured_is_a_random_pick_of_bestsellers_and_the_page_filters(client, big_catalog):
    bestsellers = tagged("bestseller")
    picks = [p["id"] for _ in range(5) for p in tags.featured()]
    assert set(picks) <= bestsellers and len(set(picks)) > 4
    page = client.get("/shop/tags/?tags=eco&tags=gift&mode=all&exclude=sale")
    assert page.status_code == 200
    assert page.context["result"]["count"] == len((tagged("eco") & tagged("gift")) - tagged("sale"))
    assert 'id="featured"' in page.content.decode() and "SRANDMEMBER" in page.content.decode()
    assert client.get("/shop/tags/?tags=nosuchtag").status_code == 400
