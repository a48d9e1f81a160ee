"""The running keyspace against the key registry: counts by family, the no-TTL report, big keys.

One sampling pass (``sample_keyspace``) reads up to ``limit`` keys of this
deployment with ``SCAN MATCH <prefix>:* COUNT 1000`` and, per batch of 500
keys, two pipelined round trips: ``TYPE`` + ``PTTL`` + ``MEMORY USAGE``, then
the element count for the key's type (``STRLEN``, ``HLEN``, ``LLEN``,
``SCARD``, ``ZCARD``, ``XLEN``).  Each key is matched to its family with
``config.keyspace.family_of``; the reports are views of that one sample:

- **counts by family** (and the keys no family declares);
- **no-TTL report**: keys of a family declared to expire that have no TTL
  (a cache entry written with ``SET`` and no ``EX``: memory that only grows);
- **type mismatches**: a key whose Redis type is not its family's;
- **big keys**: the largest by ``MEMORY USAGE``, with their element counts
  (what ``redis-cli --bigkeys``/``--memkeys`` does, without blocking: one
  SCAN step at a time).

On a server with more keys than ``limit`` the reports are a sample: they say
how many keys they looked at out of ``DBSIZE``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from config.keyspace import KeyFamily, families, family_of
from config.redis import get_ops_redis, redis_config

LENGTH_COMMAND = {"string": "STRLEN", "hash": "HLEN", "list": "LLEN", "set": "SCARD", "zset": "ZCARD",
                  "stream": "XLEN"}
BATCH = 500


@dataclass
class KeySample:
    name: str
    family: KeyFamily | None
    type: str
    ttl_ms: int
    memory: int | None
    length: int | None


@dataclass
class FamilyCount:
    family: KeyFamily
    keys: int = 0
    memory: int = 0
    no_ttl: int = 0
    wrong_type: int = 0


@dataclass
class Audit:
    """One sampling pass and the reports read from it."""

    samples: list[KeySample]
    dbsize: int
    complete: bool  # the SCAN reached the end (every key of the deployment was looked at)
    match: str
    by_family: dict[str, FamilyCount] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for fam in families():
            if fam.type != "channel":
                self.by_family[fam.pattern] = FamilyCount(fam)
        for s in self.samples:
            if s.family is None:
                continue
            count = self.by_family.setdefault(s.family.pattern, FamilyCount(s.family))
            count.keys += 1
            count.memory += s.memory or 0
            if s.ttl_ms == -1:
                count.no_ttl += 1
            if s.type != s.family.type:
                count.wrong_type += 1

    @property
    def undeclared(self) -> list[KeySample]:
        """Keys that no family declares."""
        return [s for s in self.samples if s.family is None]

    @property
    def no_ttl(self) -> list[KeySample]:
        """Keys of families declared to expire that have no TTL."""
        return [s for s in self.samples if s.family is not None and s.family.expires and s.ttl_ms == -1]

    @property
    def wrong_type(self) -> list[KeySample]:
        return [s for s in self.samples if s.family is not None and s.type != s.family.type]

    def big_keys(self, n: int = 20) -> list[KeySample]:
        """The ``n`` largest sampled keys by ``MEMORY USAGE``."""
        return sorted(self.samples, key=lambda s: s.memory or 0, reverse=True)[:n]


def deployment_match() -> str:
    """``SCAN MATCH`` for this deployment's keys: ``<prefix>:*``, or ``*`` without a prefix."""
    from ops.selectors import escape_glob

    prefix = redis_config().key_prefix
    return f"{escape_glob(prefix)}:*" if prefix else "*"


def sample_keyspace(limit: int = 20_000, *, client: Any = None, match: str | None = None,
                    progress: Callable[[int], None] | None = None) -> Audit:
    """Sample up to ``limit`` keys of the deployment (see the module docstring for the commands)."""
    client = client or get_ops_redis()
    match = match or deployment_match()
    prefix = redis_config().key_prefix
    dbsize = int(client.dbsize())
    names: list[str] = []
    cursor = 0
    samples: list[KeySample] = []
    while True:
        cursor, batch = client.scan(cursor=cursor, match=match, count=1000)
        names.extend(batch)
        if len(names) >= BATCH or cursor == 0:
            take = names[: limit - len(samples)]
            samples.extend(_describe(client, take, prefix))
            if progress:
                progress(len(take))
            names = []
        if cursor == 0 or len(samples) >= limit:
            break
    return Audit(samples=samples, dbsize=dbsize, complete=cursor == 0, match=match)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _describe(client: Any, names: list[str], prefix: str) -> list[KeySample]:
    if not names:
        return []
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.type(name)
        pipe.pttl(name)
        pipe.memory_usage(name)
    first = pipe.execute(raise_on_error=False)
    pipe = client.pipeline(transaction=False)
    kinds = []
    for i, name in enumerate(names):
        kind = _text(first[3 * i])
        kinds.append(kind)
        if kind in LENGTH_COMMAND:
            pipe.execute_command(LENGTH_COMMAND[kind], name)
    lengths = iter(pipe.execute(raise_on_error=False))
    out = []
    for i, name in enumerate(names):
        kind = kinds[i]
        if kind == "none":
            continue  # expired or deleted since SCAN returned it
        length = next(lengths) if kind in LENGTH_COMMAND else None
        pttl, memory = first[3 * i + 1], first[3 * i + 2]
        text = _text(name)
        out.append(KeySample(name=text, family=family_of(text, prefix=prefix), type=kind,
                             ttl_ms=pttl if isinstance(pttl, int) else -2,
                             memory=memory if isinstance(memory, int) else None,
                             length=length if isinstance(length, int) else None))
    return out
