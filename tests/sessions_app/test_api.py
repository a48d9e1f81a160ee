"""The accounts API: tokens (issue, use, revoke, expire), /api/me, and a user's sessions."""

from __future__ import annotations

import datetime as dt
import json
import time

import jwt
import pytest
from django.test import Client

from config.redis import reset_clients
from sessions_app import keys, tokens
from shop import keys as shop_keys
from shop.models import Category, Product
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-9"


@pytest.fixture
def ada(django_user_model):
    return django_user_model.objects.create_user("ada", password=PASSWORD)


def get_token(client: Client, username: str = "ada", password: str = PASSWORD, **extra):
    return client.post("/api/auth/token", json.dumps({"username": username, "password": password}),
                       content_type="application/json", **extra)


def bearer(access: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {access}"}


def test_token_is_issued_for_good_credentials_only(client, ada, settings):
    response = get_token(client)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == settings.JWT_ACCESS_TTL
    claims = jwt.decode(body["access"], options={"verify_signature": False})
    assert claims["sub"] == str(ada.pk) and claims["exp"] - claims["iat"] == settings.JWT_ACCESS_TTL
    wrong = get_token(client, password="nope")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_credentials"
    assert get_token(client, username="nobody").status_code == 401
    for bad in ({}, {"username": 1, "password": "x"}, {"username": "ada"}, {"username": "a" * 200, "password": "x"}):
        response = client.post("/api/auth/token", json.dumps(bad), content_type="application/json")
        assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert client.post("/api/auth/token", "username=ada", content_type="text/plain").status_code == 415
    assert client.get("/api/auth/token").status_code == 405
    assert "sessionid" not in client.cookies  # a token login makes no session


def test_token_endpoint_shares_the_login_limits(client, ada, settings):
    rules = dict(settings.RATELIMIT_RULES)
    rules["login-username"] = {**rules["login-username"], "limit": 2}
    settings.RATELIMIT_RULES = rules
    assert [get_token(client, password="x").status_code for _ in range(2)] == [401, 401]
    refused = get_token(client, username="ADA")  # the same account, whatever the case, over JSON
    assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
    # and the form login counts against the same allowance
    assert client.post("/accounts/login/", {"username": "ada", "password": PASSWORD}).status_code == 429


def test_me_through_a_session_a_token_and_nothing(client, ada):
    assert client.get("/api/me").json() == {"authenticated": False, "username": None, "via": None}
    access = get_token(Client()).json()["access"]
    assert Client().get("/api/me", **bearer(access)).json() == {"authenticated": True, "username": "ada",
                                                                 "via": "token"}
    client.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
    assert client.get("/api/me").json() == {"authenticated": True, "username": "ada", "via": "session"}


def test_a_bearer_token_makes_the_api_visitor_that_user_without_csrf_or_session(ada, raw_redis):
    category = Category.objects.create(name="C", slug="c")
    product = Product.objects.create(category=category, name="P", slug="p", description="", price=1, stock=5,
                                     image_hue=1)
    api = Client(enforce_csrf_checks=True)
    access = get_token(api).json()["access"]
    response = api.post("/api/cart/items", json.dumps({"product_id": product.pk, "quantity": 2}),
                        content_type="application/json", **bearer(access))
    assert response.status_code == 200
    assert raw_redis.hget(shop_keys.cart(f"user:{ada.pk}"), str(product.pk)) == "2"
    assert not list(raw_redis.scan_iter("t:sess:*"))  # no session was made for it
    # without the token the same call needs the CSRF cookie, as any cookie-authenticated write
    refused = api.post("/api/cart/items", json.dumps({"product_id": product.pk, "quantity": 1}),
                       content_type="application/json")
    assert refused.status_code == 403 and refused.json()["error"] == "csrf_failed"


def test_bad_tokens_are_a_json_401(client, ada, settings):
    good = get_token(client).json()["access"]
    forged = jwt.encode({"sub": str(ada.pk), "jti": "A" * 22, "iat": int(time.time()), "exp": int(time.time()) + 60,
                         "iss": tokens.ISSUER, "aud": tokens.AUDIENCE}, "not-our-key-" * 4, algorithm="HS256")
    none_alg = jwt.encode({"sub": str(ada.pk)}, None, algorithm="none")
    for raw in (forged, none_alg, good[:-3] + "abc", "x", "a" * 5000):
        response = client.get("/api/me", **bearer(raw))
        assert response.status_code == 401, raw[:20]
        assert response.json()["error"] == "invalid_token" and "invalid_token" in response["WWW-Authenticate"]
    ada.is_active = False
    ada.save()
    assert client.get("/api/me", **bearer(good)).status_code == 401
    # another scheme is not ours: ignored
    assert client.get("/api/me", HTTP_AUTHORIZATION="Basic YWRhOng=").json()["authenticated"] is False


def test_the_token_check_and_the_activity_bit_are_one_round_trip(client, ada, raw_redis):
    access = get_token(client).json()["access"]
    day_key = keys.active_users_key(dt.datetime.now(dt.UTC).date())
    raw_redis.delete(day_key)
    response = client.get("/api/me", **bearer(access))
    # the API rate limit, then one pipeline: EXISTS on the denylist + SETBIT + EXPIREAT
    assert response["Server-Timing"].endswith('"4 cmds, 2 rtt"'), response["Server-Timing"]
    assert raw_redis.getbit(day_key, ada.pk) == 1


def test_a_revoked_token_is_refused_and_its_denylist_entry_expires_with_it(client, ada, raw_redis, settings):
    settings.JWT_ACCESS_TTL = 3
    body = get_token(client).json()
    access = body["access"]
    assert body["expires_in"] == 3
    assert client.get("/api/me", **bearer(access)).json()["via"] == "token"
    revoked = client.post("/api/auth/revoke", **bearer(access))  # no CSRF needed: a header credential
    assert revoked.status_code == 204
    refused = client.get("/api/me", **bearer(access))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    claims = tokens.token_decode(access)
    deny = keys.token_denylist_key(claims.jti)
    assert 0 < raw_redis.ttl(deny) <= 3
    # the entry lives until the token's own expiry, then Redis removes it: the denylist cleans itself
    wait_for(lambda: raw_redis.exists(deny) == 0, timeout=6, interval=0.05)
    assert time.time() >= claims.expires_at - 0.05
    expired = client.get("/api/me", **bearer(access))
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    # revoking twice, or without a token
    assert client.post("/api/auth/revoke").status_code == 401


def test_revoking_only_affects_that_token(client, ada):
    first, second = (get_token(Client()).json()["access"] for _ in range(2))
    assert client.post("/api/auth/revoke", **bearer(first)).status_code == 204
    assert client.get("/api/me", **bearer(first)).status_code == 401
    assert client.get("/api/me", **bearer(second)).json()["authenticated"] is True


def test_tokens_fail_closed_when_redis_is_down(client, ada, redis_server):
    access = get_token(client).json()["access"]
    redis_server.stop()
    reset_clients()
    try:
        response = Client().get("/api/me", **bearer(access))
        assert response.status_code == 503 and response.json()["error"] == "token_check_unavailable"
    finally:
        redis_server.start()
        reset_clients()


def test_sessions_api_lists_and_revokes(ada, django_user_model):
    phone = Client(HTTP_USER_AGENT="Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 Chrome/140.0 Mobile")
    laptop = Client(enforce_csrf_checks=True)
    for c in (phone, laptop):
        c.get("/accounts/login/")
        token = c.cookies["csrftoken"].value
        c.post("/accounts/login/", {"username": "ada", "password": PASSWORD, "csrfmiddlewaretoken": token})
    listed = laptop.get("/api/sessions").json()
    assert len(listed) == 2 and set(listed[0]) == {"id", "current", "user_agent", "ip", "created", "last_seen"}
    assert [s["current"] for s in listed] == [True, False]
    phone_row = listed[1]
    assert "Android" in phone_row["user_agent"] and phone_row["ip"] == "127.0.0.1"
    assert phone_row["created"].endswith("Z") and phone_row["last_seen"] >= phone_row["created"]
    assert phone.cookies["sessionid"].value not in json.dumps(listed)
    csrf = {"HTTP_X_CSRFTOKEN": laptop.cookies["csrftoken"].value}
    assert laptop.delete(f"/api/sessions/{phone_row['id']}").status_code == 403  # CSRF, as every cookie write
    assert laptop.delete(f"/api/sessions/{phone_row['id']}", **csrf).status_code == 204
    assert phone.get("/api/me").json()["authenticated"] is False
    assert laptop.delete(f"/api/sessions/{phone_row['id']}", **csrf).status_code == 404
    assert laptop.delete("/api/sessions/not-an-id", **csrf).status_code == 404
    # another user's session id revokes nothing
    other = django_user_model.objects.create_user("eve", password=PASSWORD)
    eve = Client()
    eve.post("/accounts/login/", {"username": "eve", "password": PASSWORD})
    eve_id = keys.session_id(eve.cookies["sessionid"].value)
    assert laptop.delete(f"/api/sessions/{eve_id}", **csrf).status_code == 404
    assert eve.get("/api/me").json()["username"] == other.username
    for _ in range(2):
        Client().post("/accounts/login/", {"username": "ada", "password": PASSWORD})
    assert laptop.post("/api/sessions/revoke-others", **csrf).json() == {"revoked": 2}
    assert [s["current"] for s in laptop.get("/api/sessions").json()] == [True]


def test_sessions_api_needs_a_session_login(client, ada, settings):
    assert client.get("/api/sessions").status_code == 401
    access = get_token(client).json()["access"]
    refused = client.get("/api/sessions", **bearer(access))
    assert refused.status_code == 403 and refused.json()["error"] == "session_required"
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    db_client = Client()
    db_client.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
    unsupported = db_client.get("/api/sessions")
    assert unsupported.status_code == 409 and unsupported.json()["error"] == "unsupported_session_engine"
