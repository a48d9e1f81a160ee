"""Every Redis key of ``sessions_app/``, one function each, each declared in the key registry.

Session keys (the cookie's value) are credentials: they never appear in a key
name.  A session is stored under the SHA-256 of its key (``session_id``), and
that digest is also the opaque id the "Your sessions" page and the API show.
Token ids (``jti``) are validated before they reach a key name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from config.keyspace import declare, family
from config.redis import key

#: Long enough for the retention chart's cohorts (day N against day 0, N up to 90).
ACTIVITY_TTL = dt.timedelta(days=120)

#: A session id: the first 32 hex digits (128 bits) of SHA-256(session key).
SESSION_ID = re.compile(r"[0-9a-f]{32}")
#: A token id as ``tokens.token_issue`` makes them (16 random bytes, URL-safe base64).
JTI = re.compile(r"[A-Za-z0-9_-]{22}")


def session_id(session_key: str) -> str:
    """The opaque id of a session: shown to its user, used in key names; the key cannot be derived from it."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]


@family("sess:{<session id>}", type="hash",
        ttl="the session's expiry age (SESSION_COOKIE_AGE, 2 weeks), slid forward by every request that uses it",
        writer="sessions_app.store.SessionStore (lua/session_save.lua); deleted at logout and revoke")
def session_key(sid: str) -> str:
    """One session: ``data`` (the session dict as JSON), ``uid``, ``ua``, ``ip``, ``created``, ``seen`` (ms).

    The id is its own hash tag: every command on a session touches one slot.
    """
    if not SESSION_ID.fullmatch(sid):
        raise ValueError("not a session id")
    return key("sess", f"{{{sid}}}")


@family("sess:user:{<user id>}", type="zset",
        ttl="until its latest session expires (PEXPIREAT NX + GT with each save)",
        writer="sessions_app.store (ZADD at login, ZADD XX on each save, ZREM at logout); services (revoke)")
def user_sessions_key(user_id: int) -> str:
    """A user's sessions: member = session id, score = when it expires (ms).

    Listing reads members scored after now, so an expired session is never
    listed even before a save trims it (``ZREMRANGEBYSCORE -inf now``).
    """
    return key("sess", "user", f"{{{int(user_id)}}}")


@family("jwt:deny:{<jti>}", type="string", ttl="the token's remaining lifetime (SET NX EX): it cleans itself",
        writer="sessions_app.tokens.token_revoke (POST /api/auth/revoke)")
def token_denylist_key(jti: str) -> str:
    """A revoked access token's id; its presence refuses the token."""
    if not JTI.fullmatch(jti):
        raise ValueError("not a token id")
    return key("jwt", "deny", f"{{{jti}}}")


@family("{activity}:users:<YYYY-MM-DD>", type="string", ttl="120 days, set with the first SETBIT of the day",
        writer="sessions_app (each authenticated request: SETBIT <user id> 1); read by shop analytics")
def active_users_key(day: dt.date) -> str:
    """Daily active users as a bitmap, bit = user id.

    One ``{activity}`` hash tag for every day, so ``BITOP OR`` (weekly
    actives) and ``BITOP AND`` (retention: day N against the day-0 cohort)
    run on a Cluster too.  Memory: max user id / 8 bytes per day (125 KB for
    a million users), whatever the number of active users.
    """
    return key("{activity}", "users", day.isoformat())


# Django's own engines, for the side-by-side comparison (SESSION_BACKEND=cache or cached_db): django-redis
# builds these names as <KEY_PREFIX>:<version>:<key>, with the raw session key in them.
declare("sessions:1:django.contrib.sessions.cache<session key>", type="string",
        ttl="the session's expiry age (SET EX by the cache engine)",
        writer="django.contrib.sessions.backends.cache through the django-redis cache 'sessions'",
        builder="django.contrib.sessions.backends.cache.SessionStore.cache_key")
declare("sessions:1:django.contrib.sessions.cached_db<session key>", type="string",
        ttl="the session's expiry age (SET EX by the cached_db engine; the database row is the truth)",
        writer="django.contrib.sessions.backends.cached_db through the django-redis cache 'sessions'",
        builder="django.contrib.sessions.backends.cached_db.SessionStore.cache_key")
