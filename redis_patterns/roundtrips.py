"""Round trips: the same reads one by one, pipelined, and as one command.

Pattern
    Every command sent on its own costs a network round trip; on loopback
    that is ~25-130 µs, across a data centre 0.2-1 ms, so 20 sequential GETs
    cost 20 times that before Redis does any work.  A pipeline writes all
    commands at once and reads all replies after: one round trip, N commands.
    A multi-key command (``MGET``) is one round trip *and* one command, the
    cheapest of all when one exists for what you need.

Guarantees
    A pipeline (``transaction=False``) is not atomic: other clients' commands
    may interleave.  ``transaction=True`` wraps it in ``MULTI``/``EXEC``
    (still one round trip) when the batch must apply all-or-nothing.

Cluster
    ``MGET`` needs all its keys in one hash slot: the demo's keys share the
    ``{rt}`` hash tag.  A cluster pipeline is split per node by redis-py:
    one round trip per node touched.

Commands: `GET <https://redis.io/docs/latest/commands/get/>`_,
`MGET <https://redis.io/docs/latest/commands/mget/>`_,
`SET <https://redis.io/docs/latest/commands/set/>`_.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def read_one_by_one(client: Any, keys: Sequence[str]) -> list[Any]:
    """N commands, N round trips: the "before" half of the comparison."""
    return [client.get(k) for k in keys]


def read_pipelined(client: Any, keys: Sequence[str]) -> list[Any]:
    """N commands, 1 round trip."""
    pipe = client.pipeline(transaction=False)
    for k in keys:
        pipe.get(k)
    return pipe.execute()


def read_mget(client: Any, keys: Sequence[str]) -> list[Any]:
    """1 command, 1 round trip (keys must share a hash slot on a Cluster)."""
    return client.mget(keys)


def write_with_ttl(client: Any, values: Mapping[str, Any], ttl_seconds: int) -> None:
    """Write many keys, each with its TTL in the same ``SET ... EX``: 1 round trip."""
    pipe = client.pipeline(transaction=False)
    for k, v in values.items():
        pipe.set(k, v, ex=ttl_seconds)
    pipe.execute()
