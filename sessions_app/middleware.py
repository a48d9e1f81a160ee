"""Two middlewares: sessions (Django's, plus sliding expiry and the device) and Bearer tokens for the API.

``SessionMiddleware`` replaces ``django.contrib.sessions.middleware.SessionMiddleware``:

- it hands the session store the client's user agent and address, for the
  "Your sessions" page (``config.ratelimit.client_ip``: the same address the
  rate limits see, proxies trusted exactly as configured);
- sliding expiry: a request that used its Redis session asks for a save, which
  is a plain ``PEXPIRE`` when nothing changed (``seen`` and the address are
  rewritten once a minute), in one pipelined round trip that also marks the
  user active today; the cookie is re-sent with a fresh ``Max-Age``.  Django's own engines
  keep their behaviour (``SESSION_SAVE_EVERY_REQUEST`` is off): their
  authenticated requests get the daily-active bit in a pipeline of its own;
- Redis down: a failed end-of-request save is logged, the response goes out
  (the request was anonymous anyway, see ``sessions_app.store``).

``TokenAuthenticationMiddleware`` makes a request to ``/api/`` with a valid
``Authorization: Bearer <jwt>`` that token's user: ``request.user``,
``request.auser()`` and ``request.auth`` (the claims), which
``config.api.visitor`` turns into the one current visitor (``via="token"``).
Such a request is exempt from CSRF: the credential is a header a browser never
adds by itself, so a cross-site form cannot forge it.  A bad, expired or
revoked token is a JSON 401 (``WWW-Authenticate: Bearer error="invalid_token"``),
never silently anonymous.  The denylist lookup and the daily-active bit are one
round trip (``sessions_app.tokens.token_authenticate``).  Redis down: 503
(tokens fail closed, like logins: a revoked token must not come back to life).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from config.api import error
from config.ratelimit import client_ip
from config.redis import get_redis
from sessions_app import tokens
from sessions_app.activity import activity_mark
from sessions_app.store import ClientInfo
from sessions_app.store import SessionStore as RedisSessionStore

log = logging.getLogger(__name__)


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's session middleware with sliding expiry, the client's device, and a Redis-down policy."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.session.client_info = ClientInfo(  # type: ignore[attr-defined]
            user_agent=request.META.get("HTTP_USER_AGENT", ""), ip=client_ip(request))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        session = getattr(request, "session", None)
        if isinstance(session, RedisSessionStore):
            if (session.accessed and not session.is_empty() and not session.unavailable
                    and response.status_code < 500):
                session.modified = True  # sliding expiry: the store sends only a refresh when nothing changed
        elif session is not None and session.accessed:
            _mark_active(session)
        try:
            return super().process_response(request, response)
        except (RedisError, ConnectionInterrupted) as exc:  # ConnectionInterrupted: django-redis (cache engines)
            log.warning("session not saved, Redis unavailable: %s", exc)
            return response


def _mark_active(session: object) -> None:
    """The daily-active bit for Django's own engines, which have no Redis round trip to share."""
    try:
        uid = str(session.get(SESSION_KEY) or "")  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a session that cannot be read marks nobody
        return
    if not uid.isdigit():
        return
    pipe = get_redis().pipeline(transaction=False)
    if activity_mark(pipe, user_id=int(uid)):
        try:
            pipe.execute()
        except RedisError as exc:
            log.warning("daily-active bit not set: %s", exc)


class TokenAuthenticationMiddleware:
    """``Authorization: Bearer <jwt>`` on ``/api/``: the request is that token's user (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header and request.path.startswith("/api/"):
            scheme, _, raw = header.partition(" ")
            if scheme.lower() == "bearer":
                refused = self._authenticate(request, raw.strip())
                if refused is not None:
                    return refused
        return self.get_response(request)

    @staticmethod
    def _authenticate(request: HttpRequest, raw: str) -> HttpResponse | None:
        try:
            user, claims = tokens.token_authenticate(raw)
        except tokens.InvalidToken as exc:
            return error(401, "invalid_token", str(exc),
                         headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc}"'})
        except RedisError as exc:
            log.warning("token check unavailable: %s", exc)
            return error(503, "token_check_unavailable",
                         "tokens cannot be checked against the revocation list while Redis is unavailable; "
                         "try again shortly", headers={"Retry-After": "5"})

        async def auser() -> object:
            return user

        request.user = user
        request.auser = auser  # type: ignore[attr-defined]
        request.auth = claims  # type: ignore[attr-defined]
        request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]  # a header, not an ambient cookie
        return None
