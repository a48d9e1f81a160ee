"""The shop's module-backed features on whichever path the server offers, and the page that says which."""

from __future__ import annotations

import pytest
from django.test import Client

from redis_patterns import modules
from shop import stack, visitors

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["core", pytest.param("module", marks=pytest.mark.requires_modules())])
def path(request, settings, raw_redis):
    """Run a test on the core fallback (SHOP_MODULES off) and on the module path (skipped without modules)."""
    settings.SHOP_MODULES = request.param == "module"
    modules.forget()
    yield request.param
    modules.forget()


def test_the_page_says_which_path_runs_and_checks_coupons(client, catalog, path):
    page = client.get("/shop/modules/")
    html = page.content.decode()
    assert page.status_code == 200
    expected = "module bf" if path == "module" else "core fallback"
    assert expected in page.context["paths"]["bloom"] and expected in html
    assert page.context["bloom"]["kind"] == path
    assert page.context["bloom"]["measured_rate"] < 0.03  # ~1% at capacity, on 1,000 probes
    taken = client.post("/shop/modules/", {"code": "save-000123", "action": "check"})
    assert taken.context["checked"] == ("SAVE-000123", True)
    claimed = client.post("/shop/modules/", {"code": "NEW-CODE-1", "action": "claim"})
    assert claimed.context["claimed"] == ("NEW-CODE-1", True)
    again = client.post("/shop/modules/", {"code": "new-code-1", "action": "claim"})
    assert again.context["claimed"] == ("NEW-CODE-1", False)
    assert client.post("/shop/modules/", {"code": "", "action": "check"}).status_code == 400
    assert client.post("/shop/modules/", {"code": "x" * 41, "action": "check"}).status_code == 400


def test_placed_orders_are_counted_per_minute(catalog, path, django_capture_on_commit_callbacks):
    from shop import checkout
    from shop.stock import CartLine

    before = sum(v for _, v in stack.orders_per_minute(minutes=5))
    for i in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            checkout.order_checkout(owner=f"session:ts{i}", user_id=None, lines=[CartLine(catalog[0].pk, 1)],
                                    idempotency_key=f"ts-{path}-{i}")
    per_minute = stack.orders_per_minute(minutes=5)
    assert sum(v for _, v in per_minute) == before + 3
    assert sum(v for _, v in stack.orders_per_hour(hours=2)) == before + 3


def test_search_and_the_product_document(catalog, path):
    product = catalog[0]
    result = stack.search(" ".join(product.name.lower().split()[:2]), limit=50)
    assert result["path"] == path and product.pk in [p["id"] for p in result["products"]]
    document = stack.product_document(product.pk)
    assert document["path"] == path and document["document"]["name"] == product.name
    assert dict(document["paths"]) == {"price": str(product.price), "category.name": product.category.name}


def test_search_follows_a_rename_after_the_commit(catalog, path, django_capture_on_commit_callbacks):
    from shop import services

    product = catalog[1]
    stack.search("anything")  # builds the documents
    with django_capture_on_commit_callbacks(execute=True):
        services.product_update(product_id=product.pk, changes={"name": "Xylophone Kettle"})
    if path == "module":
        from tests.conftest import wait_for

        wait_for(lambda: stack.search("xylophone")["total"] == 1, timeout=5)
    assert [p["id"] for p in stack.search("xylophone kettle")["products"]] == [product.pk]


def test_module_list_refused_means_the_fallback_with_its_reason(r):
    class Refusing:
        def execute_command(self, *args):
            from redis.exceptions import ResponseError

            raise ResponseError("NOPERM this user has no permissions to run the 'module|list' command")

    found = modules.detect(Refusing())
    assert not found.versions and "NOPERM" in found.reason
    assert found.describe(modules.SEARCH).startswith("core fallback (MODULE LIST refused")


def test_the_search_page_reports_the_path(client, catalog):
    html = client.get("/shop/search/?q=deluxe").content.decode()
    assert 'id="search-path"' in html and ("core fallback" in html or "module search" in html)


def test_activity_and_encodings_pages(client, catalog, r, server_info):
    from sessions_app.keys import active_users_key

    r.setbit(active_users_key(visitors.today()), 3, 1)
    assert client.get("/shop/activity/").status_code == 200
    page = client.get("/patterns/encodings/")
    assert page.status_code == 200
    rows = {(row["type"], row["variant"]): row["report"] for row in page.context["demo"]}
    assert rows[("set", "ints-at")].encoding == "intset" and rows[("set", "ints-over")].encoding == "hashtable"
    assert rows[("zset", "at")].encoding == "listpack" and rows[("zset", "over")].encoding == "skiplist"
    assert rows[("hash", "at")].encoding == "listpack" and rows[("hash", "over")].encoding == "hashtable"
    assert rows[("hash", "long-value")].encoding == "hashtable"
    assert rows[("string", "int")].encoding == "int" and rows[("string", "44-bytes")].encoding == "embstr"
    # Redis keeps strings up to 44 bytes in one allocation with the object; Valkey 8+ embeds the key
    # too and moved that limit, so a 45-byte string may still be embstr there.
    assert rows[("string", "45-bytes")].encoding == "raw" or server_info.name.lower() == "valkey"
    assert rows[("set", "ints-over")].memory > 2 * rows[("set", "ints-at")].memory  # the conversion costs memory
    assert all(0 < r.ttl_s <= 300 for r in rows.values())
    assert "hll-sparse-max-bytes" in page.content.decode()


def test_no_key_written_by_these_features_lacks_a_declared_family(client, catalog, raw_redis, settings):
    from config.keyspace import family_of

    Client().get(f"/shop/products/{catalog[0].pk}/")
    for url in ["/shop/", "/shop/stores/", "/shop/visitors/", "/shop/activity/", "/shop/recent/", "/shop/tags/?tags=eco",
                "/shop/search/?q=deluxe", "/shop/modules/", "/patterns/encodings/",
                "/api/products/autocomplete?q=d"]:
        assert client.get(url).status_code == 200, url
    prefix = settings.REDIS["key_prefix"]
    undeclared = [k for k in raw_redis.scan_iter(count=1000)
                  if family_of(k, prefix=prefix) is None and not k.startswith(("t:rl:", "t:session"))]
    assert undeclared == []
