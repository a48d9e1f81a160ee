"""The home page and the lesson pages: each runs its pattern for real and counts what it cost."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def test_home_lists_the_use_cases_and_the_redis_panel(client):
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Round trips and pipelining" in html and 'href="/patterns/pipelining/"' in html
    assert 'id="redis-panel"' in html
    assert "<!--redis-trace-panel-->" not in html
    assert "PING" in html  # the health probe behind the banner is listed, like every command
    assert "Redis unavailable" not in html


def test_pipelining_demo_counts_round_trips(client):
    response = client.get("/patterns/pipelining/")
    rows = {r["label"]: r for r in response.context["results"]}
    assert (rows["one by one"]["commands"], rows["one by one"]["round_trips"]) == (20, 20)
    assert (rows["pipeline"]["commands"], rows["pipeline"]["round_trips"]) == (20, 1)
    assert (rows["MGET"]["commands"], rows["MGET"]["round_trips"]) == (1, 1)
    assert all(r["values_ok"] for r in rows.values())
    # and the page shows its own code, read from the module
    html = response.content.decode()
    assert "<figcaption>redis_patterns/roundtrips.py</figcaption>" in html
    text = re.sub(r"<[^>]+>", "", html)  # the code is highlighted: drop the markup
    assert "def read_pipelined(client" in text and "pipe.execute()" in text


def test_scripts_demo_runs_and_recovers_after_the_server_forgets(client, raw_redis):
    first = client.post("/patterns/scripts/", {"action": "run"})
    assert first.status_code == 200
    assert first.context["call"].round_trip_count in (1, 3)  # 3 the very first time: load on demand
    steady = client.post("/patterns/scripts/", {"action": "run"})
    assert steady.context["call"].round_trip_count == 1
    forgot = client.post("/patterns/scripts/", {"action": "forget"})
    assert forgot.context["call"].round_trip_count == 3
    assert forgot.context["mode"] == "functions"
    high = max(first.context["candidate"], steady.context["candidate"], forgot.context["candidate"])
    assert forgot.context["current"] == high
    assert int(raw_redis.get("t:demo:high-score")) == high


def test_scripts_demo_rejects_unknown_actions(client, raw_redis):
    response = client.post("/patterns/scripts/", {"action": "flushall"})
    assert response.status_code == 400
    assert raw_redis.dbsize() == 0


def test_the_home_page_marks_no_data_structure_use_case_as_planned(client):
    html = client.get("/").content.decode()
    for title, url in [("Unique visitors", "/shop/visitors/"), ("Activity bitmaps", "/shop/activity/"),
                       ("Store locator", "/shop/stores/"), ("Tags and facets", "/shop/tags/"),
                       ("Autocomplete and search", "/shop/search/"), ("Redis Stack modules", "/shop/modules/")]:
        row = re.search(rf"<tr[^>]*>(?:(?!</tr>).)*{title}(?:(?!</tr>).)*</tr>", html, re.S)
        assert row is not None, title
        assert "planned" not in row.group(0) and f'href="{url}"' in row.group(0), title


def test_the_home_page_claims_only_what_has_a_page(client):
    from html import unescape

    from lessons.usecases import USE_CASES

    html = client.get("/").content.decode()
    hero = unescape(html.split('<section class="hero">')[1].split("</section>")[0])
    working, _, planned = hero.partition("Still to come")
    for uc in USE_CASES:
        if uc.url_name:
            assert uc.title.lower() in working, uc.title
        else:
            assert uc.title.lower() in planned, uc.title
            assert uc.title.lower() not in working, uc.title


def test_every_page_has_its_title_menus_and_favicon(client):
    html = client.get("/patterns/pipelining/").content.decode()
    assert "<title>Round trips and pipelining · Django Redis reference</title>" in html
    assert 'rel="icon" href="/static/site/favicon.svg"' in html
    # Menus: real buttons that say whether they are open, each controlling its list.
    assert '<button type="button" class="nav-toggle" aria-expanded="false" aria-controls="menu-shop">Shop<span' in html
    assert '<ul class="nav-items" id="menu-shop" hidden>' in html
    assert "<details" not in html.split("</header>")[0]
    assert "/static/site/site.js" in html
    favicon = client.get("/favicon.ico")
    assert favicon.status_code == 302 and favicon["Location"].endswith("site/favicon.svg")


def test_a_missing_page_is_a_site_page_with_a_way_back(client):
    response = client.get("/shop/products/999999/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "<title>Not found · Django Redis reference</title>" in html
    assert 'class="site-header"' in html and 'href="/shop/"' in html
    assert client.get("/api/nothing-here").json()["error"] == "not_found"  # the API stays JSON


def test_shown_code_is_captioned_with_its_own_file_even_when_decorated():
    """``shop.selectors.product_get`` is wrapped by a metrics decorator in ``ops/metrics.py``: the caption names
    the file the shown code is in, not the decorator's."""
    from django.template import Context, Template

    html = Template('{% load source %}{% source "shop.selectors.product_get" %}').render(Context())
    assert "<figcaption>shop/selectors.py</figcaption>" in html
    assert "def product_get(" in re.sub(r"<[^>]+>", "", html)
