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
    # the chart scales to the slowest strategy, whichever it was this time: no bar is wider than its row
    bars = [r["bar_pct"] for r in rows.values()]
    assert max(bars) == 100 and min(bars) >= 0
    assert all(f"--w: {r['bar_pct']}%" in response.content.decode() for r in rows.values())
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
    from lessons.services import _as_dict

    libraries = [_as_dict(lib)["library_name"] for lib in raw_redis.function_list()]
    forgot = client.post("/patterns/scripts/", {"action": "forget"})
    assert forgot.context["call"].round_trip_count == 3  # the failing call, the load, the retry
    assert forgot.context["mode"] == "functions" and forgot.context["scratch"]
    # ... on a scratch server: the site's Redis never forgot anything, for anyone
    assert [_as_dict(lib)["library_name"] for lib in raw_redis.function_list()] == libraries
    assert client.post("/patterns/scripts/", {"action": "run"}).context["call"].round_trip_count == 1
    high = max(first.context["candidate"], steady.context["candidate"])
    assert int(raw_redis.get("t:demo:high-score")) >= high


def test_scripts_demo_rejects_unknown_actions(client, raw_redis):
    response = client.post("/patterns/scripts/", {"action": "flushall"})
    assert response.status_code == 400
    assert [k for k in raw_redis.scan_iter() if not k.startswith("t:rl:")] == []  # only the demo limiter counted


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


def test_every_response_carries_a_content_security_policy_without_inline_scripts(client):
    for path in ("/", "/checkout/", "/leaderboard/", "/api/cart", "/healthz", "/admin/login/"):
        policy = client.get(path)["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    for path in ("/", "/checkout/", "/leaderboard/", "/realtime/"):
        html = client.get(path).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"an inline script on {path}"


def test_anonymous_visitors_never_see_the_redis_address_or_error(client, redis_server, django_user_model, settings):
    from config.redis import forget_redis_health

    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"  # the staff login must outlive the outage
    redis_server.stop()
    forget_redis_health()
    html = client.get("/").content.decode()
    assert "Redis unavailable" in html
    assert str(redis_server.port) not in html and "Error" not in html.split("redis-down-banner")[1][:400]
    staff = django_user_model.objects.create_user("ops", password="pw-ops-12345", is_staff=True)
    client.force_login(staff)
    forget_redis_health()
    assert str(redis_server.port) in client.get("/").content.decode()  # staff see where and why


def test_demo_buttons_are_rate_limited_per_visitor(client):
    codes = [client.post("/patterns/queues/", {"action": "explode"}).status_code for _ in range(30)]
    # the demos rule: a bucket of 20 a minute per visitor (it refills a token every 3 s meanwhile)
    assert codes[:20] == [400] * 20 and 429 in codes
    other = __import__("django.test", fromlist=["Client"]).Client(REMOTE_ADDR="192.0.2.9")
    assert other.post("/patterns/queues/", {"action": "explode"}).status_code == 400  # another visitor


def test_a_heavy_demo_runs_one_at_a_time_site_wide(client, r):
    """Six concurrent stampede runs slowed every page: a run holds the one slot, another waits its turn."""
    from config.demos import heavy_slots_key
    from redis_patterns import semaphore
    from redis_patterns.scripts import loader
    from shop.models import Category, Product

    category = Category.objects.create(name="C", slug="c")
    product = Product.objects.create(category=category, name="P", slug="p", description="", price=1, stock=1,
                                     image_hue=1)
    assert semaphore.acquire(r, loader("redis_patterns"), heavy_slots_key(), "someone-elses-run", limit=1,
                             lease_ms=60_000)
    busy = client.post("/patterns/stampede/", {"requests": "5", "load_ms": "0", "scenario": "cold"})
    assert busy.status_code == 429 and "in progress" in busy.content.decode()
    assert client.post(f"/patterns/hot-keys/?product={product.pk}", {"product": product.pk}).status_code == 429
    r.zrem(heavy_slots_key(), "someone-elses-run")  # that run ended
    done = client.post("/patterns/stampede/", {"requests": "5", "load_ms": "0", "scenario": "cold"})
    assert done.status_code == 200 and done.context["results"]
    assert r.zcard(heavy_slots_key()) == 0  # our run gave its slot back
