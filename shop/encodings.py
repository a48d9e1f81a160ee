"""How Redis stores each demo key: ``OBJECT ENCODING``, ``MEMORY USAGE`` and the thresholds between (course 3).

Every type has a compact encoding for small values and a general one past a
threshold (a ``*-max-*`` setting); crossing it converts the key once, for
good, and its memory per element jumps.  The pages show each demo key's
encoding and size next to it (``key_report``), and ``/shop/encodings/``
grows scratch keys to just below and just past each threshold
(``encodings_demo``).

===========  ==============================  ===========================================================
type         compact -> general              threshold (default)
===========  ==============================  ===========================================================
string       int / embstr -> raw             an integer fits a long; embstr up to 44 bytes
list         listpack -> quicklist           ``list-max-listpack-size`` -2 (8 KB) (Redis 7.2+; 7.0: always quicklist)
set          intset -> hashtable             ``set-max-intset-entries`` 512 integers
set          listpack -> hashtable           ``set-max-listpack-entries`` 128 / ``-value`` 64 bytes (Redis 7.2+)
sorted set   listpack -> skiplist            ``zset-max-listpack-entries`` 128 / ``-value`` 64 bytes
hash         listpack -> hashtable           ``hash-max-listpack-entries`` 512 / ``-value`` 64 bytes
HyperLogLog  sparse -> dense (12 KB)         ``hll-sparse-max-bytes`` 3000 (``OBJECT ENCODING`` says raw)
===========  ==============================  ===========================================================

Round trips: ``key_report`` 1 for any number of keys; the demo 2 (fill, then report).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from config.redis import get_ops_redis, get_redis
from shop import keys

DEMO_TTL = 300
SETTINGS = ("list-max-listpack-size", "set-max-intset-entries", "set-max-listpack-entries",
            "zset-max-listpack-entries", "zset-max-listpack-value", "hash-max-listpack-entries",
            "hash-max-listpack-value", "hll-sparse-max-bytes")
DEFAULTS = {"list-max-listpack-size": "-2", "set-max-intset-entries": "512", "set-max-listpack-entries": "128",
            "zset-max-listpack-entries": "128", "zset-max-listpack-value": "64", "hash-max-listpack-entries": "512",
            "hash-max-listpack-value": "64", "hll-sparse-max-bytes": "3000"}
#: What each encoding means, for the table's tooltip.
NOTES = {
    "int": "a 64-bit integer stored in the key object itself",
    "embstr": "a short string (<= 44 bytes) allocated with its key object",
    "raw": "a string with its own allocation (HyperLogLogs are raw strings too)",
    "listpack": "one contiguous block, scanned linearly: compact while small",
    "quicklist": "a linked list of listpack nodes",
    "intset": "a sorted array of integers (binary search)",
    "hashtable": "a real hash table: O(1) at ~50+ bytes per element",
    "skiplist": "a skip list plus a hash table: O(log N) ranks and ranges",
}


@dataclass(frozen=True)
class KeyReport:
    key: str
    type: str
    encoding: str | None
    memory: int | None
    length: int | None
    ttl_s: float | None  # None: no TTL; -2 never reported (missing keys are left out)

    @property
    def note(self) -> str:
        return NOTES.get(self.encoding or "", "")


def _length(pipe: Any, redis_type: str, name: str) -> None:
    cmd = {"string": pipe.strlen, "list": pipe.llen, "set": pipe.scard, "zset": pipe.zcard, "hash": pipe.hlen}
    (cmd.get(redis_type) or pipe.exists)(name)


def key_report(names: list[str], *, client: Any = None) -> list[KeyReport]:
    """``TYPE``, ``OBJECT ENCODING``, ``MEMORY USAGE``, length and ``PTTL`` of each key that exists.

    Two pipelined round trips: the types, then the rest (the length command
    depends on the type).
    """
    client = client or get_redis()
    if not names:
        return []
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.type(name)
    types = pipe.execute()
    present = [(n, t) for n, t in zip(names, types, strict=True) if t != "none"]
    if not present:
        return []
    pipe = client.pipeline(transaction=False)
    for name, redis_type in present:
        pipe.object("encoding", name)
        pipe.memory_usage(name)
        _length(pipe, redis_type, name)
        pipe.pttl(name)
    replies = pipe.execute(raise_on_error=False)
    out = []
    for i, (name, redis_type) in enumerate(present):
        encoding, memory, length, pttl = replies[4 * i: 4 * i + 4]
        out.append(KeyReport(name, redis_type, None if isinstance(encoding, Exception) else encoding,
                             None if isinstance(memory, Exception) else memory,
                             None if isinstance(length, Exception) else int(length),
                             pttl / 1000 if isinstance(pttl, int) and pttl >= 0 else None))
    return out


def thresholds(*, client: Any = None) -> dict[str, dict[str, str]]:
    """The server's thresholds (``CONFIG GET``), or the defaults when the ACL refuses ``CONFIG``.

    Read as the operations user (``config.redis.get_ops_redis``): the app user is never granted
    ``CONFIG``, and a fixed ``CONFIG GET *-max-*`` reveals nothing secret.
    """
    client = client or get_ops_redis()
    try:
        found = client.config_get("*-max-*")
        source = "server"
    except ResponseError:
        found, source = {}, "default (CONFIG GET refused)"
    return {name: {"value": str(found.get(name, DEFAULTS[name])), "source": source if name in found else "default"}
            for name in SETTINGS}


def _threshold(found: dict[str, dict[str, str]], name: str) -> int:
    try:
        return int(found[name]["value"])
    except (KeyError, ValueError):
        return int(DEFAULTS[name])


def _variants(found: dict[str, dict[str, str]]) -> list[tuple[str, str, str, Any]]:
    """(type, variant, what it shows, how to fill it): each pair sits on either side of this server's threshold."""
    ints = _threshold(found, "set-max-intset-entries")
    words = _threshold(found, "set-max-listpack-entries")
    zset = _threshold(found, "zset-max-listpack-entries")
    hashes = _threshold(found, "hash-max-listpack-entries")
    value = _threshold(found, "hash-max-listpack-value")
    return [
        ("string", "int", "an integer", lambda p, k: p.set(k, 1234567, ex=DEMO_TTL)),
        ("string", "44-bytes", "44 bytes: the longest embstr", lambda p, k: p.set(k, "x" * 44, ex=DEMO_TTL)),
        ("string", "45-bytes", "45 bytes: raw", lambda p, k: p.set(k, "x" * 45, ex=DEMO_TTL)),
        ("list", "128-short", "128 short items", lambda p, k: p.rpush(k, *range(128))),
        ("list", "long-item", "one 9 KB item (past the 8 KB node)", lambda p, k: p.rpush(k, "x" * 9000)),
        ("set", "ints-at", f"{ints} integers", lambda p, k: p.sadd(k, *range(ints))),
        ("set", "ints-over", f"{ints + 1} integers", lambda p, k: p.sadd(k, *range(ints + 1))),
        ("set", "words-at", f"{words} short strings", lambda p, k: p.sadd(k, *(f"w{i}" for i in range(words)))),
        ("set", "words-over", f"{words + 1} short strings",
         lambda p, k: p.sadd(k, *(f"w{i}" for i in range(words + 1)))),
        ("zset", "at", f"{zset} members", lambda p, k: p.zadd(k, {f"m{i}": i for i in range(zset)})),
        ("zset", "over", f"{zset + 1} members", lambda p, k: p.zadd(k, {f"m{i}": i for i in range(zset + 1)})),
        ("hash", "at", f"{hashes} fields", lambda p, k: p.hset(k, mapping={f"f{i}": i for i in range(hashes)})),
        ("hash", "over", f"{hashes + 1} fields",
         lambda p, k: p.hset(k, mapping={f"f{i}": i for i in range(hashes + 1)})),
        ("hash", "long-value", f"3 fields, one value of {value + 1} bytes", lambda p, k: p.hset(
            k, mapping={"a": 1, "b": 2, "c": "x" * (value + 1)})),
        ("hll", "100", "100 distinct items", lambda p, k: p.pfadd(k, *(f"v{i}" for i in range(100)))),
        ("hll", "5000", "5,000 distinct items", lambda p, k: p.pfadd(k, *(f"v{i}" for i in range(5000)))),
    ]


def encodings_demo(*, client: Any = None) -> list[dict[str, Any]]:
    """Fill the scratch keys (one pipeline, each with its TTL), then report each one's encoding and memory."""
    client = client or get_redis()
    variants = _variants(thresholds())  # read as the operations user: see thresholds()
    pipe = client.pipeline(transaction=False)
    names = []
    for redis_type, variant, _, fill in variants:
        name = keys.encoding_demo(redis_type, variant)
        names.append(name)
        pipe.delete(name)
        fill(pipe, name)
        pipe.expire(name, DEMO_TTL)
    pipe.execute()
    reports = {r.key: r for r in key_report(names, client=client)}
    return [{"type": t, "variant": v, "what": what, "report": reports.get(n)}
            for (t, v, what, _), n in zip(variants, names, strict=True)]
