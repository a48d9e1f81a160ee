"""The staff pages about the running Redis: overview, slow log, keyspace browser, key reports."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from sessions_app.keys import active_users_key as activity_key
from shop import keys as shop_keys

pytestmark = pytest.mark.django_db

PAGES = ["/ops/", "/ops/redis/", "/ops/redis/slowlog/", "/ops/redis/keys/", "/ops/redis/reports/",
         "/ops/redis/figures.json"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_staff_only(client, django_user_model, path):
    assert client.get(path).status_code == 302
    django_user_model.objects.create_user("joe", password="pw-joe-12345")
    client.login(username="joe", password="pw-joe-12345")
    res = client.get(path)
    assert res.status_code == 302 and "/admin/login/" in res["Location"]


def test_overview_shows_live_figures_of_the_apps_redis(staff_client, raw_redis):
    raw_redis.set("t:shop:catalog:gen", 7)
    raw_redis.get("t:shop:catalog:gen")  # a hit
    raw_redis.get("t:shop:product:{999999}")  # a miss
    info = raw_redis.info()
    res = staff_client.get("/ops/redis/")
    assert res.status_code == 200
    page = res.content.decode()
    assert info["redis_version"] in page
    assert f"127.0.0.1:{raw_redis.connection_pool.connection_kwargs['port']}" in page
    assert "maxmemory-policy" in page and "fragmentation" in page.lower()
    assert "Redis on this page" in page and "INFO" in page

    figures = staff_client.get("/ops/redis/figures.json").json()["figures"]
    # the catalog generation, and the staff user marked active today (sessions_app.activity)
    assert figures["keys"] == 2 and raw_redis.exists(activity_key(datetime.now(UTC).date()))
    assert figures["keyspace_hits"] >= 1 and figures["keyspace_misses"] >= 1
    assert 0 < figures["hit_ratio"] < 1
    assert figures["connected_clients"] >= 1 and figures["used_memory"] > 0


def test_fragmentation_thresholds_follow_the_course():
    from ops.selectors import fragmentation_verdict

    big = 500 * 1024 * 1024
    assert fragmentation_verdict(0.8, big)["level"] == "bad"
    assert fragmentation_verdict(1.2, big)["level"] == "ok"
    assert fragmentation_verdict(1.9, big)["level"] == "warn"
    assert fragmentation_verdict(4.0, 2 * 1024 * 1024)["level"] == "small"


def test_overview_says_redis_is_down(staff_client, redis_server):
    redis_server.stop()
    res = staff_client.get("/ops/redis/")
    assert res.status_code == 503 and "Redis error" in res.content.decode()
    assert staff_client.get("/ops/redis/figures.json").status_code == 503


def test_slowlog_lists_slow_commands_with_arguments_and_sorts_commandstats(staff_client, raw_redis):
    raw_redis.config_set("slowlog-log-slower-than", 0)  # log everything: the table is not empty
    try:
        raw_redis.set("t:shop:catalog:gen", "3")
        raw_redis.hset("t:shop:switches", "xfetch", "on")
        res = staff_client.get("/ops/redis/slowlog/?sort=usec_per_call")
    finally:
        raw_redis.config_set("slowlog-log-slower-than", 10000)
        raw_redis.slowlog_reset()
    page = res.content.decode()
    assert res.status_code == 200
    assert "hset t:shop:switches xfetch on" in page.lower()
    rows = re.findall(r'<tr><td><code>([a-z| ]+)</code></td><td class="num">(\d+)</td><td class="num">(\d+)</td>'
                      r'<td class="num">([\d.]+)</td>', page)
    per_call = [float(r[3]) for r in rows]
    assert len(rows) >= 3 and per_call == sorted(per_call, reverse=True)
    by_calls = staff_client.get("/ops/redis/slowlog/?sort=calls").content.decode()
    calls = [int(c) for _, c, _, _ in re.findall(r'<tr><td><code>([a-z| ]+)</code></td><td class="num">(\d+)</td>'
                                                 r'<td class="num">(\d+)</td><td class="num">([\d.]+)</td>', by_calls)]
    assert calls == sorted(calls, reverse=True)


@pytest.mark.slow
def test_provoking_slow_commands_uses_a_scratch_server_not_the_apps(staff_client, raw_redis):
    def app_keys() -> set[str]:  # but the staff user's daily-activity bit, which every request sets
        return {k for k in raw_redis.scan_iter() if k != activity_key(datetime.now(UTC).date())}

    before = app_keys(), raw_redis.slowlog_len()
    res = staff_client.post("/ops/redis/slowlog/provoke/")
    assert res.status_code == 302
    assert (app_keys(), raw_redis.slowlog_len()) == before  # the app's Redis saw none of it
    page = staff_client.get("/ops/redis/slowlog/").content.decode()
    assert "Scratch server, last run" in page
    assert "keys k:1*" in page.lower() and "smembers big:set" in page.lower()


def test_keyspace_browser_scans_pages_with_a_cursor_and_filters(staff_client, raw_redis):
    for i in range(130):
        raw_redis.set(f"t:shop:product:{{{i}}}", "x", ex=300)
    raw_redis.hset("t:stock:{available}", mapping={"1": 5})
    raw_redis.set("other-deployment:key", "x")  # another prefix: not this deployment's, never listed
    res = staff_client.get("/ops/redis/keys/", {"family": "shop:product:{<id>}"})
    assert res.status_code == 200
    seen = set(re.findall(r"t:shop:product:\{\d+\}", res.content.decode()))
    cursor = int(res.context["page"]["cursor"])
    while cursor:
        res = staff_client.get("/ops/redis/keys/", {"family": "shop:product:{<id>}", "cursor": cursor})
        seen |= {row.name for row in res.context["page"]["rows"]}
        cursor = res.context["page"]["cursor"]
    assert len(seen) == 130
    rows = staff_client.get("/ops/redis/keys/", {"type": "hash"}).context["page"]["rows"]
    cursor_rows = list(rows)
    assert [r.name for r in cursor_rows] == ["t:stock:{available}"]
    assert cursor_rows[0].family == "stock:{available}" and cursor_rows[0].encoding == "listpack"
    assert cursor_rows[0].ttl == "none" and cursor_rows[0].memory > 0


def test_keyspace_filter_text_never_becomes_a_glob(staff_client, raw_redis):
    raw_redis.set("t:shop:product:{1}", "x", ex=60)
    res = staff_client.get("/ops/redis/keys/", {"starts": "shop:*"})
    assert res.status_code == 200
    assert res.context["page"]["match"] == r"t:shop:\**"
    assert res.context["page"]["rows"] == []
    assert staff_client.get("/ops/redis/keys/", {"starts": "shop:product"}).context["page"]["rows"][0].name == \
        "t:shop:product:{1}"


@pytest.mark.parametrize("query", [{"cursor": "-1"}, {"cursor": "x"}, {"type": "bogus"}, {"family": "nope:<x>"}])
def test_keyspace_bad_filters_are_400(staff_client, query):
    assert staff_client.get("/ops/redis/keys/", query).status_code == 400


def test_key_preview_is_bounded_for_each_type(staff_client, raw_redis):
    big_list = shop_keys.cart("someone")  # any hash family will do for the hash case
    raw_redis.hset(big_list, mapping={str(i): i for i in range(500)})
    raw_redis.rpush("t:q:{demo}:ready", *[f"job-{i}" for i in range(1000)])
    raw_redis.set("t:shop:product:{5}", "v" * 5000, ex=60)
    for name, length in [(big_list, 500), ("t:q:{demo}:ready", 1000), ("t:shop:product:{5}", 5000)]:
        res = staff_client.get("/ops/redis/keys/show/", {"name": name})
        assert res.status_code == 200
        detail = res.context["d"]
        assert detail["length"] == length
        assert len(detail["preview"]) <= 10
        assert all(len(v) < 260 for _, v in detail["preview"])
    assert staff_client.get("/ops/redis/keys/show/", {"name": "t:nope"}).status_code == 404
    assert staff_client.get("/ops/redis/keys/show/").status_code == 400


def test_reports_count_by_family_and_find_missing_ttls_undeclared_and_big_keys(staff_client, raw_redis):
    raw_redis.set("t:shop:product:{1}", "x", ex=60)
    raw_redis.set("t:shop:product:{2}", "x")  # a cache entry without its TTL
    raw_redis.set("t:surprise:key", "x")
    raw_redis.zadd("t:lb:{game}:best", {f"p{i}": i for i in range(2000)})  # permanent by design, and big
    res = staff_client.get("/ops/redis/reports/")
    assert res.status_code == 200
    ctx = res.context
    assert [s.name for s in ctx["no_ttl"]] == ["t:shop:product:{2}"]
    assert [s.name for s in ctx["undeclared"]] == ["t:surprise:key"]
    assert ctx["big"][0].name == "t:lb:{game}:best" and ctx["big"][0].length == 2000
    counts = {c.family.pattern: c.keys for c in ctx["counts"]}
    assert counts["shop:product:{<id>}"] == 2 and counts["lb:{<board>}:best"] == 1
    raw_redis.delete("t:surprise:key")  # or the registry audit after every test (tests/conftest.py) refuses it
