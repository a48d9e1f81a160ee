"""Write-behind counters: count in Redis now, apply to the database in batches later.

Pattern
    Each event is one ``HINCRBY pending <id> 1`` (microseconds, no database
    write).  A periodic flush moves the whole pending hash aside with an
    atomic ``RENAME`` inside a script (``lua/claim_batch.lua``), registers
    the batch in an in-flight sorted set, applies the batch to the database,
    and only then deletes it.

Guarantee: every increment is applied exactly once
    - Not lost: an increment lands either in the claimed batch or in the new
      pending hash (``RENAME`` is atomic); a flusher that dies after claiming
      leaves its batch registered, and the next flush picks up batches older
      than ``lease`` seconds.
    - Not counted twice: applying a batch records its id in the database in
      the *same transaction* as the increments (a unique row; see
      ``shop.models.ViewCountFlush``).  A second flusher applying the same
      batch (two flushes racing, or a recovery of a batch whose flusher died
      after its commit) hits the unique constraint and rolls back.
    The database marker is the one part that cannot live in Redis: only the
    database knows whether its own transaction committed.

Commands
    `HINCRBY <https://redis.io/docs/latest/commands/hincrby/>`_,
    `RENAME <https://redis.io/docs/latest/commands/rename/>`_ (in a script with
    `EXISTS`, `PEXPIRE`, `ZADD <https://redis.io/docs/latest/commands/zadd/>`_),
    `ZRANGEBYSCORE <https://redis.io/docs/latest/commands/zrangebyscore/>`_,
    `HGETALL <https://redis.io/docs/latest/commands/hgetall/>`_,
    `DEL`/`ZREM` in `MULTI`.  All keys share one ``{hash tag}`` (Cluster-safe).

Round trips
    record: 1 (or 0 extra when queued on the caller's pipeline) · claim: 1 ·
    orphans: 1 · read batch: 1 · release: 1.

Failure policy
    Redis down while recording: the caller decides (the shop writes the
    increment straight to the database instead).  Redis down during a flush:
    the flush raises and the next run retries; nothing is lost or doubled.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis_patterns.scripts import Scripts

BATCH_TTL_MS = 7 * 24 * 3600 * 1000  # a safety net: a batch nobody applied for a week is dropped


@dataclass(frozen=True)
class CounterKeys:
    """The three keys of one counter family; build them with one shared ``{hash tag}``."""

    pending: str                          # HASH id -> count not yet claimed
    batches: str                          # ZSET batch key -> claim time (ms)
    batch: Callable[[str], str]           # batch id -> HASH key of a claimed batch


def record(client_or_pipe: Any, keys: CounterKeys, member: str | int, amount: int = 1) -> Any:
    """Count ``amount`` for ``member`` (``HINCRBY``); returns the pending count (or the pipe)."""
    return client_or_pipe.hincrby(keys.pending, str(member), amount)


def claim(client: Any, scripts: Scripts, keys: CounterKeys, *, now_ms: int | None = None) -> str | None:
    """Move the pending counts into a new batch; its key, or ``None`` if nothing was pending."""
    batch_key = keys.batch(secrets.token_hex(8))
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    claimed = scripts.call(client, "claim_batch", keys=[keys.pending, batch_key, keys.batches],
                           args=[now_ms, BATCH_TTL_MS])
    return batch_key if claimed else None


def orphans(client: Any, keys: CounterKeys, *, lease_ms: int, now_ms: int | None = None) -> list[str]:
    """Batches claimed more than ``lease_ms`` ago and still not released (their flusher died)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    return list(client.zrangebyscore(keys.batches, "-inf", now_ms - lease_ms))


def read(client: Any, batch_key: str) -> dict[str, int]:
    """The counts of a claimed batch."""
    return {str(k if isinstance(k, str) else k.decode()): int(v) for k, v in client.hgetall(batch_key).items()}


def release(client: Any, keys: CounterKeys, batch_key: str) -> None:
    """Forget an applied batch (``DEL`` + ``ZREM`` in one ``MULTI``)."""
    pipe = client.pipeline(transaction=True)
    pipe.delete(batch_key)
    pipe.zrem(keys.batches, batch_key)
    pipe.execute()


def pending(client: Any, keys: CounterKeys, member: str | int) -> int:
    """Counts for ``member`` not yet applied (pending only; claimed batches are moments from the database)."""
    value = client.hget(keys.pending, str(member))
    return int(value) if value else 0
