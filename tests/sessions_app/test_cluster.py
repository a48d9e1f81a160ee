"""Sessions, the user's list, revocation, tokens and the cart merge on a 3-node Redis Cluster: the hash tags hold,
and Sentinel (a failover-aware client) changes nothing for them."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from config.redis import reset_clients
from redis_patterns.tracing import tracing
from sessions_app import keys
from sessions_app.store import SessionStore

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

PASSWORD = "correct-horse-battery-9"


def test_sessions_on_a_cluster(redis_server_factory, settings, django_user_model):
    nodes = redis_server_factory.cluster(3)
    settings.REDIS = {**settings.REDIS, "cluster_nodes": [(n.host, n.port) for n in nodes]}
    settings.RATELIMIT_RULES = {**settings.RATELIMIT_RULES}  # rebuild the rules' limiters on the cluster client
    reset_clients()
    try:
        from config.redis import get_redis
        from shop import keys as shop_keys
        from shop.checkout import cart_merge

        r = get_redis()
        ada = django_user_model.objects.create_user("ada", password=PASSWORD)
        laptop, phone = Client(), Client()
        for c in (laptop, phone):
            assert c.post("/accounts/login/", {"username": "ada", "password": PASSWORD}).status_code == 302
        assert len(laptop.get("/api/sessions").json()) == 2
        assert laptop.post("/api/sessions/revoke-others").json() == {"revoked": 1}
        assert phone.get("/api/me").json()["authenticated"] is False

        # the store directly: one load round trip; the save pipeline reaches the nodes that own its slots
        store = SessionStore()
        store.update({"_auth_user_id": str(ada.pk), "n": 1})
        store.create()
        fresh = SessionStore(store.session_key)
        with tracing() as load:
            assert fresh["n"] == 1
        assert load.round_trip_count == 1
        fresh["n"] = 2
        fresh.save()
        assert json.loads(r.hget(keys.session_key(fresh.session_id), "data"))["n"] == 2
        fresh.cycle_key()
        fresh.save()
        assert r.exists(keys.session_key(store.session_id)) == 0
        fresh.delete()
        assert r.exists(keys.session_key(fresh.session_id)) == 0

        # tokens: issue, use, revoke
        api = Client()
        access = api.post("/api/auth/token", {"username": "ada", "password": PASSWORD},
                          content_type="application/json").json()["access"]
        auth = {"HTTP_AUTHORIZATION": f"Bearer {access}"}
        assert api.get("/api/me", **auth).json()["via"] == "token"
        assert api.post("/api/auth/revoke", **auth).status_code == 204
        assert api.get("/api/me", **auth).status_code == 401

        # the cart merge: one script over two carts in the {cart} slot
        r.hset(shop_keys.cart("session:abc"), "7", 2)
        r.hset(shop_keys.cart(f"user:{ada.pk}"), "7", 1)
        assert cart_merge(from_owner="session:abc", to_owner=f"user:{ada.pk}") == 1
        assert r.hget(shop_keys.cart(f"user:{ada.pk}"), "7") == "3"
    finally:
        settings.REDIS = {**settings.REDIS, "cluster_nodes": []}
        reset_clients()


def test_sessions_through_sentinel(redis_server_factory, redis_server, settings, django_user_model):
    sentinel = redis_server_factory.sentinel(redis_server)
    settings.REDIS = {**settings.REDIS, "sentinels": [(sentinel.host, sentinel.port)],
                      "sentinel_master": "mymaster"}
    reset_clients()
    try:
        django_user_model.objects.create_user("bea", password=PASSWORD)
        c = Client()
        assert c.post("/accounts/login/", {"username": "bea", "password": PASSWORD}).status_code == 302
        assert c.get("/api/me").json() == {"authenticated": True, "username": "bea", "via": "session"}
        assert [s["current"] for s in c.get("/api/sessions").json()] == [True]
    finally:
        settings.REDIS = {**settings.REDIS, "sentinels": []}
        reset_clients()
