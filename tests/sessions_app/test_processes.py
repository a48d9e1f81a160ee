"""Revocation across processes: two uvicorn processes share Redis and a database; a session revoked through
one is anonymous on its next request through either (nothing about a session is cached in a process)."""

from __future__ import annotations

import http.cookiejar
import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from redis_patterns.servers import free_port
from tests.conftest import wait_for
from tests.processes import ROOT, SharedDb, _healthy, shared_db  # noqa: F401 - shared_db is a fixture

pytestmark = pytest.mark.slow

PASSWORD = "correct-horse-battery-9"


@pytest.fixture(autouse=True)
def _fast_hasher():
    """The server processes check the password with the real hashers: create it with them too."""


@pytest.fixture(scope="module")
def two_servers(shared_db: SharedDb, tmp_path_factory) -> Iterator[tuple[str, str]]:  # noqa: F811
    procs, urls = [], []
    logs = tmp_path_factory.mktemp("two-web")
    try:
        for name in ("a", "b"):
            port = free_port()
            with open(logs / f"{name}.log", "wb") as out:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port",
                     str(port), "--lifespan", "off", "--no-access-log", "--log-level", "warning"],
                    cwd=ROOT, env=shared_db.env(), stdout=out, stderr=subprocess.STDOUT))
            urls.append(f"http://127.0.0.1:{port}")
        for proc, url in zip(procs, urls, strict=True):
            port = int(url.rsplit(":", 1)[1])
            wait_for(lambda p=port, pr=proc: _healthy(p) or pr.poll() is not None, timeout=30)
            assert proc.poll() is None, (logs / "a.log").read_text()[-2000:]
        yield urls[0], urls[1]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


class Browser:
    """A cookie jar and an opener: cookies are per host, not per port, so it can talk to either process."""

    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str:
        return next(c.value for c in self.jar if c.name == name)

    def call(self, method: str, url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with self.opener.open(request, timeout=15) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def login(self, base: str) -> None:
        self.call("GET", base + "/accounts/login/")
        form = f"username=ada&password={PASSWORD}&csrfmiddlewaretoken={self.cookie('csrftoken')}".encode()
        status, body = self.call("POST", base + "/accounts/login/", form,
                                 {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200 and b"log out ada" in body  # redirected to the home page, logged in

    def me(self, base: str) -> dict:
        return json.loads(self.call("GET", base + "/api/me")[1])


def test_revoke_others_through_one_process_is_seen_by_the_other(two_servers):
    from django.contrib.auth import get_user_model

    a, b = two_servers
    # committed to the shared file (not inside a test transaction: the server processes must see it)
    get_user_model().objects.filter(username="ada").delete()
    get_user_model().objects.create_user("ada", password=PASSWORD)
    first, second, third = Browser(), Browser(), Browser()
    first.login(a)
    second.login(b)
    third.login(a)
    assert first.me(b)["authenticated"] and third.me(b)["authenticated"]  # each process reads every session
    status, body = second.call("POST", b + "/api/sessions/revoke-others",
                               headers={"X-CSRFToken": second.cookie("csrftoken")})
    assert (status, json.loads(body)) == (200, {"revoked": 2})
    assert first.me(a)["authenticated"] is False  # the process that served its login
    assert third.me(b)["authenticated"] is False  # and the other one
    assert second.me(a) == {"authenticated": True, "username": "ada", "via": "session"}
