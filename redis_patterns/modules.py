"""Which Redis Stack modules the server has, asked once per client with ``MODULE LIST``.

Redis Stack (and Redis 8, which ships them built in) add data types as
modules: RedisBloom (``bf``), RedisJSON (``ReJSON``), RediSearch
(``search``) and RedisTimeSeries (``timeseries``).  Code that can use them
asks ``modules(client)`` once, then picks the module implementation or the
core-data-structure fallback with the same interface
(``redis_patterns.bloom``, ``timeseries``, ``search``, ``documents``).

Detection
    ``MODULE LIST`` returns each loaded module's name and version.  Redis 8
    reports its built-in modules the same way.  A server that refuses the
    command (an ACL user without ``+module|list``, a managed service that
    renames it) is treated as having none: the fallbacks always work, and
    ``Detected.reason`` says why the module path was not taken.  The answer
    is cached per client (a ``WeakKeyDictionary``), so a process asks once;
    ``forget(client)`` asks again (after a server change in tests).

Commands
    `MODULE LIST <https://redis.io/docs/latest/commands/module-list/>`_: 1 round trip, the first time only.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError, ResponseError

#: The module names ``MODULE LIST`` reports, by what they provide.
BLOOM = "bf"
JSON = "ReJSON"
SEARCH = "search"
TIMESERIES = "timeseries"
ALL = (BLOOM, JSON, SEARCH, TIMESERIES)


@dataclass(frozen=True)
class Detected:
    """The modules a server has (name -> version), or why none could be listed."""

    versions: dict[str, int] = field(default_factory=dict)
    reason: str = ""

    def has(self, name: str) -> bool:
        return name in self.versions

    def describe(self, name: str) -> str:
        """"module bf 20813" or "core fallback (<why>)" for the page that says which path runs."""
        if self.has(name):
            return f"module {name} {self.versions[name]}"
        return f"core fallback ({self.reason or f'the server has no {name} module'})"


_cache: weakref.WeakKeyDictionary[Any, Detected] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def detect(client: Any) -> Detected:
    """Ask the server (no cache): ``MODULE LIST`` once."""
    try:
        reply = client.execute_command("MODULE", "LIST")
    except ResponseError as exc:
        return Detected(reason=f"MODULE LIST refused: {exc}"[:160])
    versions: dict[str, int] = {}
    for entry in reply or []:
        if isinstance(entry, dict):
            info = {_text(k): v for k, v in entry.items()}
        else:  # RESP2: a flat list name, value, ver, value, ...
            info = {_text(entry[i]): entry[i + 1] for i in range(0, len(entry) - 1, 2)}
        name = _text(info.get("name", ""))
        if name:
            versions[name] = int(info.get("ver", 0))
    return Detected(versions=versions, reason="" if versions else "the server has no modules loaded")


def modules(client: Any) -> Detected:
    """The cached answer for ``client`` (``detect`` on first use).  Redis errors propagate (and are not cached)."""
    found = _cache.get(client)
    if found is None:
        found = detect(client)
        with _lock:
            _cache[client] = found
    return found


def forget(client: Any | None = None) -> None:
    """Ask again next time (one client, or all)."""
    with _lock:
        if client is None:
            _cache.clear()
        else:
            _cache.pop(client, None)


__all__ = ["ALL", "BLOOM", "JSON", "SEARCH", "TIMESERIES", "Detected", "RedisError", "detect", "forget", "modules"]
