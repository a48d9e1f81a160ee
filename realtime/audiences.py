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
"""

from __future__ import annotations

import hashlib
import re

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


def group_name(audience: str) -> str:
    """The channel-layer group: ``"user:42"`` -> ``"rt.user.42"`` (groups allow ``[A-Za-z0-9._-]``)."""
    return "rt." + check(audience).replace(":", ".")


def label(audience: str | None) -> str:
    """What a page may show about a socket's audience (never a session key)."""
    if audience is None:
        return "public only"
    if audience.startswith("session:"):
        return "this browser session"
    return audience


def presence_member(audience: str | None, fallback: str) -> str:
    """The presence member for a socket: the user, a hash of the session, or the socket itself.

    A session key is a credential: it is hashed before it is stored anywhere
    a page might list it.
    """
    if audience is None:
        return "socket:" + hashlib.sha256(fallback.encode()).hexdigest()[:12]
    if audience.startswith("session:"):
        return "visitor:" + hashlib.sha256(audience.encode()).hexdigest()[:12]
    return audience
