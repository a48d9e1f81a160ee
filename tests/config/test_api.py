"""``config.api``: one error shape, one body parser, one visitor, for every endpoint of every app."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from config.api import MAX_BODY_BYTES, MAX_DEPTH, _depth_exceeded

pytestmark = pytest.mark.django_db

#: Every JSON write endpoint: the parser must guard each the same way.
WRITE_ENDPOINTS = ["/api/orders", "/api/cart/items", "/api/leaderboards/reaction/scores",
                   "/api/leaderboards/reaction/friends"]


def post(client, path: str, body: bytes | str, content_type: str = "application/json"):
    return client.generic("POST", path, body, content_type=content_type)


@pytest.mark.parametrize("path", WRITE_ENDPOINTS)
def test_deeply_nested_json_is_a_400_not_a_500(client, raw_redis, path):
    response = post(client, path, "[" * 5000 + "]" * 5000)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"
    assert not [k for k in raw_redis.scan_iter() if not k.startswith("t:rl:")], "nothing but the limiter wrote"


@pytest.mark.parametrize("path", WRITE_ENDPOINTS)
def test_a_non_json_content_type_is_a_415(client, raw_redis, path):
    response = post(client, path, '{"player": "ada", "score": 5}', content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


@pytest.mark.parametrize("path", WRITE_ENDPOINTS)
def test_an_oversized_body_is_a_413(client, path):
    response = post(client, path, json.dumps({"pad": "x" * (MAX_BODY_BYTES + 1)}))
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


@pytest.mark.parametrize("path", WRITE_ENDPOINTS)
def test_malformed_json_and_a_non_object_are_400(client, path):
    for body in ("{not json", "[1, 2]", '"text"', b"\xff\xfe"):
        response = post(client, path, body)
        assert response.status_code == 400 and response.json()["error"] == "invalid_json", (path, body)


def test_the_depth_check_ignores_brackets_inside_strings():
    assert not _depth_exceeded(json.dumps({"a": "[[[[[[[[[[[[[[[[[[[[[[[[[["}).encode(), MAX_DEPTH)
    assert not _depth_exceeded(json.dumps({"a": "\\\"[[[[[[[[[[[[[[[[[["}).encode(), MAX_DEPTH)
    nested: object = 1
    for _ in range(MAX_DEPTH):
        nested = [nested]
    assert not _depth_exceeded(json.dumps(nested).encode(), MAX_DEPTH)
    assert _depth_exceeded(json.dumps([nested]).encode(), MAX_DEPTH)


@pytest.mark.parametrize("path", ["/api/nothing", "/api/", "/api/products/1/nothing", "/api/orders/x"])
def test_unknown_api_paths_are_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "not_found"


def test_wrong_method_is_a_json_405_with_allow(client):
    response = client.delete("/api/cart")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed" and "GET" in response["Allow"]


def test_the_edge_holds_through_the_real_asgi_server(live_server_url):
    """The same answers from uvicorn as from the test client: nothing is rewritten on the way."""
    def call(method: str, path: str, body: bytes | None = None, content_type: str = "application/json"):
        request = urllib.request.Request(live_server_url + path, data=body, method=method,
                                         headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers.get("Content-Type"), response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers.get("Content-Type"), err.read()

    status, ctype, body = call("GET", "/api/no-such-thing")
    assert (status, ctype, json.loads(body)["error"]) == (404, "application/json", "not_found")
    # unsafe methods from a client without the CSRF cookie: a JSON 403 before any parsing
    status, ctype, body = call("POST", "/api/leaderboards/reaction/scores", b"[" * 5000)
    assert (status, ctype, json.loads(body)["error"]) == (403, "application/json", "csrf_failed")


def test_visitor_is_the_user_once_logged_in_else_the_session(client, django_user_model, raw_redis):
    from shop.models import Category, Product

    category = Category.objects.create(name="C", slug="c")
    product = Product.objects.create(category=category, name="P", slug="p", description="", price=1, stock=5,
                                     image_hue=1)
    assert client.post("/api/cart/items", {"product_id": product.pk, "quantity": 2},
                       content_type="application/json").status_code == 200
    assert client.get("/api/cart").json()["items"] == [{"product_id": product.pk, "quantity": 2}]
    user = django_user_model.objects.create_user("vis", password="pw-vis-12345")
    client.force_login(user)
    # a different owner: the user's own (empty) cart (force_login merges nothing; the login page does, see
    # tests/sessions_app/test_accounts.py)
    assert client.get("/api/cart").json()["items"] == []



def _send(visitor, path: str, content_type: str, *, declared: int | None, body: bytes) -> tuple[int, str, bytes]:
    """POST ``body`` declaring ``declared`` bytes (``None``: chunked, no length up front).

    A client announcing 3 MB need not send them for the server to refuse: only
    the first bytes go out, so the server's early close cannot race a client
    still writing (which would reset the connection before the answer is read).
    """
    import http.client

    conn = http.client.HTTPConnection(visitor.host, visitor.port, timeout=30)
    conn.putrequest("POST", path)
    headers = {"Content-Type": content_type, "X-CSRFToken": visitor.cookies.get("csrftoken", ""),
               "Cookie": "; ".join(f"{k}={v}" for k, v in visitor.cookies.items())}
    if declared is None:
        headers["Transfer-Encoding"] = "chunked"
    else:
        headers["Content-Length"] = str(declared)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    if declared is None:
        for i in range(0, len(body), 16384):
            chunk = body[i:i + 16384]
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
    else:
        conn.send(body)
    response = conn.getresponse()
    return response.status, response.getheader("Content-Type", ""), response.read()


@pytest.mark.parametrize("path", WRITE_ENDPOINTS)
def test_hostile_bodies_through_the_real_asgi_server_are_json_4xx(live_server_url, path):
    """Nested JSON, wrong content types and bodies of any size: a JSON 4xx from uvicorn, never HTML or a 500."""
    from tests.httpclient import Visitor

    visitor = Visitor(live_server_url)
    visitor.open("/checkout/")  # the session and CSRF cookies, as a browser would have them
    for body, ctype, status, code in [
        ("[" * 5000 + "]" * 5000, "application/json", 400, "invalid_json"),
        ('{"player": "ada", "score": 5}', "text/plain", 415, "unsupported_media_type"),
        ("player=ada&score=5", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ]:
        got, headers, reply = visitor.json("POST", path, raw=body, content_type=ctype)
        assert (got, headers["content-type"], reply["error"]) == (status, "application/json", code), (ctype, got)
    start = b'{"pad": "' + b"x" * 4000
    for ctype in ("application/json", "application/x-www-form-urlencoded",  # the CSRF check would parse this one
                  "multipart/form-data; boundary=x", "text/plain"):
        status, got_type, reply = _send(visitor, path, ctype, declared=3_000_000, body=start)
        assert (status, got_type, json.loads(reply)["error"]) == (413, "application/json", "body_too_large"), ctype
    # chunked: no length declared; counted as it arrives and refused past the limit
    status, got_type, reply = _send(visitor, path, "application/json", declared=None, body=b"x" * (MAX_BODY_BYTES + 10))
    assert (status, got_type, json.loads(reply)["error"]) == (413, "application/json", "body_too_large")


def test_an_oversized_body_to_a_page_is_a_413_before_django_reads_it(live_server_url):
    from tests.httpclient import Visitor

    visitor = Visitor(live_server_url)
    visitor.open("/accounts/login/")
    status, ctype, _ = _send(visitor, "/accounts/login/", "application/x-www-form-urlencoded",
                             declared=3_000_000, body=b"username=a&password=" + b"x" * 4000)
    assert status == 413 and ctype.startswith("text/plain")
    assert visitor.form("/accounts/login/", {"username": "a", "password": "x"})[0] == 200  # small ones still work


@pytest.mark.parametrize("debug", [False, True])
def test_a_foreign_host_on_the_api_is_a_json_400_in_any_mode(client, settings, debug):
    settings.DEBUG = debug  # make run runs with DEBUG=1, where Django would answer with its debug page
    response = client.get("/api/cart", HTTP_HOST="evil.example")
    assert (response.status_code, response["Content-Type"], response.json()["error"]) == \
        (400, "application/json", "bad_host")
