"""The accounts API: access tokens, who am I, and a user's sessions (JSON, errors as everywhere: ``config.api``).

- ``POST /api/auth/token`` ``{"username", "password"}`` -> 200 ``{"access", "token_type": "Bearer",
  "expires_in"}``; 401 ``invalid_credentials``; limited like every login (``login-ip``, ``login-username``).
  No CSRF token needed: it sets no cookie, and the token comes back in the body, which another site
  cannot read.
- ``POST /api/auth/revoke`` with ``Authorization: Bearer <jwt>`` -> 204; that token is refused (401) from
  then on.
- ``GET /api/me`` -> ``{"authenticated", "username", "via": "session" | "token" | null}``.
- ``GET /api/sessions`` -> ``[{"id", "current", "user_agent", "ip", "created", "last_seen"}]``;
  ``DELETE /api/sessions/<id>`` -> 204; ``POST /api/sessions/revoke-others`` -> ``{"revoked": n}``.
  These three need a session login (the cookie, and ``X-CSRFToken`` for the unsafe two): they manage
  sessions, which a Bearer token is not.  ``<id>`` is the opaque session id, never the session key.

A request with a Bearer token is that token's user for every API endpoint
(``sessions_app.middleware``, ``config.api.visitor``).
"""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from config.api import ApiError, api_view, json_body, visitor
from config.ratelimit import ratelimit
from sessions_app import selectors, services, tokens
from sessions_app.store import SessionStore as RedisSessionStore

MAX_USERNAME = 150
MAX_PASSWORD = 1024  # hashing a megabyte "password" would be a cheap way to burn our CPU
SESSIONS_DOWN = "sessions are stored in Redis, which is unavailable; try again shortly"


class NotAuthenticated(ApiError):
    status = 401
    code = "not_authenticated"


@csrf_exempt
@ratelimit("login-ip", "login-username")
@api_view("POST", redis_detail=SESSIONS_DOWN)
def token(request: HttpRequest) -> JsonResponse:
    """``POST /api/auth/token``: a short-lived access token for a username and password."""
    body = json_body(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise ApiError('expected {"username": "...", "password": "..."}', code="invalid_request")
    if len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
        raise ApiError("username or password too long", code="invalid_request")
    user = authenticate(request, username=username, password=password)
    if user is None:
        raise ApiError("wrong username or password", code="invalid_credentials", status=401)
    issued = tokens.token_issue(user=user)
    response = JsonResponse({"access": issued.access, "token_type": "Bearer", "expires_in": issued.expires_in})
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt  # authenticated by the Authorization header only, which a cross-site form cannot send
@api_view("POST", redis_detail="the token revocation list is in Redis, which is unavailable; try again shortly")
def revoke(request: HttpRequest) -> HttpResponse:
    """``POST /api/auth/revoke``: deny the Bearer token of this request until it expires."""
    claims = getattr(request, "auth", None)
    if claims is None:
        raise NotAuthenticated("send the token to revoke in the Authorization header: Bearer <token>")
    tokens.token_revoke(claims)
    return HttpResponse(status=204)


@api_view("GET", "HEAD", redis_detail=SESSIONS_DOWN)
def me(request: HttpRequest) -> JsonResponse:
    """``GET /api/me``: who the API thinks you are, and how you proved it."""
    who = visitor(request)
    if who is None or not who.is_user:
        return JsonResponse({"authenticated": False, "username": None, "via": None})
    return JsonResponse({"authenticated": True, "username": request.user.get_username(), "via": who.via})


def _session_user(request: HttpRequest) -> tuple[int, str | None]:
    """The user id of a session login and this session's opaque id; 401/403/409 otherwise."""
    if not selectors.redis_sessions_enabled():
        raise services.UnsupportedEngine("listing and revoking sessions needs SESSION_BACKEND=redis "
                                         "(Django's engines keep no per-user index)")
    who = visitor(request)
    if who is None or not who.is_user:
        raise NotAuthenticated("log in first (POST /accounts/login/)")
    if who.via != "session":
        raise ApiError("sessions are managed with a session login, not a Bearer token",
                       code="session_required", status=403)
    session = request.session
    return int(who.user_id or 0), session.session_id if isinstance(session, RedisSessionStore) else None


@api_view("GET", "HEAD", redis_detail=SESSIONS_DOWN)
def sessions(request: HttpRequest) -> JsonResponse:
    """``GET /api/sessions``: this user's active sessions, this one marked ``current``."""
    user_id, current = _session_user(request)
    rows = selectors.user_sessions(user_id=user_id, current_id=current)
    return JsonResponse([row.as_json() for row in rows], safe=False)


@api_view("DELETE", redis_detail=SESSIONS_DOWN)
def session_detail(request: HttpRequest, session_id: str) -> HttpResponse:
    """``DELETE /api/sessions/<id>``: revoke one session; its next request is anonymous."""
    user_id, _ = _session_user(request)
    services.session_revoke(user_id=user_id, session_id=session_id)
    return HttpResponse(status=204)


@api_view("POST", redis_detail=SESSIONS_DOWN)
def revoke_others(request: HttpRequest) -> JsonResponse:
    """``POST /api/sessions/revoke-others``: revoke every session of this user but this one."""
    user_id, current = _session_user(request)
    return JsonResponse({"revoked": services.sessions_revoke_others(user_id=user_id, keep_session_id=current)})
