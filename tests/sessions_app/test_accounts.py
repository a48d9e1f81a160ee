"""Accounts through the site: sign up, log in (fixation, cart and orders adopted), log out, "Your sessions",
sliding expiry and the daily-active bit, cookie-less visits, and the Redis-down policy."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from config.redis import reset_clients
from sessions_app import keys
from shop import keys as shop_keys
from shop.models import Category, Order, Product

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-9"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
SAFARI_IOS = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/18.0 Mobile/15E148 Safari/604.1")


def redis_key(session_key: str) -> str:
    return keys.session_key(keys.session_id(session_key))


@pytest.fixture
def ada(django_user_model):
    return django_user_model.objects.create_user("ada", password=PASSWORD)


@pytest.fixture
def product():
    category = Category.objects.create(name="C", slug="c")
    return Product.objects.create(category=category, name="P", slug="p", description="", price=2, stock=50,
                                  image_hue=1)


def login(client: Client, username: str = "ada", password: str = PASSWORD):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_login_changes_the_session_id_and_logout_deletes_it_from_redis(client, ada, raw_redis):
    client.get("/checkout/")  # an anonymous visitor with a session
    before = client.cookies["sessionid"].value
    assert raw_redis.exists(redis_key(before)) == 1
    assert login(client).status_code == 302
    after = client.cookies["sessionid"].value
    assert after != before
    assert raw_redis.exists(redis_key(before)) == 0  # the old id is gone: a planted key is worthless
    assert raw_redis.hget(redis_key(after), "uid") == str(ada.pk)
    assert raw_redis.zrange(keys.user_sessions_key(ada.pk), 0, -1) == [keys.session_id(after)]

    assert client.post("/accounts/logout/").status_code == 302
    assert raw_redis.exists(redis_key(after)) == 0
    assert raw_redis.zcard(keys.user_sessions_key(ada.pk)) == 0
    # replaying the old cookie: anonymous
    replay = Client()
    replay.cookies["sessionid"] = after
    assert replay.get("/api/me").json() == {"authenticated": False, "username": None, "via": None}


def test_wrong_password_is_a_form_error_and_no_session_is_stored(client, ada, raw_redis):
    response = login(client, password="nope")
    assert response.status_code == 200 and "Please enter a correct username and password" in response.content.decode()
    assert not [k for k in raw_redis.scan_iter("t:sess:*")]


def test_the_anonymous_cart_and_orders_follow_the_visitor_into_the_account(client, ada, product, raw_redis):
    # the user already had 3 of the product in their cart from another device
    raw_redis.hset(shop_keys.cart(f"user:{ada.pk}"), str(product.pk), 3)
    assert client.post("/api/cart/items", {"product_id": product.pk, "quantity": 2},
                       content_type="application/json").status_code == 200
    anonymous = f"session:{client.cookies['sessionid'].value}"
    order = Order.objects.create(owner=anonymous, total=2)
    assert login(client).status_code == 302
    assert client.get("/api/cart").json()["items"] == [{"product_id": product.pk, "quantity": 5}]
    assert raw_redis.exists(shop_keys.cart(anonymous)) == 0
    order.refresh_from_db()
    assert (order.owner, order.user_id) == (f"user:{ada.pk}", ada.pk)
    assert client.get(f"/api/orders/{order.pk}").status_code == 200
    assert Client().get(f"/api/orders/{order.pk}").status_code == 404


def test_the_cart_merge_clamps_and_is_one_script(client, ada, product, raw_redis):
    from redis_patterns.tracing import tracing
    from shop.checkout import MAX_QUANTITY, cart_merge

    raw_redis.hset(shop_keys.cart("session:x"), mapping={str(product.pk): 70, "999": 1})
    raw_redis.hset(shop_keys.cart(f"user:{ada.pk}"), str(product.pk), 60)
    cart_merge(from_owner="session:warm-up", to_owner="user:0")  # the script library is loaded once per process
    with tracing() as trace:
        assert cart_merge(from_owner="session:x", to_owner=f"user:{ada.pk}") == 2
    assert trace.command_count == 1
    assert raw_redis.hgetall(shop_keys.cart(f"user:{ada.pk}")) == {str(product.pk): str(MAX_QUANTITY), "999": "1"}
    assert raw_redis.ttl(shop_keys.cart(f"user:{ada.pk}")) > 0
    assert raw_redis.exists(shop_keys.cart("session:x")) == 0


def test_signup_creates_the_account_and_logs_it_in(client, raw_redis, django_user_model):
    assert client.get("/accounts/signup/").status_code == 200
    weak = client.post("/accounts/signup/", {"username": "grace", "password1": "123", "password2": "123"})
    assert weak.status_code == 400 and not django_user_model.objects.filter(username="grace").exists()
    response = client.post("/accounts/signup/", {"username": "grace", "password1": PASSWORD,
                                                 "password2": PASSWORD})
    assert response.status_code == 302
    assert client.get("/api/me").json() == {"authenticated": True, "username": "grace", "via": "session"}
    taken = Client().post("/accounts/signup/", {"username": "Grace", "password1": PASSWORD, "password2": PASSWORD})
    assert taken.status_code == 400


def test_signup_is_rate_limited_per_address(settings, client):
    rules = dict(settings.RATELIMIT_RULES)
    rules["signup"] = {**rules["signup"], "limit": 2}
    settings.RATELIMIT_RULES = rules
    codes = [client.post("/accounts/signup/", {"username": f"u{i}", "password1": "x", "password2": "y"}).status_code
             for i in range(3)]
    assert codes == [400, 400, 429]


def test_your_sessions_lists_devices_and_revokes(ada, raw_redis):
    laptop, phone, tablet = Client(HTTP_USER_AGENT=FIREFOX), Client(HTTP_USER_AGENT=SAFARI_IOS), Client()
    for c in (laptop, phone, tablet):
        assert login(c).status_code == 302
    page = laptop.get("/accounts/sessions/").content.decode()
    assert "Firefox on Linux" in page and "Safari on iOS" in page and "this browser" in page
    for c in (laptop, phone, tablet):
        assert c.cookies["sessionid"].value not in page  # opaque ids only
    phone_id = keys.session_id(phone.cookies["sessionid"].value)
    assert laptop.post("/accounts/sessions/", {"action": "revoke", "id": phone_id}).status_code == 302
    assert phone.get("/api/me").json()["authenticated"] is False
    assert tablet.get("/api/me").json()["authenticated"] is True
    laptop.post("/accounts/sessions/", {"action": "revoke_others"})
    assert tablet.get("/api/me").json()["authenticated"] is False
    assert laptop.get("/api/me").json()["authenticated"] is True
    # someone else's id (or a made-up one) revokes nothing
    other = laptop.post("/accounts/sessions/", {"action": "revoke", "id": "0" * 32}, follow=True)
    assert "no such session" in other.content.decode()
    assert Client().get("/accounts/sessions/").status_code == 302  # log in first


def test_each_authenticated_request_slides_expiry_and_marks_the_day_in_the_same_round_trip(client, ada, raw_redis):
    login(client)
    name = redis_key(client.cookies["sessionid"].value)
    raw_redis.pexpire(name, 10_000)
    day_key = keys.active_users_key(dt.datetime.now(dt.UTC).date())
    raw_redis.delete(day_key)
    response = client.get("/api/me")
    assert raw_redis.pttl(name) > 10_000
    assert raw_redis.getbit(day_key, ada.pk) == 1 and raw_redis.ttl(day_key) > 100 * 86400
    # the request's Redis work: the API rate limit, the session load, the session save (with the bit)
    assert response["Server-Timing"].endswith('3 rtt"'), response["Server-Timing"]


@pytest.mark.parametrize("path", ["/checkout/", "/realtime/"])
def test_a_cookieless_visit_writes_no_database_row_only_a_key_with_a_ttl(client, raw_redis, path):
    assert client.get(path).status_code == 200
    assert Session.objects.count() == 0  # the db engine's row is gone too
    stored = [k for k in raw_redis.scan_iter("t:sess:*")]
    assert stored == [redis_key(client.cookies["sessionid"].value)]
    assert 0 < raw_redis.ttl(stored[0])


def test_a_visit_that_stores_nothing_creates_no_session(client, raw_redis):
    assert client.get("/").status_code == 200 and client.get("/api/me").status_code == 200
    assert "sessionid" not in client.cookies and not list(raw_redis.scan_iter("t:sess:*"))


# --- Redis down ----------------------------------------------------------------------------------


def test_redis_down_pages_render_anonymous_and_login_fails_closed(client, ada, settings, redis_server, raw_redis):
    login(client)
    cookie = client.cookies["sessionid"].value
    raw_redis.save()  # so that the restart below brings the session back, as a persistent server would
    redis_server.stop()
    reset_clients()
    try:
        from config.redis import forget_redis_health

        forget_redis_health()
        for path in ("/", "/checkout/", "/realtime/", "/shop/", "/patterns/sessions/"):
            response = client.get(path)
            assert response.status_code == 200, path
        assert client.get("/api/me").json()["authenticated"] is False  # sessions are in Redis
        assert client.cookies["sessionid"].value == cookie  # kept: the session is back with Redis
        assert Session.objects.count() == 0  # the db engine's row is gone too
        # the login limiter fails closed first...
        assert login(client).status_code == 503
        # ...and without it, the login itself does, with a clear message and no cookie change
        settings.RATELIMIT_ENABLED = False
        refused = login(Client())
        assert refused.status_code == 503 and "Sessions are stored in Redis" in refused.content.decode()
        signup = Client().post("/accounts/signup/", {"username": "x1", "password1": PASSWORD, "password2": PASSWORD})
        assert signup.status_code == 503
        assert client.post("/accounts/logout/").status_code == 503  # the session could not be deleted: say so
        assert client.get("/api/sessions").status_code == 401
        # no visitor can be vouched for: API writes that need one answer 503, reads find nothing of theirs
        refused = client.post("/api/cart/items", {"product_id": 1, "quantity": 1}, content_type="application/json")
        assert refused.status_code == 503 and refused.json()["error"] == "redis_unavailable"
        assert client.get("/api/orders/1").status_code == 404
    finally:
        redis_server.start()
        (redis_server.dir / "dump.rdb").unlink(missing_ok=True)  # later restarts start empty again
        reset_clients()
    assert client.get("/api/me").json()["authenticated"] is True  # Redis is back: so is the session
    assert client.cookies["sessionid"].value == cookie


def test_seed_accounts_is_idempotent_and_refuses_without_debug(settings, django_user_model):
    from io import StringIO

    from django.core.management import call_command

    settings.DEBUG = False
    out = StringIO()
    call_command("seed_accounts", stdout=out)
    assert "skipped" in out.getvalue() and not django_user_model.objects.exists()
    settings.DEBUG = True
    call_command("seed_accounts", stdout=StringIO())
    call_command("seed_accounts", stdout=StringIO())
    staff = django_user_model.objects.get(username="staff")
    assert staff.is_staff and staff.is_superuser and staff.check_password("staff-demo-password")
    assert not django_user_model.objects.get(username="demo").is_staff
    assert django_user_model.objects.count() == 2
    assert Client().post("/accounts/login/", {"username": "demo", "password": "demo-user-password"}).status_code == 302


def test_the_sessions_page_compares_the_four_engines_and_cleans_up(client, ada, raw_redis):
    login(client)
    page = client.get("/patterns/sessions/").content.decode()
    for engine in ("redis", "cache", "cached_db", "db"):
        assert f'data-engine="{engine}"' in page
    assert "Your session right now" in page and "OBJECT ENCODING" in page
    assert client.cookies["sessionid"].value not in page
    # the demo's sessions are deleted: only this visitor's session (and its list and activity) remain
    assert [k for k in raw_redis.scan_iter("t:sess*")] and all(
        k in (redis_key(client.cookies["sessionid"].value), keys.user_sessions_key(ada.pk))
        for k in raw_redis.scan_iter("t:sess*"))
    assert Session.objects.count() == 0  # the db engine's row is gone too
