"""Checkout under real concurrency: many clients against 3 uvicorn worker processes."""

from __future__ import annotations

import http.client
import json
import threading
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

import pytest

from shop import keys
from tests.processes import make_product

pytestmark = pytest.mark.slow


class Visitor:
    """One browser: its own cookies (session, CSRF token)."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: object | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict, object]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        hdrs = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), **(headers or {})}
        if body is not None:
            hdrs["Content-Type"] = "application/json"
            hdrs["X-CSRFToken"] = self.cookies.get("csrftoken", "")
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=hdrs)
        res = conn.getresponse()
        raw = res.read()
        for header in res.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        conn.close()
        ctype = res.headers.get("Content-Type", "")
        data = json.loads(raw) if ctype.startswith("application/json") else {}
        return res.status, data, res.headers

    def open_checkout(self) -> None:
        status, _, _ = self.request("GET", "/checkout/")
        assert status == 200 and "csrftoken" in self.cookies and "sessionid" in self.cookies


def _concurrently(n: int, fn) -> list:
    results: list = [None] * n
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_50_concurrent_checkouts_for_the_last_10_units(web_server, clean_db, raw_redis):
    from shop.models import Order

    product = make_product(stock=10)
    visitors = [Visitor(web_server) for _ in range(50)]
    for v in visitors:
        v.open_checkout()
    body = {"items": [{"product_id": product.pk, "quantity": 1}]}
    results = _concurrently(50, lambda i: visitors[i].request("POST", "/api/orders", body))

    statuses = [status for status, _, _ in results]
    assert statuses.count(202) == 10
    assert statuses.count(409) == 40
    for status, data, _ in results:
        if status == 409:
            assert data["error"] == "out_of_stock" and data["product_id"] == product.pk
            assert "left" in data["detail"]
    product.refresh_from_db()
    assert product.stock == 0
    assert Order.objects.filter(items__product=product).count() == 10
    assert raw_redis.hget(keys.stock(), str(product.pk)) == "0"
    # Every order belongs to the visitor who placed it, and only to them.
    placed = [(v, data["order_id"]) for v, (s, data, _) in zip(visitors, results, strict=True) if s == 202]
    mine, theirs = placed[0], placed[1]
    assert mine[0].request("GET", f"/api/orders/{mine[1]}")[0] == 200
    assert mine[0].request("GET", f"/api/orders/{theirs[1]}")[0] == 404


def test_same_idempotency_key_from_20_concurrent_requests_makes_one_order(web_server, clean_db):
    from shop.models import Order

    product = make_product(stock=100)
    visitor = Visitor(web_server)
    visitor.open_checkout()
    body = {"items": [{"product_id": product.pk, "quantity": 2}]}
    headers = {"Idempotency-Key": "same-key-20"}
    results = _concurrently(20, lambda i: visitor.request("POST", "/api/orders", body, headers))

    assert [status for status, _, _ in results] == [202] * 20
    order_ids = {data["order_id"] for _, data, _ in results}
    assert len(order_ids) == 1
    assert sum(data["created"] for _, data, _ in results) == 1
    assert sum(h.get("Idempotent-Replayed") == "true" for _, _, h in results) == 19
    assert Order.objects.filter(idempotency_key="same-key-20").count() == 1
    product.refresh_from_db()
    assert product.stock == 98

    # The same key with a different body is a client bug: 409, nothing created.
    status, data, _ = visitor.request("POST", "/api/orders",
                                      {"items": [{"product_id": product.pk, "quantity": 3}]}, headers)
    assert status == 409 and data["error"] == "idempotency_key_reused"
    assert Order.objects.count() == 1
