"""The API edge, in one place: errors, request bodies, the current visitor, CSRF failures.

Every JSON endpoint of every app uses these, so the whole API answers alike:

- ``ApiError`` and its subclasses are the one error shape,
  ``{"error": "<code>", "detail": "...", ...}`` with a 4xx status; services
  raise them (a domain error knows its status and code), ``@api_view``
  turns them into responses.  ``error()`` builds one directly.
- ``json_body(request)`` is the one body parser: JSON content type, a size
  limit and a nesting limit, checked *before* the body is parsed, so a
  hostile body costs a 4xx and no recursion.
- ``visitor(request)`` / ``avisitor`` / ``visitor_of(user, session)`` is the
  one "who is this": a user (``user:<id>``, logged in by its session or by a
  valid ``Authorization: Bearer`` token, see ``sessions_app.middleware``) or an
  anonymous session (``session:<key>``).  A visitor's cart, orders and
  notifications belong to it.
- ``csrf_failure`` answers JSON for ``/api/`` (Django's page elsewhere).
- ``not_found`` answers unknown ``/api/`` paths with a JSON 404; ``bad_request``
  and ``server_error`` (``handler400``/``handler500``) answer JSON there too,
  and ``ApiHostMiddleware`` a foreign ``Host`` (even under ``DEBUG``).
- ``BodyLimit`` (ASGI, wrapped around the app in ``config.asgi``) refuses an
  ``/api/`` body over ``MAX_BODY_BYTES`` with a JSON 413 before Django reads
  it: Django's ASGI handler spools the whole body first, and its CSRF
  middleware parses form bodies (over 2.5 MB: an HTML 400, a debug page under
  ``DEBUG``) before any view could answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

#: Request bodies larger than this are refused before they are read as JSON.
MAX_BODY_BYTES = 64 * 1024
#: Deepest nesting of arrays/objects a body may have (our largest real body nests 3 deep).
MAX_DEPTH = 8


# --- errors --------------------------------------------------------------------------------


class ApiError(Exception):
    """An error the client can act on: a status, a stable code, a sentence, and optional extra fields."""

    status = 400
    code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}
        self.extra = extra

    def as_json(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}

    def response(self) -> JsonResponse:
        response = JsonResponse(self.as_json(), status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


def error(status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
          **extra: Any) -> JsonResponse:
    """A JSON error response: ``{"error": code, "detail": detail, **extra}``."""
    return ApiError(detail, code=code, status=status, headers=headers, **extra).response()


def api_view(*methods: str, redis_detail: str = "Redis is unavailable; try again shortly") -> Callable:
    """Decorate a JSON view: allow ``methods`` (405 otherwise), turn ``ApiError`` and ``RedisError`` into JSON.

    Works on sync and async views.  ``RedisError`` becomes a 503 with
    ``redis_detail``: a view that can work without Redis catches it itself.
    """
    allowed = ", ".join(methods)

    def refuse(request: HttpRequest) -> JsonResponse | None:
        if request.method in methods:
            return None
        return error(405, "method_not_allowed", f"use {' or '.join(methods)}", headers={"Allow": allowed})

    def convert(exc: Exception) -> JsonResponse:
        if isinstance(exc, ApiError):
            return exc.response()
        log.warning("API: Redis unavailable: %s", exc)
        return error(503, "redis_unavailable", redis_detail, headers={"Retry-After": "5"})

    def decorator(view: Callable) -> Callable:
        if iscoroutinefunction(view):
            @wraps(view)
            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                refused = refuse(request)
                if refused is not None:
                    return refused
                try:
                    return await view(request, *args, **kwargs)
                except (ApiError, RedisError) as exc:
                    return convert(exc)

            return async_wrapper

        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            refused = refuse(request)
            if refused is not None:
                return refused
            try:
                return view(request, *args, **kwargs)
            except (ApiError, RedisError) as exc:
                return convert(exc)

        return wrapper

    return decorator


# --- bodies ---------------------------------------------------------------------------------


def _depth_exceeded(raw: bytes, limit: int) -> bool:
    """True if ``raw`` nests arrays/objects deeper than ``limit`` (brackets in strings skipped).

    A linear scan before ``json.loads``: Python's parser recurses per level,
    and a few kilobytes of ``[[[[...`` would otherwise raise ``RecursionError``
    deep inside it (a 500), or cost time for a body we will refuse anyway.
    """
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # "
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses a document nested deeper than ``max_depth`` first (``ValueError``).

    For any JSON from a client (a WebSocket frame too): without the check, a
    few kilobytes of ``[[[[`` make the parser recurse until ``RecursionError``.
    """
    data = raw.encode() if isinstance(raw, str) else raw
    if _depth_exceeded(data, max_depth):
        raise ValueError(f"nested deeper than {max_depth} levels")
    return json.loads(data)


def json_body(request: HttpRequest, *, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_DEPTH,
              expect: type | None = dict) -> Any:
    """The request's JSON body, or ``ApiError`` (415 wrong content type, 413 too large, 400 malformed).

    ``expect``: the type the top level must have (``dict`` by default; ``None`` for any).
    """
    if request.content_type != "application/json":
        raise ApiError("send the body as JSON with Content-Type: application/json",
                       code="unsupported_media_type", status=415)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > max_bytes:
        raise ApiError(f"the body is larger than {max_bytes} bytes", code="body_too_large", status=413)
    try:
        raw = request.body
    except RequestDataTooBig:  # a chunked body with no declared length, past Django's own cap
        raise ApiError(f"the body is larger than {max_bytes} bytes", code="body_too_large", status=413) from None
    if len(raw) > max_bytes:
        raise ApiError(f"the body is larger than {max_bytes} bytes", code="body_too_large", status=413)
    if _depth_exceeded(raw, max_depth):
        raise ApiError(f"the body nests deeper than {max_depth} levels", code="invalid_json")
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ApiError("the body is not valid JSON", code="invalid_json") from None
    if expect is not None and not isinstance(data, expect):
        raise ApiError(f"the body must be a JSON {'object' if expect is dict else expect.__name__}",
                       code="invalid_json")
    return data


# --- the current visitor ------------------------------------------------------------------------


@dataclass(frozen=True)
class Visitor:
    """Who is asking: ``owner`` is ``"user:<id>"`` or ``"session:<session key>"``.

    ``via`` says how a user proved who it is: ``"session"`` (the login
    cookie) or ``"token"`` (a Bearer token); ``None`` for an anonymous visitor.
    """

    owner: str
    user_id: int | None = None
    via: str | None = None

    @property
    def is_user(self) -> bool:
        return self.user_id is not None


def visitor_of(user: Any, session: Any) -> Visitor | None:
    """The visitor for a user and a session (from a request or a WebSocket scope); ``None`` if neither."""
    if user is not None and getattr(user, "is_authenticated", False):
        return Visitor(f"user:{user.pk}", user.pk, "session")
    session_key = getattr(session, "session_key", None) if session is not None else None
    if getattr(session, "unavailable", False):
        return None  # the session store could not be read: a cookie alone proves nothing (sessions_app.store)
    return Visitor(f"session:{session_key}") if session_key else None


def _token_visitor(request: HttpRequest) -> Visitor | None:
    """The user of a valid Bearer token (``request.auth``, set by ``sessions_app.middleware``); never a session."""
    claims = getattr(request, "auth", None)
    return Visitor(f"user:{claims.user_id}", claims.user_id, "token") if claims is not None else None


def visitor(request: HttpRequest, *, create: bool = False) -> Visitor | None:
    """The request's visitor; ``create=True`` gives an anonymous visitor a session first (for a write).

    With sessions in Redis, creating one raises ``RedisError`` while Redis is
    down (``api_view`` answers 503; a page catches it and stays anonymous).
    """
    found = _token_visitor(request) or visitor_of(getattr(request, "user", None), request.session)
    if found is None and create:
        request.session.save()
        found = visitor_of(None, request.session)
    return found


async def avisitor(request: HttpRequest, *, create: bool = False) -> Visitor | None:
    """``visitor`` for async views (the user is loaded without blocking the event loop)."""
    found = _token_visitor(request) or visitor_of(await request.auser(), request.session)
    if found is None and create:
        await request.session.asave()
        found = visitor_of(None, request.session)
    return found


# --- edge answers ---------------------------------------------------------------------------------


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: JSON 403 for the API (as every other API error), Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return error(403, "csrf_failed", f"CSRF check failed: {reason.rstrip('.')}. Send the csrftoken cookie's value "
                                         "in the X-CSRFToken header.")
    from django.views.csrf import csrf_failure as default

    return default(request, reason=reason)


def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any ``/api/`` path no app claimed: a JSON 404, never the HTML page."""
    return error(404, "not_found", f"no API endpoint at {request.path[:200]}")


class ApiHostMiddleware:
    """A request to ``/api/`` naming a host not in ``ALLOWED_HOSTS`` gets the API's JSON 400.

    Django refuses it anyway (``DisallowedHost``), but answers with a page,
    and under ``DEBUG`` (``make run``) with its debug page: checked first,
    here, the API answers in its own shape whatever the mode.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    @staticmethod
    def _refuse(request: HttpRequest) -> JsonResponse | None:
        if not request.path.startswith("/api/"):
            return None
        try:
            request.get_host()
        except DisallowedHost:
            return error(400, "bad_host", "this host name is not served here")
        return None

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        return self._refuse(request) or self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        return self._refuse(request) or await self.get_response(request)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler400``: JSON for the API, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return error(400, "bad_request", "the request could not be read")
    from django.views.defaults import bad_request as default

    return default(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: JSON for the API (the same shape as every other error), Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return error(500, "server_error", "something went wrong on our side; it has been logged")
    from django.views.defaults import server_error as default

    return default(request)



# --- the ASGI edge --------------------------------------------------------------------------------

#: Every request body, anywhere on the site: Django's own cap for non-file bodies (no page takes files).
MAX_SITE_BODY_BYTES = 2_621_440


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: refuse an oversized request body before Django reads it.

    Django's ASGI handler reads the whole body (into a temporary file, spilling
    to disk) before any middleware or view runs, so a size check in Django
    comes after the cost.  Here a declared ``Content-Length`` over the limit is
    answered at once, and a chunked body is counted as it arrives and cut off
    at the limit: ``/api/`` gets ``MAX_BODY_BYTES`` and a JSON 413 (the error
    shape of every API answer), pages ``MAX_SITE_BODY_BYTES`` and a plain 413.
    """

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        api = scope.get("path", "").startswith("/api/")
        limit = MAX_BODY_BYTES if api else MAX_SITE_BODY_BYTES
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        try:
            too_large = int(declared) > limit
        except ValueError:
            too_large = False  # the server refuses a malformed length itself
        if too_large:
            return await self._refuse(send, api, limit)
        received = 0
        started = False

        async def counting_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(send, api, limit)

    @staticmethod
    async def _refuse(send: Callable, api: bool, limit: int) -> None:
        if api:
            body = json.dumps({"error": "body_too_large", "detail": f"the body is larger than {limit} bytes"}).encode()
            ctype = b"application/json"
        else:
            body, ctype = f"Request body larger than {limit} bytes.\n".encode(), b"text/plain; charset=utf-8"
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
