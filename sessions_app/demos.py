"""The sessions page's live comparison: one request's session load and save through each engine.

For each engine (this app's Redis engine, and Django's ``cache``,
``cached_db`` and ``db``, the first two through the django-redis cache
``sessions``) a throwaway session is created, then a "request" is replayed on
a fresh store object: read a value (load), change one (save).  Round trips
come from the command trace, queries from ``CaptureQueriesContext``, bytes
from ``MEMORY USAGE``.  Every session made here is deleted before returning.
``bench/sessions.py`` measures the same thing with timings and spreads.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.redis import get_redis
from redis_patterns.tracing import tracing
from sessions_app import keys

#: A payload the size of a logged-in visitor's (the auth fields under other names, so no user is involved).
DEMO_PAYLOAD = {"demo_user_id": "42", "demo_user_backend": "django.contrib.auth.backends.ModelBackend",
                "demo_user_hash": "0" * 64, "theme": "dark", "recent": [101, 202, 303]}


@dataclass(frozen=True)
class EngineRun:
    """What one request's session work cost with one engine."""

    backend: str
    load_round_trips: int
    load_queries: int
    save_round_trips: int
    save_queries: int
    redis_bytes: int | None  # MEMORY USAGE of what the engine keeps in Redis (None: nothing there)
    redis_encoding: str  # OBJECT ENCODING of it ("" when nothing is in Redis)
    redis_key: str  # the key name as stored (session keys elided)


def store_class(backend: str) -> type:
    """The ``SessionStore`` of one engine (``settings.SESSION_ENGINES``), whatever the site uses."""
    return import_module(settings.SESSION_ENGINES[backend]).SessionStore


def _redis_key(backend: str, session_key: str, store: object) -> str | None:
    if backend == "redis":
        return keys.session_key(keys.session_id(session_key))
    if backend in ("cache", "cached_db"):
        return str(caches[settings.SESSION_CACHE_ALIAS].make_key(store.cache_key_prefix + session_key))  # type: ignore[attr-defined]
    return None


def engine_run(backend: str) -> EngineRun:
    """Create a session, replay one request's load and save on it, measure, delete it."""
    store_cls = store_class(backend)
    setup = store_cls()
    setup.update(DEMO_PAYLOAD)
    setup.create()
    setup.update(DEMO_PAYLOAD)
    setup.save()
    session_key = setup.session_key
    try:
        request = store_cls(session_key)
        with tracing("load") as load_trace, CaptureQueriesContext(connection) as load_queries:
            request.get("theme")
        with tracing("save") as save_trace, CaptureQueriesContext(connection) as save_queries:
            request["theme"] = "light"
            request.save()
        name = _redis_key(backend, session_key, request)
        size, encoding = None, ""
        if name:
            pipe = get_redis().pipeline(transaction=False)
            pipe.memory_usage(name)
            pipe.object("encoding", name)
            size, encoding = pipe.execute()
        shown = (name or "").replace(session_key, "<session key>")
        return EngineRun(backend=backend, load_round_trips=load_trace.round_trip_count,
                         load_queries=len(load_queries), save_round_trips=save_trace.round_trip_count,
                         save_queries=len(save_queries), redis_bytes=size, redis_encoding=encoding or "",
                         redis_key=shown)
    finally:
        store_cls(session_key).delete()


def engines_compare() -> list[EngineRun]:
    """``engine_run`` for every engine, this app's first."""
    return [engine_run(backend) for backend in settings.SESSION_ENGINES]
