"""The Django rate-limit adapter: rules from settings, 429s, client IPs, failure policy."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import RequestFactory

from config import ratelimit as adapter
from redis_patterns.tracing import tracing

pytestmark = pytest.mark.django_db


def rules(**overrides):
    base = {
        "login-ip": {"key": "ip", "methods": ["POST"], "algorithm": "sliding_window", "limit": 4, "period": 300,
                     "fail": "closed"},
        "login-username": {"key": "username", "methods": ["POST"], "algorithm": "sliding_log", "limit": 2,
                           "period": 300, "fail": "closed"},
        "leaderboard-scores": {"path": r"^/api/leaderboards/[^/]+/scores$", "methods": ["POST"], "key": "user_or_ip",
                               "algorithm": "token_bucket", "limit": 2, "period": 60, "fail": "open"},
        "checkout": {"path": r"^/api/orders/?$", "methods": ["POST"], "key": "user_or_ip",
                     "algorithm": "sliding_log", "limit": 2, "period": 60, "fail": "local"},
        "api": {"path": r"^/api/", "key": "ip", "algorithm": "gcra", "limit": 5, "period": 60,
                "fail": "open"},
    }
    base.update(overrides)
    return base


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.RATELIMIT_RULES = rules()
    settings.RATELIMIT_TRUSTED_PROXIES = 0


def login(client, username, **extra):
    return client.post("/accounts/login/", {"username": username, "password": "wrong"}, **extra)


def test_login_page_and_a_real_login_and_logout(client):
    User.objects.create_user("ada", password="correct-horse")
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "ada", "password": "correct-horse"})
    assert response.status_code == 302
    assert "ada" in client.get("/accounts/login/").content.decode()
    assert client.post("/accounts/logout/").status_code == 302
    assert "Log in" in client.get("/accounts/login/").content.decode()


def test_login_is_limited_per_username_with_a_readable_page(client):
    assert [login(client, "ada").status_code for _ in range(2)] == [200, 200]
    refused = login(client, "ADA")  # the same account, whatever the case
    assert refused.status_code == 429
    assert refused["Content-Type"].startswith("text/html")
    assert "Too many requests" in refused.content.decode()
    assert int(refused["Retry-After"]) > 0
    assert refused["RateLimit-Limit"] == "2" and refused["RateLimit-Remaining"] == "0"
    assert int(refused["RateLimit-Reset"]) > 0
    assert login(client, "bob").status_code == 200  # another account is not locked by it


def test_login_is_limited_per_ip_across_usernames(client):
    assert [login(client, f"user{i}").status_code for i in range(4)] == [200] * 4
    assert login(client, "user9").status_code == 429
    assert login(client, "user9", REMOTE_ADDR="198.51.100.7").status_code == 200


def test_spoofed_x_forwarded_for_does_not_raise_the_limit_without_a_proxy(client):
    codes = [login(client, f"u{i}", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code for i in range(6)]
    assert codes == [200, 200, 200, 200, 429, 429]


def test_spoofed_x_forwarded_for_does_not_raise_the_limit_behind_one_proxy(client, settings):
    settings.RATELIMIT_TRUSTED_PROXIES = 1
    # the client sends a made-up X-Forwarded-For; our proxy (10.0.0.2) appends the real address
    codes = [login(client, f"u{i}", REMOTE_ADDR="10.0.0.2",
                   HTTP_X_FORWARDED_FOR=f"203.0.113.{i}, 198.51.100.20").status_code for i in range(6)]
    assert codes == [200, 200, 200, 200, 429, 429]
    # another real client behind the same proxy has its own allowance
    assert login(client, "z", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.21").status_code == 200


@pytest.mark.parametrize("trusted,meta,expected", [
    (0, {"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, "192.0.2.1"),
    (1, {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 192.0.2.1"}, "192.0.2.1"),
    (2, {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 192.0.2.1, 10.0.0.1"}, "192.0.2.1"),
    (2, {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "10.0.0.1"}, "10.0.0.2"),  # fewer hops than proxies
    (1, {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "not-an-ip"}, "10.0.0.2"),
    (0, {"REMOTE_ADDR": "2001:db8:1:2:3:4:5:6"}, "2001:db8:1:2::/64"),
    (0, {"REMOTE_ADDR": "::ffff:192.0.2.9"}, "192.0.2.9"),
])
def test_client_ip(settings, trusted, meta, expected):
    settings.RATELIMIT_TRUSTED_PROXIES = trusted
    assert adapter.client_ip(RequestFactory().get("/", **meta)) == expected


def test_score_submission_is_limited_with_a_json_429(client):
    body = {"player": "ann", "score": 1}
    codes = [client.post("/api/leaderboards/reaction/scores", body, content_type="application/json").status_code
             for _ in range(3)]
    assert codes == [201, 201, 429]
    refused = client.post("/api/leaderboards/reaction/scores", body, content_type="application/json")
    assert refused.json()["error"] == "rate_limited" and refused.json()["rule"] == "leaderboard-scores"
    assert refused["RateLimit-Limit"] == "2" and int(refused["Retry-After"]) >= 1
    # reads are not submissions: the general API rule (limit 5) still admits them, with headers
    ok = client.get("/api/leaderboards/reaction/top")
    assert ok.status_code == 200 and ok["RateLimit-Limit"] == "5"


def test_a_made_up_api_key_buys_no_fresh_allowance(client):
    codes = [client.get("/api/leaderboards/reaction/top").status_code for _ in range(5)]
    assert codes == [200] * 5
    for n in range(3):  # every request a new key: the rule keys on the address only
        assert client.get("/api/leaderboards/reaction/top", HTTP_X_API_KEY=f"k{n}").status_code == 429


def test_the_settings_never_key_a_rule_on_something_the_client_chooses(settings):
    from django.conf import settings as live

    from config import settings as module

    for name, rule in module.RATELIMIT_RULES.items():
        assert rule["key"] in {"ip", "user", "user_or_ip", "username"}, name
    assert "api_key" not in adapter.KEY_FUNCTIONS and "api_key_or_ip" not in adapter.KEY_FUNCTIONS
    with pytest.raises(ImportError):
        adapter.key_function("header:x-api-key")
    assert live.RATELIMIT_TRUSTED_PROXIES == 0


def test_admin_login_shares_the_login_limits_with_accounts_login(client):
    User.objects.create_superuser("boss", password="right-password-1")
    assert login(client, "boss").status_code == 200  # 1 of 2 for this account, via /accounts/login/
    wrong = client.post("/admin/login/", {"username": "boss", "password": "wrong"})
    assert wrong.status_code == 200  # 2 of 2, via the admin's form
    refused = client.post("/admin/login/", {"username": "Boss", "password": "right-password-1"})
    assert refused.status_code == 429  # the right password, but the account's attempts are used up
    assert "_auth_user_id" not in client.session
    # per address too: every attempt above counted, so other accounts from this address
    # get one more try before the login-ip limit (4)
    assert [client.post("/admin/login/", {"username": f"u{i}", "password": "x"}).status_code
            for i in range(2)] == [200, 429]


def test_a_json_login_body_is_keyed_by_its_username_like_a_form(settings):
    from django.test import RequestFactory

    factory = RequestFactory()
    form = factory.post("/accounts/login/", {"username": "Ada ", "password": "x"})
    body = factory.post("/api/auth/token", {"username": "ada", "password": "x"}, content_type="application/json")
    assert adapter.KEY_FUNCTIONS["username"](form) == adapter.KEY_FUNCTIONS["username"](body) == "username:ada"
    nested = factory.post("/api/auth/token", "[" * 5000, content_type="application/json")
    assert adapter.KEY_FUNCTIONS["username"](nested) is None  # refused by the view; the per-address rule counts it


def test_checkout_rule_applies_to_post_api_orders_even_before_the_route_exists(client):
    codes = [client.post("/api/orders", {}, content_type="application/json").status_code for _ in range(3)]
    assert codes[2] == 429 and codes[0] != 429


def test_all_matching_rules_are_decided_in_one_round_trip(r):
    request = RequestFactory().post("/accounts/login/", {"username": "ada", "password": "x"})
    chosen = [adapter.rules()["login-ip"], adapter.rules()["login-username"]]
    adapter.check(request, chosen)  # loads the scripts
    with tracing() as trace:
        assert adapter.check(request, chosen) is None
    assert (trace.round_trip_count, trace.command_count) == (1, 2)


def test_fail_open_and_fail_closed_when_redis_is_down(client, redis_server):
    redis_server.stop()
    # the API rule fails open: the request goes through (and the route answers for itself)
    response = client.post("/api/orders/nothing-here", {}, content_type="application/json")
    assert response.status_code == 404
    # login fails closed: 503 with a page saying why
    refused = login(client, "ada")
    assert refused.status_code == 503 and "paused" in refused.content.decode()
    # the admin's login form too: it is a login path like any other
    refused = client.post("/admin/login/", {"username": "ada", "password": "x"})
    assert refused.status_code == 503 and "paused" in refused.content.decode()
    # checkout falls back to a per-process limiter of the same size: served (the view answers for
    # itself, here 400 for an empty body) up to the limit, then 429 from the fallback
    codes = [client.post("/api/orders", {}, content_type="application/json").status_code for _ in range(3)]
    assert codes == [400, 400, 429]


def test_the_local_fallback_counts_per_subject_and_forgets_old_entries():
    local = adapter.LocalSlidingLog(limit=2, period=10, max_subjects=2)
    assert [local.decide("a", now=0).allowed, local.decide("a", now=1).allowed] == [True, True]
    refused = local.decide("a", now=2)
    assert not refused.allowed and refused.retry_after == pytest.approx(8) and refused.remaining == 0
    assert local.decide("a", now=10.5).allowed  # the first entry left the window
    local.decide("b", now=11)
    local.decide("c", now=11)
    assert len(local._logs) == 2 and "a" not in local._logs  # bounded: the least recently used went


def test_async_views_use_adecide(settings):
    import asyncio

    from django.http import HttpResponse

    @adapter.ratelimit("login-username")
    async def view(request):
        return HttpResponse("ok")

    async def run():
        factory = RequestFactory()
        return [(await view(factory.post("/", {"username": "eve"}))).status_code for _ in range(3)]

    assert asyncio.run(run()) == [200, 200, 429]


def team_key(request):
    """A key function given by dotted path in a rule: one limit per team header."""
    team = request.META.get("HTTP_X_TEAM")
    return f"team:{team}" if team else None


def test_key_by_a_function_and_skipped_when_it_returns_none(client, settings):
    settings.RATELIMIT_RULES = rules(team={"path": r"^/api/", "key": "tests.config.test_ratelimit_adapter.team_key",
                                           "algorithm": "fixed_window", "limit": 1, "period": 60})
    url = "/api/leaderboards/reaction/top"
    assert client.get(url, HTTP_X_TEAM="red").status_code == 200
    assert client.get(url, HTTP_X_TEAM="red", REMOTE_ADDR="192.0.2.50").status_code == 429
    assert client.get(url, HTTP_X_TEAM="blue").status_code == 200
    assert client.get(url).status_code == 200  # no team: the rule does not apply


def test_system_check_reports_broken_rules(settings):
    settings.RATELIMIT_RULES = {
        "ok": {"key": "ip", "algorithm": "gcra", "limit": 5, "period": 1},
        "bad-algo": {"key": "ip", "algorithm": "leaky", "limit": 5, "period": 1},
        "bad-key": {"key": "no.such.function", "algorithm": "gcra", "limit": 5, "period": 1},
        "bad-fail": {"key": "ip", "algorithm": "gcra", "limit": 5, "period": 1, "fail": "maybe"},
        "bad-limit": {"key": "ip", "algorithm": "gcra", "limit": 0, "period": 1},
    }
    errors = adapter.check_rules()
    assert sorted(e.msg.split("'")[1] for e in errors) == ["bad-algo", "bad-fail", "bad-key", "bad-limit"]
    assert {e.id for e in errors} == {"site_config.E010"}


def test_one_matching_rule_is_one_command_without_a_pipeline(r):
    request = RequestFactory().get("/api/leaderboards/reaction/top")
    rule = adapter.rules()["api"]
    adapter.check(request, [rule])  # loads the scripts
    with tracing() as trace:
        assert adapter.check(request, [rule]) is None
    assert (trace.round_trip_count, trace.command_count) == (1, 1)
    assert trace.round_trips[0].commands[0][0] == "FCALL"
    assert request.ratelimit.decision.remaining == 3


def test_a_rule_may_use_the_fixed_window_without_lua(client, settings):
    settings.RATELIMIT_RULES = rules(api={"path": r"^/api/", "key": "ip", "algorithm": "fixed_window_plain",
                                          "limit": 2, "period": 60, "fail": "open"})
    codes = [client.get("/api/leaderboards/reaction/top") for _ in range(3)]
    assert [c.status_code for c in codes] == [200, 200, 429]
    assert codes[0]["RateLimit-Remaining"] == "1" and codes[2].json()["rule"] == "api"
