"""The web server as ``make run`` starts it (the Procfile's ``web:`` line, in a subprocess).

What a hostile client sends on the wire reaches uvicorn before Django: a
made-up ``X-Forwarded-For`` must not become the client address (uvicorn's
proxy headers trust loopback by default), and every login path must hold its
limits whatever the client claims to be.
"""

from __future__ import annotations

import shlex
import uuid

import pytest

from tests.httpclient import Visitor
from tests.processes import ROOT, procfile_command

pytestmark = pytest.mark.slow

def spoofed(n: int, *, scheme: bool = True) -> dict[str, str]:
    """Headers a client invents to look like someone new on every request.

    ``scheme=False`` leaves out ``X-Forwarded-Proto``/``-Host``: with them, a
    server that believed the headers would refuse a form for its Referer (a
    403), which would hide whether the limit held.
    """
    fake = f"198.51.100.{n % 250 + 1}"
    headers = {"X-Forwarded-For": fake, "X-Real-IP": fake, "Forwarded": f"for={fake}", "X-API-Key": uuid.uuid4().hex}
    if scheme:
        headers.update({"X-Forwarded-Proto": "https", "X-Forwarded-Host": f"h{n}.example"})
    return headers


def test_the_procfile_and_the_image_run_the_server_with_the_same_flags():
    procfile = shlex.split(procfile_command("web"))
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD "))
    for flag in ("--no-proxy-headers", "--ws-max-size", "16384"):
        assert flag in procfile and f'"{flag}"' in cmd, flag


def test_made_up_forwarding_headers_and_api_keys_lift_no_api_limit(procfile_web):
    base = procfile_web(RATELIMIT_API="5")
    visitor = Visitor(base)
    codes = [visitor.request("GET", "/api/leaderboards/reaction/top")[0] for _ in range(5)]
    assert codes == [200] * 5
    refused = [visitor.request("GET", "/api/leaderboards/reaction/top", headers=spoofed(n))[0] for n in range(10)]
    assert refused == [429] * 10


def test_made_up_forwarding_headers_lift_no_login_limit(procfile_web):
    base = procfile_web(RATELIMIT_LOGIN_IP="4")
    visitor = Visitor(base)
    visitor.open("/accounts/login/")
    codes = [visitor.form("/accounts/login/", {"username": f"user{n}", "password": "wrong"}, headers=spoofed(n, scheme=False))[0]
             for n in range(6)]
    assert codes == [200] * 4 + [429] * 2


def test_admin_login_answers_429_within_30_wrong_passwords_and_then_refuses_the_right_one(procfile_web):
    from django.contrib.auth.models import User

    User.objects.filter(username="boss").delete()
    User.objects.create_superuser("boss", password="the-right-password-9")
    base = procfile_web()  # the default limits: 5 per account, 20 per address, in 5 minutes
    visitor = Visitor(base)
    visitor.open("/admin/login/")
    codes = [visitor.form("/admin/login/", {"username": "boss", "password": f"guess{n}"},
                           headers=spoofed(n, scheme=False))[0]
             for n in range(30)]
    assert 429 in codes and codes.index(429) <= 5 and set(codes[codes.index(429):]) == {429}
    status, _, _ = visitor.form("/admin/login/", {"username": "boss", "password": "the-right-password-9"})
    assert status == 429
    # the other login path shares the per-account counter
    visitor.open("/accounts/login/")
    assert visitor.form("/accounts/login/", {"username": "BOSS", "password": "the-right-password-9"})[0] == 429
    status, headers, _ = visitor.request("GET", "/admin/")
    assert status == 302 and "/admin/login/" in headers["location"]  # never logged in
