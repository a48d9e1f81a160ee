"""Audiences: who an event is for, and the names derived from one.

An audience is a string:

- ``"user:<id>"``: a logged-in user (all their sockets);
- ``"session:<session_key>"``: an anonymous visitor's session (orders placed
  without logging in carry this in ``Order.owner``);
- ``"public"``: everyone, e.g. a staff broadcast;
- ``"leaderboard:<board>"``: sockets that subscribed to a board's top-10 changes.

Audiences are validated against strict patterns before they become part of a
key name or a channel-layer group name, so user input (a board name) can
never smuggle a ``{hash tag}``, a glob or a separator into either.

A session key is a credential: whoever has it *is* that visitor (it reads
their orders).  So it never appears in Redis: ``redis_name`` turns
``session:<key>`` into ``visitor:<keyed hash>`` (HMAC-SHA256 with
``SECRET_KEY``; without the secret the key cannot be recovered or guessed
from the name) for the event stream's key, the channel-layer group, the live
message and the presence member.  Callers keep passing the audience itself
(``notify(order.owner, ...)``); only this module knows the mapping.  Rotating
``SECRET_KEY`` renames every visitor's stream (their last 24 h of events stay
under the old names and expire).
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from django.conf import settings
from django.utils.crypto import salted_hmac

PUBLIC = "public"

_USER = re.compile(r"^user:\d{1,20}$")
# Django's session keys are 32 of [a-z0-9]; any short token of this alphabet is accepted.
_SESSION = re.compile(r"^session:[A-Za-z0-9_-]{1,64}$")
_BOARD = re.compile(r"^leaderboard:[A-Za-z0-9_.-]{1,64}$")


def is_valid(audience: str) -> bool:
    return isinstance(audience, str) and (
        audience == PUBLIC or bool(_USER.match(audience) or _SESSION.match(audience) or _BOARD.match(audience))
    )


def is_topic(audience: str) -> bool:
    """Topics a socket may subscribe to itself: leaderboards only (never a user or session)."""
    return isinstance(audience, str) and bool(_BOARD.match(audience))


def check(audience: str) -> str:
    """Return ``audience`` or raise ``ValueError`` naming the accepted forms."""
    if not is_valid(audience):
        raise ValueError(f"bad audience {audience!r}: expected 'user:<id>', 'session:<key>', 'public' "
                         "or 'leaderboard:<board>' (board: letters, digits, _ . -, at most 64)")
    return audience


def redis_name(audience: str) -> str:
    """The audience as Redis sees it: itself, except a session's, which becomes ``visitor:<keyed hash>``.

    ``"session:<key>"`` -> ``"visitor:" + HMAC-SHA256(SECRET_KEY, key)[:32 hex]``: stable for one
    session (its sockets and its orders' notifications meet on it), unlinkable to the key.
    """
    check(audience)
    if audience.startswith("session:"):
        return _visitor_name(audience[8:], settings.SECRET_KEY)
    return audience


@lru_cache(maxsize=4096)
def _visitor_name(session_key: str, secret: str) -> str:
    """The keyed hash, memoised per process: an event names its audience three times (stream key, group,
    live message) and a worker's batch one per order; each HMAC derives its key with another SHA-256 first."""
    return "visitor:" + salted_hmac("realtime.audiences.redis_name", session_key, secret=secret,
                                    algorithm="sha256").hexdigest()[:32]


def group_name(audience: str) -> str:
    """The channel-layer group: ``"user:42"`` -> ``"rt.user.42"`` (groups allow ``[A-Za-z0-9._-]``).

    A session's group is ``rt.visitor.<keyed hash>`` (``redis_name``): the session key never reaches Redis.
    """
    return "rt." + redis_name(audience).replace(":", ".")


def label(audience: str | None) -> str:
    """What a page may show about a socket's audience (never a session key)."""
    if audience is None:
        return "public only"
    if audience.startswith("session:"):
        return "this browser session"
    return audience


def presence_member(audience: str | None, fallback: str) -> str:
    """The presence member for a socket: the user, the session's ``redis_name``, or the socket itself.

    A session key is a credential: only its keyed hash is stored, where a page might list it.
    """
    if audience is None:
        return "socket:" + hashlib.sha256(fallback.encode()).hexdigest()[:12]
    return redis_name(audience)
