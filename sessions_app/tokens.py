"""Short-lived access tokens (JWT, PyJWT) for the JSON API, with a self-cleaning denylist in Redis (course 8.5).

Pattern
    ``POST /api/auth/token`` signs ``{sub, jti, iat, exp, iss, aud}`` with
    HS256 (``JWT_SIGNING_KEY``, by default derived from ``SECRET_KEY``); the
    token is valid for ``JWT_ACCESS_TTL`` seconds (300).  A JWT is checked
    without a lookup, which is its appeal and its problem: it cannot be
    "logged out".  Revoking stores its ``jti`` in ``jwt:deny:{<jti>}`` with
    ``SET ... NX EX <seconds the token has left>``: the entry lives exactly as
    long as the token could be used, so the denylist never needs cleaning and
    holds at most the tokens revoked in the last ``JWT_ACCESS_TTL`` seconds.

Round trips
    Checking a token is one pipelined round trip: ``EXISTS`` on its denylist
    key together with the request's other Redis work, the daily-active
    ``SETBIT`` (``sessions_app.activity``).  Revoking is one ``SET``.

Guarantees and limits
    A revoked token is refused from the moment ``SET`` returns, by every
    process (the check is never cached).  Redis down: the check cannot be made
    and the request is refused with 503 (fail closed), see
    ``sessions_app.middleware``.  A token stays valid until it expires unless
    it is revoked: keep the lifetime short.  Clock skew between processes is
    not tolerated (no leeway): all run on hosts with synchronised clocks.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.crypto import salted_hmac

from config.redis import get_redis
from sessions_app import keys
from sessions_app.activity import activity_mark

ALGORITHM = "HS256"
ISSUER = "django-redis-reference"
AUDIENCE = "api"
#: A longer Authorization header is refused before any parsing.
MAX_TOKEN_CHARS = 2048


class InvalidToken(Exception):
    """The token is malformed, forged, expired, revoked, or names no active user (a 401)."""


@dataclass(frozen=True)
class AccessToken:
    """A freshly signed token, as ``POST /api/auth/token`` returns it."""

    access: str
    jti: str
    expires_at: int  # seconds since the epoch
    expires_in: int  # seconds


@dataclass(frozen=True)
class TokenClaims:
    """A verified token's claims (signature, issuer, audience and expiry already checked)."""

    user_id: int
    jti: str
    issued_at: int
    expires_at: int

    def remaining(self, now: float | None = None) -> int:
        """Whole seconds the token can still be used (rounded up), 0 once expired."""
        left = self.expires_at - (time.time() if now is None else now)
        return max(0, math.ceil(left))


def signing_key() -> str:
    """``JWT_SIGNING_KEY``, or a key derived from ``SECRET_KEY`` for this one purpose."""
    configured = getattr(settings, "JWT_SIGNING_KEY", None)
    return configured or salted_hmac("sessions_app.tokens", "access-token-signing-key").hexdigest()


def access_ttl() -> int:
    return int(getattr(settings, "JWT_ACCESS_TTL", 300))


def token_issue(*, user: Any, now: float | None = None, ttl: int | None = None) -> AccessToken:
    """Sign an access token for ``user`` valid ``ttl`` seconds (``JWT_ACCESS_TTL`` by default)."""
    issued = int(time.time() if now is None else now)
    lifetime = access_ttl() if ttl is None else int(ttl)
    jti = secrets.token_urlsafe(16)  # 22 characters, keys.JTI
    claims = {"sub": str(user.pk), "jti": jti, "iat": issued, "exp": issued + lifetime,
              "iss": ISSUER, "aud": AUDIENCE}
    return AccessToken(access=jwt.encode(claims, signing_key(), algorithm=ALGORITHM), jti=jti,
                       expires_at=issued + lifetime, expires_in=lifetime)


def token_decode(raw: str) -> TokenClaims:
    """Verify the signature, the issuer, the audience and the expiry; ``InvalidToken`` otherwise (no Redis)."""
    if not raw or len(raw) > MAX_TOKEN_CHARS:
        raise InvalidToken("malformed token")
    try:
        claims = jwt.decode(raw, signing_key(), algorithms=[ALGORITHM], issuer=ISSUER, audience=AUDIENCE,
                            options={"require": ["sub", "jti", "iat", "exp", "iss", "aud"]})
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("the token is not valid") from None
    sub, jti = claims["sub"], claims["jti"]
    if not isinstance(sub, str) or not sub.isdigit() or not isinstance(jti, str) or not keys.JTI.fullmatch(jti):
        raise InvalidToken("the token is not valid")
    return TokenClaims(user_id=int(sub), jti=jti, issued_at=int(claims["iat"]), expires_at=int(claims["exp"]))


def token_authenticate(raw: str) -> tuple[Any, TokenClaims]:
    """The active user a valid, unrevoked token names, and its claims; ``InvalidToken`` otherwise.

    One round trip: the denylist ``EXISTS`` and the user's daily-active bit,
    pipelined (the bit is harmless if the token turns out revoked: the user
    did make the request).  Raises ``RedisError`` when Redis is down.
    """
    claims = token_decode(raw)
    pipe = get_redis().pipeline(transaction=False)
    pipe.exists(keys.token_denylist_key(claims.jti))
    activity_mark(pipe, user_id=claims.user_id, now=dt.datetime.now(dt.UTC))
    revoked = pipe.execute()[0]
    if revoked:
        raise InvalidToken("the token has been revoked")
    user = get_user_model()._default_manager.filter(pk=claims.user_id, is_active=True).first()
    if user is None:
        raise InvalidToken("the token's user does not exist or is inactive")
    return user, claims


def token_revoke(claims: TokenClaims, *, now: float | None = None) -> bool:
    """Deny the token from now on; the denylist entry expires when the token would have.

    Returns ``False`` when there was nothing to store (the token has already
    expired, or was already revoked).
    """
    remaining = claims.remaining(now)
    if remaining <= 0:
        return False
    return bool(get_redis().set(keys.token_denylist_key(claims.jti), "1", ex=remaining, nx=True))
