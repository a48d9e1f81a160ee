"""Writes of ``sessions_app/``: logging in (with the visitor's cart and orders), revoking sessions.

Login (``account_login``), in order:

1. Remember the anonymous visitor (``session:<key>``) the request had.
2. ``django.contrib.auth.login``: a new session key (``cycle_key``: the id
   changes, so a key planted before login is worthless after it), the user
   in the session, ``user_logged_in``.
3. Save the session now, not at the end of the request: if Redis is down the
   login fails here, visibly, instead of answering "logged in" with a session
   that was never stored.  One round trip: the new hash, the old hash's
   ``DEL``, the user's session list, the daily-active bit.
4. The visitor's cart is merged into the user's (one script,
   ``shop.checkout.cart_merge``) and its orders become the user's
   (``shop.orders.orders_adopt``).

Revoking: ``session_revoke`` (one session, by its opaque id) and
``sessions_revoke_others`` (every session of the user but the current one).
Each deletion is ``lua/session_revoke.lua``, which checks that the session
belongs to the user in the same atomic step, pipelined with the ``ZREM``
from the user's list: one round trip per batch of 200.  A revoked session's
next request is anonymous, in every process (nothing is cached locally).
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import login as django_login
from django.http import HttpRequest
from redis.exceptions import RedisError

from config.api import ApiError, NotFound, visitor
from config.redis import get_redis
from redis_patterns.scripts import loader
from sessions_app import keys

log = logging.getLogger(__name__)

REVOKE_BATCH = 200


class UnsupportedEngine(ApiError):
    status = 409
    code = "unsupported_session_engine"


def account_login(request: HttpRequest, user: Any, *, backend: str | None = None) -> None:
    """Log ``user`` in on this request, store the new session now, adopt the visitor's cart and orders.

    Raises ``RedisError`` when the session cannot be stored (the caller says
    so; nothing is half-done: the request's session is left as it was).
    """
    from shop.checkout import cart_merge
    from shop.orders import orders_adopt

    before = visitor(request)
    anonymous_owner = before.owner if before is not None and not before.is_user else None
    old_key = request.session.session_key
    django_login(request, user, backend=backend)
    try:
        request.session.save()
    except RedisError:
        # Put back an untouched session on the old key: no login, and no cookie change at the end.
        request.session = type(request.session)(old_key)
        request.user = _anonymous()
        raise
    if anonymous_owner is None:
        return
    owner = f"user:{user.pk}"
    moved = orders_adopt(from_owner=anonymous_owner, to_owner=owner, user_id=user.pk)
    try:
        lines = cart_merge(from_owner=anonymous_owner, to_owner=owner)
    except RedisError as exc:
        log.warning("login of user %s: the anonymous cart could not be merged: %s", user.pk, exc)
        lines = 0
    if moved or lines:
        log.info("login of user %s: %d order(s) and %d cart line(s) adopted", user.pk, moved, lines)


def _anonymous() -> Any:
    from django.contrib.auth.models import AnonymousUser

    return AnonymousUser()


def session_revoke(*, user_id: int, session_id: str) -> None:
    """Delete one of the user's sessions by its opaque id; ``NotFound`` if it is not one of theirs."""
    if not isinstance(session_id, str) or not keys.SESSION_ID.fullmatch(session_id):
        raise NotFound("no such session")
    if not _revoke(user_id, [session_id]):
        raise NotFound("no such session")


def sessions_revoke_others(*, user_id: int, keep_session_id: str | None) -> int:
    """Delete every session of the user except ``keep_session_id``; returns how many were deleted."""
    members = get_redis().zrange(keys.user_sessions_key(user_id), 0, -1)
    others = [m for m in members if m != keep_session_id and keys.SESSION_ID.fullmatch(m)]
    return sum(_revoke(user_id, others[i:i + REVOKE_BATCH]) for i in range(0, len(others), REVOKE_BATCH))


def _revoke(user_id: int, session_ids: list[str]) -> int:
    if not session_ids:
        return 0
    client = get_redis()
    scripts = loader("sessions_app")
    pipe = client.pipeline(transaction=False)
    for sid in session_ids:
        scripts.queue(client, pipe, "session_revoke", keys=[keys.session_key(sid)], args=[user_id])
    pipe.zrem(keys.user_sessions_key(user_id), *session_ids)
    replies = scripts.execute(client, pipe)
    return sum(int(r) for r in replies[:-1])
