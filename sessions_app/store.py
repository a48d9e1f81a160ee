"""A Django session engine on Redis: ``SESSION_ENGINE = "sessions_app.store"`` (course 8.5, 2.2).

Layout
    One hash per session, ``sess:{<id>}`` where ``<id>`` is SHA-256 of the
    session key (the cookie's value is a credential: it never appears in a key
    name, and the id shown on "Your sessions" cannot be turned back into it).
    Fields: ``data`` (the session dict as JSON), ``uid``, ``ua``, ``ip``,
    ``created`` and ``seen`` (ms).  A logged-in user's sessions are also in
    ``sess:user:{<uid>}``, a sorted set scored by when each session expires.

Guarantees
    - JSON, never pickle: a payload that is not a JSON object (e.g. a pickle
      planted by someone who can write to Redis) is ignored and the request is
      anonymous; nothing in it is ever executed.
    - Sliding expiry: every request that uses its session pushes the TTL
      forward (``SessionMiddleware`` asks for a save; when nothing changed the
      save is a plain ``PEXPIRE``, and once a minute the script rewrites
      ``seen`` and the address: "last seen" is exact to the minute).
    - A revoked session stays revoked: writes go through
      ``lua/session_save.lua``, which refuses to update or refresh a hash that
      no longer exists, so a request in flight cannot bring it back.
    - Fixation: ``cycle_key`` (called by ``login``) gives a new id; the old
      hash is deleted in the same round trip that writes the new one.

Round trips (counted by the tests and ``bench/sessions.py``)
    load: 1 (``HGETALL``).  save: 1, a pipeline of the save script (or, for
    the common request that changed nothing, ``PEXPIRE``), the user's list
    (``ZADD``, ``PEXPIREAT ... GT`` so it lives as long as its newest session;
    ``NX`` at login; trimmed with ``ZREMRANGEBYSCORE`` when the script runs)
    and the daily-active bit (``SETBIT`` + ``EXPIREAT``).  On a Cluster the pipeline
    goes to each node that owns one of those slots, written together and read
    together.  No ``EXISTS`` when a new key is drawn: the create script
    refuses a key that is taken, and the next key is tried.

Failure policy (Redis down)
    ``load`` logs and answers an empty session: the request is anonymous, the
    cookie is kept, and the session is back when Redis is.  Such a session
    names no visitor (``config.api.visitor``: the cookie cannot be vouched for)
    and cannot be saved (``SessionStoreUnavailable``, a ``RedisError``); any
    write to Redis that fails raises ``RedisError`` too: logins fail closed
    (``sessions_app.views`` says so), API writes that need a visitor answer
    503, and ``sessions_app.middleware`` logs a failed end-of-request save
    instead of answering 500.

Sync and async twins: ``load``/``aload``, ``save``/``asave``, ``create``/
``acreate``, ``delete``/``adelete``, ``exists``/``aexists``,
``cycle_key``/``acycle_key``; one contract test suite runs against both.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, SessionBase, UpdateError
from django.utils.crypto import get_random_string
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from config.redis import get_async_redis, get_redis
from redis_patterns.scripts import loader
from sessions_app import keys
from sessions_app.activity import activity_mark

log = logging.getLogger(__name__)

#: How much of the user agent a session keeps (enough to name the browser and the system).
MAX_USER_AGENT = 256


class SessionStoreUnavailable(RedisConnectionError):
    """This request's session could not be read from Redis, so it cannot be written either."""


@dataclass(frozen=True)
class ClientInfo:
    """Who is on the other end, as the session middleware saw it: for "Your sessions"."""

    user_agent: str = ""
    ip: str = ""


@dataclass(frozen=True)
class Stored:
    """What the last load or save of this session found in Redis."""

    uid: str  # "" for an anonymous session
    payload: bytes  # the JSON as stored, to tell a real change from a refresh
    seen: int = 0  # ms, as stored
    ip: str = ""


def _loads(raw: bytes | None) -> dict[str, Any] | None:
    """The session dict from its stored JSON, or ``None`` for anything else (never unpickled)."""
    if raw is None:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _dumps(data: dict[str, Any]) -> bytes:
    # No sort_keys: json.loads keeps the stored order, so an unchanged session dumps to the same bytes.
    return json.dumps(data, separators=(",", ":")).encode()


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", "replace") if raw else ""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


#: "seen" (and the address) are rewritten at most this often; in between, a request only slides the TTLs.
SEEN_RESOLUTION_MS = 60_000


@dataclass
class _Write:
    """One save, planned: the script call (or, to slide the expiry only, a PEXPIRE) and what rides with it."""

    key: str
    mode: str  # create | update | touch (the script) | slide (PEXPIRE only)
    args: list[Any]  # the script's ARGV (create, update, touch)
    ops: list[Callable[[Any], Any]]
    stored: Stored  # what Redis holds once this write succeeds


class SessionStore(SessionBase):
    """Django's session contract (``SessionBase``) on one Redis hash per session."""

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self.client_info: ClientInfo | None = None  # set by sessions_app.middleware.SessionMiddleware
        self.previous_session_key: str | None = None  # the key before the last cycle_key (login)
        self.unavailable = False  # True when load met a Redis error (the request is then anonymous)
        self._stored: Stored | None = None
        self._doomed: list[tuple[str, str]] = []  # (session id, uid) to delete with the next save
        self._must_create = False
        self._written = False  # saved during this request: a second save of the same data is skipped

    # -- names ---------------------------------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        """The opaque id of this session (what "Your sessions" shows), or ``None`` without a key."""
        return keys.session_id(self.session_key) if self.session_key else None

    @staticmethod
    def _client() -> Any:
        # bytes in, bytes out: a payload that is not UTF-8 must reach _loads, not fail in the parser
        return get_redis(decode_responses=False)

    @staticmethod
    def _aclient() -> Any:
        return get_async_redis(decode_responses=False)

    def _get_new_session_key(self) -> str:
        # No EXISTS round trip: the create script refuses a taken key and create() draws again.
        return get_random_string(32, VALID_KEY_CHARS)

    async def _aget_new_session_key(self) -> str:
        return self._get_new_session_key()

    # -- load ----------------------------------------------------------------------------------

    def load(self) -> dict[str, Any]:
        try:
            raw = self._client().hgetall(keys.session_key(keys.session_id(self.session_key)))
        except RedisError as exc:
            return self._unavailable(exc)
        return self._decode(raw)

    async def aload(self) -> dict[str, Any]:
        try:
            raw = await self._aclient().hgetall(keys.session_key(keys.session_id(self.session_key)))
        except RedisError as exc:
            return self._unavailable(exc)
        return self._decode(raw)

    def _unavailable(self, exc: Exception) -> dict[str, Any]:
        log.warning("session store unavailable, this request is anonymous: %s", exc)
        self.unavailable = True
        return {}

    def _decode(self, raw: dict[bytes, bytes]) -> dict[str, Any]:
        data = _loads(raw.get(b"data")) if raw else None
        if data is None:
            if raw:
                log.warning("session %s holds a payload that is not a JSON object; ignored",
                            keys.session_id(self.session_key))
            self._session_key = None  # absent, expired, revoked or corrupt: a new session if one is needed
            return {}
        seen = _text(raw.get(b"seen"))
        self._stored = Stored(uid=_text(raw.get(b"uid")), payload=raw[b"data"], seen=int(seen) if seen.isdigit() else 0,
                              ip=_text(raw.get(b"ip")))
        return data

    # -- save ----------------------------------------------------------------------------------

    def _plan(self, must_create: bool) -> _Write | None:
        """What to send for a save, or ``None`` when nothing needs sending.

        Four kinds of write: ``create`` and ``update`` (the script, with the
        payload), ``touch`` (the script, ``seen`` and the address only) when
        nothing changed but ``seen`` is a minute old or the address moved, and
        ``slide`` (a plain ``PEXPIRE``, which cannot create a key) otherwise:
        the common request.  All carry the user's list and the daily-active
        bit in the same pipeline.
        """
        if self.unavailable:
            # Writing blind could overwrite a session we could not read; a visitor created now would not be
            # the one the cookie names.  The middleware does not ask (nothing to slide); explicit saves fail.
            raise SessionStoreUnavailable("the session store (Redis) was unavailable when this session was read")
        data = self._get_session(no_load=must_create)
        payload = _dumps(data)
        stored = self._stored
        creating = must_create or self._must_create
        unchanged = stored is not None and payload == stored.payload and not self._doomed
        if unchanged and self._written:
            return None  # already written during this request
        now = _now_ms()
        ttl_ms = max(1, self.get_expiry_age()) * 1000
        deadline = now + ttl_ms
        uid = str(data.get(SESSION_KEY) or "")
        uid = uid if uid.isdigit() else ""
        previous_uid = stored.uid if stored else ""
        sid = keys.session_id(self.session_key)
        name = keys.session_key(sid)
        client = self.client_info
        ip = client.ip[:64] if client is not None else (stored.ip if stored else "")

        if creating:
            mode = "create"
        elif not unchanged:
            mode = "update"
        elif now - stored.seen < SEEN_RESOLUTION_MS and ip == stored.ip:  # type: ignore[union-attr]
            mode = "slide"
        else:
            mode = "touch"

        fields: list[Any] = []
        if mode in ("create", "update"):
            fields += ["data", payload, "uid", uid]
        if client is not None and mode != "slide":
            fields += ["ip", ip]
            if mode == "create" or uid != previous_uid:  # a new session, or a login: the device it is on
                fields += ["ua", client.user_agent[:MAX_USER_AGENT]]

        ops: list[Callable[[Any], Any]] = []
        if mode == "slide":
            ops.append(lambda p: p.pexpire(name, ttl_ms))  # a no-op on a key revoked meanwhile: never recreates
        for doomed_sid, doomed_uid in self._doomed:
            ops.append(lambda p, s=doomed_sid: p.delete(keys.session_key(s)))
            if doomed_uid:
                ops.append(lambda p, s=doomed_sid, u=doomed_uid: p.zrem(keys.user_sessions_key(int(u)), s))
        if previous_uid and previous_uid != uid and not creating:
            ops.append(lambda p: p.zrem(keys.user_sessions_key(int(previous_uid)), sid))
        if uid:
            index = keys.user_sessions_key(int(uid))
            if creating or uid != previous_uid:  # newly listed (a login): the list gets its TTL here
                ops.append(lambda p: p.zadd(index, {sid: deadline}))
                ops.append(lambda p: p.pexpireat(index, deadline, nx=True))
            else:  # XX: a session revoked meanwhile (ZREM) is not put back in the list
                ops.append(lambda p: p.zadd(index, {sid: deadline}, xx=True))
            if mode != "slide":
                ops.append(lambda p: p.zremrangebyscore(index, "-inf", now))  # lazy cleanup of expired members
            ops.append(lambda p: p.pexpireat(index, deadline, gt=True))  # the list outlives its newest session
            ops.append(lambda p: activity_mark(p, user_id=int(uid)))
        seen = stored.seen if mode == "slide" and stored else now
        return _Write(key=name, mode=mode, args=[mode, ttl_ms, now, *fields], ops=ops,
                      stored=Stored(uid=uid, payload=payload, seen=seen, ip=ip))

    def _done(self, write: _Write, written: int) -> None:
        if not written:
            if write.mode == "create":
                raise CreateError
            if write.mode == "update":
                raise UpdateError  # revoked or expired while this request ran (Django answers 400)
            return  # a refresh of a session revoked meanwhile: nothing to keep alive
        self._stored = write.stored
        self._doomed = []
        self._must_create = False
        self._written = True

    def save(self, must_create: bool = False) -> None:
        if self.session_key is not None and not must_create:
            self._get_session()  # loads if needed; a session that vanished meanwhile is created anew
        if self.session_key is None:
            return self.create()
        write = self._plan(must_create)
        if write is None:
            return None
        client = self._client()
        pipe = client.pipeline(transaction=False)
        if write.mode == "slide":
            for op in write.ops:
                op(pipe)
            replies = pipe.execute()
        else:
            scripts = loader("sessions_app")
            scripts.queue(client, pipe, "session_save", keys=[write.key], args=write.args)
            for op in write.ops:
                op(pipe)
            replies = scripts.execute(client, pipe)
        self._done(write, int(replies[0]))
        return None

    async def asave(self, must_create: bool = False) -> None:
        if self.session_key is not None and not must_create:
            await self._aget_session()
        if self.session_key is None:
            return await self.acreate()
        write = self._plan(must_create)
        if write is None:
            return None
        client = self._aclient()
        script = loader("sessions_app")["session_save"]
        for attempt in (1, 2):
            pipe = client.pipeline(transaction=False)
            if write.mode != "slide":
                pipe.evalsha(script.sha, 1, write.key, *write.args)
            for op in write.ops:
                op(pipe)
            replies = await pipe.execute(raise_on_error=False)
            if isinstance(replies[0], NoScriptError) and attempt == 1:
                # The server forgot the script (restart, failover): load it and send the pipeline again;
                # every other command in it is idempotent.
                await client.script_load(script.source)
                continue
            break
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        self._done(write, int(replies[0]))
        return None

    def create(self) -> None:
        for _ in range(10):
            self._session_key = self._get_new_session_key()
            try:
                self.save(must_create=True)
            except CreateError:
                continue
            except RedisError:
                self._session_key = None  # nothing was stored: no key to hand out
                raise
            self.modified = True
            return
        raise RuntimeError("could not draw an unused session key in 10 tries")

    async def acreate(self) -> None:
        for _ in range(10):
            self._session_key = await self._aget_new_session_key()
            try:
                await self.asave(must_create=True)
            except CreateError:
                continue
            except RedisError:
                self._session_key = None
                raise
            self.modified = True
            return
        raise RuntimeError("could not draw an unused session key in 10 tries")

    # -- new key at login --------------------------------------------------------------------------

    def cycle_key(self) -> None:
        """A new session key for the same data; the old hash goes in the next save's round trip."""
        data = self._session
        self._cycle(data)

    async def acycle_key(self) -> None:
        data = await self._aget_session()
        self._cycle(data)

    def _cycle(self, data: dict[str, Any]) -> None:
        old = self.session_key
        if old and self._stored is not None:
            self._doomed.append((keys.session_id(old), self._stored.uid))
        self.previous_session_key = old
        self._session_key = self._get_new_session_key()
        self._session_cache = data
        self._stored = None
        self._must_create = True
        self.modified = True

    # -- delete ----------------------------------------------------------------------------------

    def _delete_plan(self, session_key: str | None) -> tuple[list[tuple[str, str | None]], bool]:
        """(session id, uid or None when unknown) pairs to delete, and whether the current one is among them."""
        targets: list[tuple[str, str | None]] = [(sid, uid) for sid, uid in self._doomed]
        own = session_key is None
        if own:
            if self.session_key is None:
                return targets, True
            session_key = self.session_key
        assert session_key is not None
        known = self._stored.uid if (own and self._stored is not None) else None
        targets.append((keys.session_id(session_key), known))
        return targets, own

    @staticmethod
    def _queue_delete(pipe: Any, targets: list[tuple[str, str | None]]) -> None:
        for sid, uid in targets:
            if uid is None:
                pipe.hget(keys.session_key(sid), "uid")  # owner unknown here: read it with the delete
            pipe.delete(keys.session_key(sid))
            if uid:
                pipe.zrem(keys.user_sessions_key(int(uid)), sid)

    def _unlisted(self, targets: list[tuple[str, str | None]], replies: list[Any], own: bool) -> list[tuple[str, str]]:
        """(index key, session id) pairs still to remove: the owners that had to be read first."""
        out, i = [], 0
        for sid, uid in targets:
            if uid is None:
                owner = _text(replies[i])
                if owner.isdigit():
                    out.append((keys.user_sessions_key(int(owner)), sid))
                i += 2
            else:
                i += 2 if uid else 1
        self._doomed = []
        if own:
            self._stored = None
        return out

    def delete(self, session_key: str | None = None) -> None:
        targets, own = self._delete_plan(session_key)
        if not targets:
            return
        client = self._client()
        pipe = client.pipeline(transaction=False)
        self._queue_delete(pipe, targets)
        unlisted = self._unlisted(targets, pipe.execute(), own)
        if unlisted:  # a second round trip only when the owner was not known
            pipe = client.pipeline(transaction=False)
            for index, sid in unlisted:
                pipe.zrem(index, sid)
            pipe.execute()

    async def adelete(self, session_key: str | None = None) -> None:
        targets, own = self._delete_plan(session_key)
        if not targets:
            return
        client = self._aclient()
        pipe = client.pipeline(transaction=False)
        self._queue_delete(pipe, targets)
        unlisted = self._unlisted(targets, await pipe.execute(), own)
        if unlisted:
            pipe = client.pipeline(transaction=False)
            for index, sid in unlisted:
                pipe.zrem(index, sid)
            await pipe.execute()

    # -- exists, expiry ------------------------------------------------------------------------------

    def exists(self, session_key: str) -> bool:
        return bool(session_key) and bool(self._client().exists(keys.session_key(keys.session_id(session_key))))

    async def aexists(self, session_key: str) -> bool:
        return bool(session_key) and bool(
            await self._aclient().exists(keys.session_key(keys.session_id(session_key))))

    @classmethod
    def clear_expired(cls) -> None:
        """Nothing to do: Redis expires each session hash itself (``PEXPIRE``), and saves trim the user lists."""

    @classmethod
    async def aclear_expired(cls) -> None:
        """See ``clear_expired``."""
