"""A bloom filter two ways with one interface: RedisBloom's ``BF.*``, or a bitmap and two Lua scripts.

Pattern
    A bloom filter answers "have I seen this item?" with *no* false
    negatives and a tunable rate of false positives, in a fixed amount of
    memory however long the items are: ``m`` bits and ``k`` hash functions;
    adding an item sets its ``k`` bits, checking it tests them.  Sized for
    ``capacity`` items at false-positive rate ``p``:
    ``m = -capacity * ln(p) / ln(2)^2`` bits and ``k = m / capacity * ln 2``
    (100,000 items at 1%: 958,506 bits = 117 KB, k = 7).  Past ``capacity``
    the rate climbs; RedisBloom then stacks a new sub-filter
    (``EXPANSION``), the core version does not (size it for the worst case).

Two implementations, one contract (``tests/redis_patterns/test_bloom.py``)
    - ``ModuleBloom``: ``BF.RESERVE key p capacity`` once, ``BF.ADD``,
      ``BF.EXISTS``, ``BF.MADD``, ``BF.MEXISTS`` (RedisBloom, in Redis Stack and
      Redis 8).
    - ``CoreBloom``: a plain string used as a bitmap.  The ``k`` positions are
      computed here (double hashing: ``h1 + i * h2 mod m`` from a BLAKE2b
      digest), and ``lua/bloom_add.lua`` sets them (``SETBIT`` x k, returning
      "was new" atomically) or ``lua/bloom_check.lua`` reads them
      (``GETBIT`` x k, stopping at the first 0).  ``false_positive_rate``
      measures the real rate, which the page shows beside the theory.

Round trips
    1 per call; ``add_many``/``exists_many`` 1 for any number of items.

Failure policy
    Redis errors propagate: "is this code taken?" must not answer "no" when
    it does not know.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import ResponseError

from redis_patterns.scripts import Scripts, loader


@dataclass(frozen=True)
class BloomSize:
    bits: int
    hashes: int

    @classmethod
    def for_capacity(cls, capacity: int, error_rate: float) -> BloomSize:
        bits = math.ceil(-capacity * math.log(error_rate) / math.log(2) ** 2)
        return cls(bits=bits, hashes=max(1, round(bits / capacity * math.log(2))))

    def expected_rate(self, items: int) -> float:
        """The false-positive rate theory predicts after ``items`` insertions: (1 - e^(-k n / m))^k."""
        return (1 - math.exp(-self.hashes * items / self.bits)) ** self.hashes


class Bloom(Protocol):
    """What both implementations offer."""

    kind: str
    capacity: int
    error_rate: float

    def add(self, item: str) -> bool: ...
    def add_many(self, items: Sequence[str]) -> list[bool]: ...
    def exists(self, item: str) -> bool: ...
    def exists_many(self, items: Sequence[str]) -> list[bool]: ...
    def info(self) -> dict[str, Any]: ...


class CoreBloom:
    """A bloom filter on a core Redis bitmap (see the module docstring)."""

    kind = "core"

    def __init__(self, client: Any, key: str, *, capacity: int, error_rate: float,
                 scripts: Scripts | None = None) -> None:
        self.client, self.key = client, key
        self.capacity, self.error_rate = capacity, error_rate
        self.size = BloomSize.for_capacity(capacity, error_rate)
        self.scripts = scripts or loader("redis_patterns")

    def positions(self, item: str) -> list[int]:
        """The item's ``k`` bit positions (double hashing)."""
        digest = hashlib.blake2b(item.encode(), digest_size=16).digest()
        h1, h2 = int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little") | 1
        return [(h1 + i * h2) % self.size.bits for i in range(self.size.hashes)]

    def add(self, item: str) -> bool:
        return bool(self.scripts.call(self.client, "bloom_add", keys=[self.key], args=self.positions(item)))

    def add_many(self, items: Sequence[str]) -> list[bool]:
        return self._many("bloom_add", items)

    def exists(self, item: str) -> bool:
        return bool(self.scripts.call(self.client, "bloom_check", keys=[self.key], args=self.positions(item)))

    def exists_many(self, items: Sequence[str]) -> list[bool]:
        return self._many("bloom_check", items)

    def _many(self, script: str, items: Sequence[str]) -> list[bool]:
        if not items:
            return []
        pipe = self.client.pipeline(transaction=False)
        for item in items:
            self.scripts.queue(self.client, pipe, script, keys=[self.key], args=self.positions(item))
        return [bool(r) for r in self.scripts.execute(self.client, pipe)]

    def info(self) -> dict[str, Any]:
        pipe = self.client.pipeline(transaction=False)
        pipe.bitcount(self.key)
        pipe.strlen(self.key)
        pipe.memory_usage(self.key)
        ones, length, memory = pipe.execute()
        fill = ones / self.size.bits
        return {"kind": self.kind, "bits": self.size.bits, "hashes": self.size.hashes, "bits_set": ones,
                "bytes": length, "memory": memory, "fill": fill,
                # The rate for the next check follows from how full the bitmap is: fill^k.
                "current_rate": fill ** self.size.hashes}


class ModuleBloom:
    """A bloom filter in RedisBloom (``BF.RESERVE`` on first use, then ``BF.ADD``/``BF.EXISTS``)."""

    kind = "module"

    def __init__(self, client: Any, key: str, *, capacity: int, error_rate: float) -> None:
        self.client, self.key = client, key
        self.capacity, self.error_rate = capacity, error_rate
        self._reserved = False

    def _reserve(self) -> None:
        if self._reserved:
            return
        try:
            self.client.execute_command("BF.RESERVE", self.key, self.error_rate, self.capacity)
        except ResponseError as exc:
            if "exists" not in str(exc).lower():
                raise
        self._reserved = True

    def add(self, item: str) -> bool:
        self._reserve()
        return bool(self.client.execute_command("BF.ADD", self.key, item))

    def add_many(self, items: Sequence[str]) -> list[bool]:
        if not items:
            return []
        self._reserve()
        return [bool(r) for r in self.client.execute_command("BF.MADD", self.key, *items)]

    def exists(self, item: str) -> bool:
        return bool(self.client.execute_command("BF.EXISTS", self.key, item))

    def exists_many(self, items: Sequence[str]) -> list[bool]:
        if not items:
            return []
        return [bool(r) for r in self.client.execute_command("BF.MEXISTS", self.key, *items)]

    def info(self) -> dict[str, Any]:
        try:
            raw = self.client.execute_command("BF.INFO", self.key)
        except ResponseError:
            return {"kind": self.kind, "items": 0, "memory": 0}
        if isinstance(raw, dict):
            fields = {str(k): v for k, v in raw.items()}
        else:
            fields = {str(raw[i]): raw[i + 1] for i in range(0, len(raw), 2)}
        return {"kind": self.kind, "capacity": fields.get("Capacity"), "memory": fields.get("Size"),
                "filters": fields.get("Number of filters"), "items": fields.get("Number of items inserted"),
                "expansion": fields.get("Expansion rate")}


def false_positive_rate(bloom: Bloom, *, probes: int = 10_000, exclude: Iterable[str] = ()) -> float:
    """Check ``probes`` random items never added (one round trip); the share the filter calls present."""
    known = set(exclude)
    items = [f"probe-{secrets.token_hex(8)}" for _ in range(probes)]
    items = [i for i in items if i not in known]
    hits = bloom.exists_many(items)
    return sum(hits) / len(items) if items else 0.0
