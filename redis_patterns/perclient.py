"""A value per Redis client object, kept while the client lives: what a process learnt about its server.

Features a server may lack (``hashttl``: hash-field TTL; ``zrank``:
``ZREVRANK ... WITHSCORE``) are found out by trying, once per client, and
remembered here.  Per client, not per process: one process may talk to two
servers (the app's and a scratch one) of different releases.

Keyed by ``id(client)``, with a ``weakref.finalize`` on the client that drops
its value when it is collected (so a later client at the same address starts
afresh).  A lookup is one dict ``get``: a ``WeakKeyDictionary`` builds a weak
reference on every lookup, about a microsecond, and ``zrank`` looks up on
every rank read.  Each operation is one dict operation (atomic under the
GIL); registering the finalizer takes a lock so a client gets exactly one.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class PerClient(Generic[T]):
    """``get`` / ``set`` / ``forget`` a value per client object."""

    def __init__(self) -> None:
        self._values: dict[int, T] = {}
        self._watched: set[int] = set()  # clients with a finalizer registered
        self._lock = threading.Lock()

    def get(self, client: Any) -> T | None:
        """The value for ``client``, or ``None`` before one was set (or after ``forget``)."""
        return self._values.get(id(client))

    def set(self, client: Any, value: T) -> None:
        key = id(client)
        if key not in self._watched:
            with self._lock:
                if key not in self._watched:
                    self._watched.add(key)
                    weakref.finalize(client, self._drop, key)
        self._values[key] = value

    def forget(self, client: Any = None) -> None:
        """Drop the value for ``client``, or every value (the next lookup finds out again)."""
        if client is None:
            self._values.clear()
        else:
            self._values.pop(id(client), None)

    def holds(self, client_id: int) -> bool:
        """Whether a value is kept under ``client_id`` (``id(client)``: for tests, after the client is gone)."""
        return client_id in self._values

    def _drop(self, key: int) -> None:
        with self._lock:
            self._values.pop(key, None)
            self._watched.discard(key)
