"""Reads of ``sessions_app/``: a user's active sessions, and how the engines compare (never writes)."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from config.redis import get_redis
from sessions_app import keys
from sessions_app.devices import device_name

#: "Your sessions" lists at most this many (the most recently active); revoking others covers all of them.
MAX_LISTED = 100


@dataclass(frozen=True)
class SessionInfo:
    """One of a user's sessions as the page and the API show it (the id is opaque, never the session key)."""

    id: str
    current: bool
    user_agent: str
    ip: str
    created: dt.datetime | None
    last_seen: dt.datetime | None
    expires: dt.datetime

    @property
    def device(self) -> str:
        return device_name(self.user_agent)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "current": self.current, "user_agent": self.user_agent, "ip": self.ip,
                "created": _iso(self.created), "last_seen": _iso(self.last_seen)}


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _when(raw: bytes | None) -> dt.datetime | None:
    text = raw.decode("ascii", "replace") if raw else ""
    return dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC) if text.isdigit() else None


def redis_sessions_enabled() -> bool:
    """True when the site's sessions are this app's Redis engine (the only one with a per-user list)."""
    return settings.SESSION_ENGINE == "sessions_app.store"


def user_sessions(*, user_id: int, current_id: str | None = None, limit: int = MAX_LISTED) -> list[SessionInfo]:
    """The user's sessions that have not expired, most recently active first.

    Two round trips: the ids scored after now (``ZRANGE ... BYSCORE REV``,
    so an expired member is never listed even before a save trims it), then
    each session's fields in one pipeline.  A member whose hash is gone
    (revoked, evicted) or belongs to someone else is skipped.
    """
    client = get_redis(decode_responses=False)
    now_ms = time.time_ns() // 1_000_000
    members = client.zrange(keys.user_sessions_key(user_id), "+inf", f"({now_ms}", desc=True, byscore=True,
                            withscores=True, offset=0, num=limit)
    ids = [(m.decode("ascii", "replace"), score) for m, score in members]
    ids = [(sid, score) for sid, score in ids if keys.SESSION_ID.fullmatch(sid)]
    if not ids:
        return []
    pipe = client.pipeline(transaction=False)
    for sid, _ in ids:
        pipe.hmget(keys.session_key(sid), ["uid", "ua", "ip", "created", "seen"])
    out = []
    for (sid, score), (uid, ua, ip, created, seen) in zip(ids, pipe.execute(), strict=True):
        if uid is None or uid.decode("ascii", "replace") != str(user_id):
            continue
        out.append(SessionInfo(
            id=sid, current=sid == current_id, user_agent=(ua or b"").decode("utf-8", "replace"),
            ip=(ip or b"").decode("utf-8", "replace"), created=_when(created), last_seen=_when(seen),
            expires=dt.datetime.fromtimestamp(score / 1000, dt.UTC)))
    out.sort(key=lambda s: (not s.current, -(s.last_seen.timestamp() if s.last_seen else 0)))
    return out


@dataclass(frozen=True)
class StoredSession:
    """One session as Redis holds it, for the sessions page."""

    fields: dict[str, str]
    ttl_ms: int
    encoding: str
    memory: int


def session_stored(*, session_id: str) -> StoredSession:
    """One session's fields (``data`` reduced to its keys: it holds the login's hash), TTL, encoding and size.

    One pipelined round trip: ``HGETALL``, ``PTTL``, ``OBJECT ENCODING``, ``MEMORY USAGE``.
    """
    name = keys.session_key(session_id)
    pipe = get_redis(decode_responses=False).pipeline(transaction=False)
    pipe.hgetall(name)
    pipe.pttl(name)
    pipe.object("encoding", name)
    pipe.memory_usage(name)
    raw, ttl, encoding, memory = pipe.execute()
    fields = {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in raw.items()}
    if "data" in fields:
        try:
            fields["data"] = "{" + ", ".join(f'"{k}": …' for k in json.loads(fields["data"])) + "}"
        except ValueError:
            fields["data"] = "(not JSON)"
    encoding = encoding.decode() if isinstance(encoding, bytes) else str(encoding or "")
    return StoredSession(fields=fields, ttl_ms=int(ttl), encoding=encoding, memory=int(memory or 0))
