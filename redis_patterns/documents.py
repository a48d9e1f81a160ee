"""An object as a document two ways with one interface: RedisJSON's ``JSON.*``, or a hash of JSON paths.

- ``JsonDocuments`` (RedisJSON): ``JSON.SET key $ <json>`` stores the whole
  nested object; ``JSON.GET key $.price $.category.name`` reads only those
  paths; ``JSON.NUMINCRBY key $.stock -1`` changes a number in place.
- ``HashDocuments`` (core Redis): the object flattened to one hash field per
  leaf path (``category.name``), each value JSON-encoded so types survive
  (``"Nordic Desk"``, ``12``, ``["eco"]``); ``HMGET`` reads paths,
  ``HINCRBY``/``HINCRBYFLOAT`` change numbers.  Lists stay whole (one field).
  Nested reads and writes work; what it lacks is querying inside arrays and
  JSONPath filters.

Both set the document's TTL in the same ``MULTI`` that writes it.
Round trips: 1 per call.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from redis.exceptions import ResponseError


def flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}`` (leaves JSON-encoded; lists kept whole)."""
    out: dict[str, str] = {}
    for name, value in doc.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, path + "."))
        else:
            out[path] = json.dumps(value, separators=(",", ":"))
    return out


def unflatten(fields: dict[str, str]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for path, raw in fields.items():
        node = doc
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = json.loads(raw)
    return doc


class Documents(Protocol):
    kind: str

    def put(self, key: str, doc: dict[str, Any], *, ttl: int) -> None: ...
    def get(self, key: str, paths: list[str] | None = None) -> dict[str, Any] | None: ...
    def incr(self, key: str, path: str, by: int | float) -> int | float | None: ...


class HashDocuments:
    kind = "core"

    def __init__(self, client: Any) -> None:
        self.client = client

    def put(self, key: str, doc: dict[str, Any], *, ttl: int) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(key)  # a field the new version no longer has must not survive
        pipe.hset(key, mapping=flatten(doc))
        pipe.expire(key, ttl)
        pipe.execute()

    def get(self, key: str, paths: list[str] | None = None) -> dict[str, Any] | None:
        if paths is None:
            fields = self.client.hgetall(key)
            return unflatten(fields) if fields else None
        values = self.client.hmget(key, paths)
        if all(v is None for v in values) and not self.client.exists(key):
            return None
        return {p: json.loads(v) if v is not None else None for p, v in zip(paths, values, strict=True)}

    def incr(self, key: str, path: str, by: int | float) -> int | float | None:
        if not self.client.hexists(key, path):
            return None
        if isinstance(by, int):
            return int(self.client.hincrby(key, path, by))
        return float(self.client.hincrbyfloat(key, path, by))


class JsonDocuments:
    kind = "module"

    def __init__(self, client: Any) -> None:
        self.client = client

    def put(self, key: str, doc: dict[str, Any], *, ttl: int) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.execute_command("JSON.SET", key, "$", json.dumps(doc, separators=(",", ":")))
        pipe.expire(key, ttl)
        pipe.execute()

    def get(self, key: str, paths: list[str] | None = None) -> dict[str, Any] | None:
        if paths is None:
            raw = self.client.execute_command("JSON.GET", key, "$")
            return json.loads(raw)[0] if raw else None
        raw = self.client.execute_command("JSON.GET", key, *(f"$.{p}" for p in paths))
        if raw is None:
            return None
        found = json.loads(raw)
        if len(paths) == 1:  # one path: a bare array of matches
            found = {f"$.{paths[0]}": found}
        return {p: (found.get(f"$.{p}") or [None])[0] for p in paths}

    def incr(self, key: str, path: str, by: int | float) -> int | float | None:
        try:
            raw = self.client.execute_command("JSON.NUMINCRBY", key, f"$.{path}", by)
        except ResponseError:  # no such document
            return None
        values = json.loads(raw) if raw else []
        return values[0] if values else None
