"""A hostile client against the server ``make run`` starts (the Procfile's ``web:`` line, in a subprocess).

Every JSON endpoint gets what an attacker sends: nested JSON, wrong content
types, bodies that are not UTF-8, numbers no game or cart can hold, types
where others belong, made-up forwarding headers and API keys, odd paths and
query strings, other methods, a foreign Host.  Whatever it sends, the answer
is never a 5xx, and on ``/api/`` it is a JSON ``{"error", "detail"}``.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.httpclient import Visitor

pytestmark = pytest.mark.slow

NESTED = "[" * 5000 + "]" * 5000
BODIES: list[tuple[str | bytes, str]] = [
    (NESTED, "application/json"),
    ('{"a":' * 30 + "1" + "}" * 30, "application/json"),
    ("{not json", "application/json"),
    ("", "application/json"),
    ("null", "application/json"),
    ("[1, 2]", "application/json"),
    ('"text"', "application/json"),
    (b"\xff\xfe\x00 not UTF-8", "application/json"),
    ('{"player": "ada", "score": 5}', "text/plain"),
    ("player=ada&score=5", "application/x-www-form-urlencoded"),
    ("--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--\r\n", "multipart/form-data; boundary=x"),
    ("<a>1</a>", "application/xml"),
    ('{"player": "ada", "score": 5}', ""),
    ('{"player": "ada", "score": 5, "score": 6}', "application/json"),
    ('{"x": "' + "y" * 60_000 + '"}', "application/json"),
]
VALUES = [None, True, -1, 0, 1.5, 1e308, "NaN", "Infinity", "1" + "0" * 400, 2**63, 2**64, -(2**63) - 1, "5",
          [], {}, "a" * 5000, "ada\n", "{x}", "*", "../../etc", "\u0663", "😀"]


def _json_bodies() -> list[str]:
    """Each field of each endpoint's body, set to each hostile value (raw JSON text, so NaN and 10**400 go as is)."""
    shapes = {
        "/api/cart/items": {"product_id": 1, "quantity": 1},
        "/api/orders": {"items": [{"product_id": 1, "quantity": 1}]},
        "/api/leaderboards/reaction/scores": {"player": "ada", "score": 100},
        "/api/leaderboards/reaction/friends": {"player": "ada", "friend": "bob"},
    }
    out = []
    for path, shape in shapes.items():
        for field in shape:
            for value in VALUES:
                raw = value if value in ("NaN", "Infinity") or (isinstance(value, str) and value.isdigit()
                                                                and len(value) > 100) else json.dumps(value)
                body = json.dumps({**shape, field: "__V__"}).replace('"__V__"', raw)
                out.append((path, body))
        out.append((path, json.dumps({"items": [{"product_id": v, "quantity": v} for v in (1, -1, 2**70)]})))
    return out


def _check(failures: list[str], what: str, status: int, headers: dict[str, str], body: object, api: bool) -> None:
    if status >= 500:
        failures.append(f"{what}: {status}")
    elif api and status >= 400 and (headers.get("content-type") != "application/json"
                                    or not isinstance(body, dict) or "error" not in body):
        failures.append(f"{what}: {status} not a JSON error ({headers.get('content-type')})")


def test_nothing_a_hostile_client_sends_gets_a_5xx_or_a_non_json_api_error(procfile_web):
    from tests.processes import make_product

    product = make_product(stock=10)
    base = procfile_web(RATELIMIT_API="100000", RATELIMIT_SCORES="100000", RATELIMIT_CHECKOUT="100000",
                        RATELIMIT_DEMOS="100000", RATELIMIT_LOGIN_IP="100000", RATELIMIT_LOGIN_USERNAME="100000")
    visitor = Visitor(base)
    visitor.open("/checkout/")
    failures: list[str] = []
    spoof = {"X-Forwarded-For": "203.0.113.7, 10.0.0.1", "X-API-Key": uuid.uuid4().hex, "X-Real-IP": "1.2.3.4",
             "Forwarded": "for=evil", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
    write_paths = ["/api/cart/items", "/api/orders", "/api/leaderboards/reaction/scores",
                   "/api/leaderboards/reaction/friends", f"/api/products/{product.pk}"]
    for path in write_paths:
        for body, ctype in BODIES:
            method = "PATCH" if path.startswith("/api/products/") else "POST"
            headers = {**spoof, "Idempotency-Key": uuid.uuid4().hex}
            status, rh, reply = visitor.json(method, path, raw=body, content_type=ctype, headers=headers)
            _check(failures, f"{method} {path} [{ctype}] {body[:40]!r}", status, rh, reply, True)
    for path, body in _json_bodies():
        status, rh, reply = visitor.json("POST", path, raw=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        _check(failures, f"POST {path} {body[:60]!r}", status, rh, reply, True)
    gets = [f"/api/products/{v}" for v in ("0", "-1", "1e3", "99999999999999999999999", "%00", "..%2F..", "x" * 3000,
                                           "%D9%A3", str(product.pk))]
    gets += [f"/api/orders/{v}" for v in ("1", "0", "99999999999999999999999", "abc")]
    gets += [f"/api/leaderboards/reaction/top?{q}" for q in (
        "limit=-1", "limit=1e9", "limit=NaN", "limit=", "limit=" + "9" * 5000, "offset=9223372036854775807",
        "offset=-9223372036854775809", "view=weekly&week=9999-W52", "view=weekly&week=0000-W00",
        "view=daily&day=9999-12-31", "view=daily&day=2026-02-30", "view=friends&player=%7Bx%7D",
        "view=friends&player=" + "a" * 5000, "view=%00", "view[]=best")]
    gets += [f"/api/leaderboards/{b}/players/{p}" for b, p in (("reaction", "ada%0A"), ("reaction", "a" * 40),
                                                              ("%7Breaction%7D", "ada"), ("x" * 500, "ada"))]
    gets += ["/api/", "/api/nothing", "/api/cart/items/../../etc/passwd", "/api/%2e%2e/admin"]
    for path in gets:
        status, rh, reply = visitor.json("GET", path, headers=spoof)
        _check(failures, f"GET {path[:80]}", status, rh, reply, True)
    for path in write_paths + ["/api/cart", "/api/leaderboards/reaction/top"]:
        for method in ("PUT", "DELETE", "OPTIONS", "TRACE"):
            status, rh, reply = visitor.json(method, path, raw="{}")
            _check(failures, f"{method} {path}", status, rh, reply, True)
        # a method HTTP does not know never reaches the app: uvicorn's parser answers 400 itself
        status, rh, reply = visitor.json("FOO", path, raw="{}")
        _check(failures, f"FOO {path}", status, rh, reply, False)
    # a foreign Host: Django refuses it (DisallowedHost), as a JSON 400 on the API
    status, rh, reply = visitor.json("GET", "/api/cart", headers={"Host": "evil.example"})
    _check(failures, "GET /api/cart Host: evil.example", status, rh, reply, True)
    assert status == 400
    for path in ("/", "/shop/?page=-1", "/shop/c/x/?page=99999999999999999999", "/leaderboard/",
                 "/patterns/rate-limiting/?pattern=%00", "/realtime/", "/admin/login/?next=//evil.example",
                 "/healthz", "/no-such-page", "/static/../config/settings.py"):
        status, rh, body = visitor.request("GET", path, headers=spoof)
        if status >= 500:
            failures.append(f"GET {path}: {status}")
    assert failures == [], "\n".join(failures)
