"""A small HTTP client for tests against a real server process: one visitor, its cookies, any header or body.

``urllib`` rewrites or refuses some of what a hostile client sends (a body
with a wrong content type, made-up forwarding headers): this sends exactly
what it is given.
"""

from __future__ import annotations

import http.client
import json
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit


class Visitor:
    """One browser: its own cookies (session, CSRF token)."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
        """Send one request; returns ``(status, headers, body)`` and keeps any cookies set."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        hdrs = dict(headers or {})
        if self.cookies:
            hdrs.setdefault("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        try:
            conn.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=hdrs)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered (e.g. 413) and closed before the whole body was sent: read its answer
        res = conn.getresponse()
        raw = res.read()
        for header in res.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        conn.close()
        return res.status, {k.lower(): v for k, v in res.headers.items()}, raw

    def json(self, method: str, path: str, data: object = None, *, raw: bytes | str | None = None,
             content_type: str = "application/json", headers: dict[str, str] | None = None
             ) -> tuple[int, dict[str, str], object]:
        """A JSON API call with the CSRF header; the reply parsed when it is JSON (else the text)."""
        hdrs = {"Content-Type": content_type, "X-CSRFToken": self.cookies.get("csrftoken", ""), **(headers or {})}
        body = raw if raw is not None else (json.dumps(data) if data is not None else None)
        status, rh, reply = self.request(method, path, body, hdrs)
        parsed: object = json.loads(reply) if rh.get("content-type", "").startswith("application/json") \
            else reply.decode(errors="replace")
        return status, rh, parsed

    def form(self, path: str, fields: dict[str, str], headers: dict[str, str] | None = None
             ) -> tuple[int, dict[str, str], bytes]:
        """Post a form the way a browser does: the CSRF token from the page's cookie, and the Referer."""
        data = {"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **fields}
        hdrs = {"Content-Type": "application/x-www-form-urlencoded",
                "Referer": f"http://{self.host}:{self.port}{path}", **(headers or {})}
        return self.request("POST", path, urlencode(data), hdrs)

    def open(self, path: str) -> str:
        """GET a page (sets the session and CSRF cookies) and return its HTML."""
        status, _, body = self.request("GET", path)
        assert status == 200, (path, status)
        return body.decode()

