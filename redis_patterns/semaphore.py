"""A counting semaphore with leases: at most N holders at once, and a dead holder's slot frees itself.

Pattern
    One sorted set per resource: member = holder id, score = when its lease
    ends (ms).  ``acquire`` prunes expired leases (``ZREMRANGEBYSCORE -inf
    now``), then adds the holder if fewer than N remain, all in one script
    (``lua/semaphore_acquire.lua``): two clients racing for the last slot
    cannot both get it.  A holder renews by acquiring again before its lease
    ends (it keeps its slot even when the set is full), and releases with
    ``ZREM``.  One that crashes without releasing frees its slot when the
    lease runs out: nothing has to clean up after it.  The key expires with
    its last lease (``PEXPIRE`` in the same script).

    Used by ``realtime/`` to cap WebSockets per client address: each socket is
    a holder, the lease is renewed by its heartbeats.

Guarantee
    Never more than N unexpired leases.  A holder that pauses longer than its
    lease (a stalled process) may lose its slot to another: check the result
    of each renewal.

Commands
    `ZREMRANGEBYSCORE <https://redis.io/docs/latest/commands/zremrangebyscore/>`_,
    `ZSCORE <https://redis.io/docs/latest/commands/zscore/>`_,
    `ZCARD <https://redis.io/docs/latest/commands/zcard/>`_,
    `ZADD <https://redis.io/docs/latest/commands/zadd/>`_,
    `PEXPIRE <https://redis.io/docs/latest/commands/pexpire/>`_ in one script
    (clock from ``TIME`` unless given ``now``); `ZREM
    <https://redis.io/docs/latest/commands/zrem/>`_ to release.

Round trips
    1 per acquire, renew or release.

Failure policy
    The caller decides: ``realtime/`` refuses a socket it cannot count (Redis
    down closes sockets anyway: events live there).
"""

from __future__ import annotations

from typing import Any


async def aacquire(client: Any, scripts: Any, key: str, holder: str, *, limit: int, lease_ms: int,
                   now: int | None = None) -> bool:
    """Take or renew ``holder``'s slot in ``key`` (``redis.asyncio``); ``False`` when all ``limit`` are held."""
    reply = await scripts.acall(client, "semaphore_acquire", keys=[key],
                                args=[holder, limit, lease_ms, "" if now is None else now])
    return bool(int(reply))


def acquire(client: Any, scripts: Any, key: str, holder: str, *, limit: int, lease_ms: int,
            now: int | None = None) -> bool:
    """``aacquire`` for a sync client."""
    reply = scripts.call(client, "semaphore_acquire", keys=[key], args=[holder, limit, lease_ms,
                                                                       "" if now is None else now])
    return bool(int(reply))


async def arelease(client: Any, key: str, holder: str) -> None:
    """Give ``holder``'s slot back (``ZREM``; a no-op when its lease had already run out)."""
    await client.zrem(key, holder)
