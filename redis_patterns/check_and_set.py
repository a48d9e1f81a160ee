"""Check-and-set three ways: a Lua script, WATCH/MULTI/EXEC with retries, and the naive race.

The job: take ``amount`` from a balance only if the balance covers it (a
wallet, a coupon's remaining uses, a seat count).  Reading, deciding and
writing must act as one step, or two clients that both read "10" both
spend it.

``debit_lua`` (the recommended way)
    One script (``lua/debit_if_enough.lua``) runs the read, the check and the
    ``DECRBY`` on the server with nothing in between.  1 round trip, never
    retries, never oversells.

``debit_watch`` (optimistic locking)
    ``WATCH`` the key, ``GET`` it, decide in Python, then ``MULTI`` +
    ``DECRBY`` + ``EXEC``.  If anyone wrote the key after the ``WATCH``,
    ``EXEC`` returns nil (``WatchError`` in redis-py) and we start over.
    3 round trips per attempt (``WATCH``, ``GET``, ``MULTI``/``DECRBY``/``EXEC``
    pipelined); under contention the attempts multiply: that retry count is
    what the demo page shows.  Useful when the decision needs Python (or data
    from elsewhere), and on servers where scripts are not allowed.

``debit_naive`` (the "before" half, kept for the comparison only)
    ``GET``, decide, ``DECRBY`` in two unrelated round trips (a pipeline would
    not help: a pipeline is not a transaction and cannot branch on a reply).
    Under concurrency it overdraws.  Do not copy it.

Commands: ``FCALL``/``EVALSHA``, ``WATCH``, ``GET``, ``MULTI``, ``DECRBY``,
``EXEC``, ``UNWATCH`` (https://redis.io/docs/latest/commands/<name>/).

Failure policy: Redis errors propagate; ``debit_watch`` gives up after
``max_attempts`` with ``TooMuchContention`` rather than spinning forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.exceptions import WatchError

from redis_patterns.scripts import loader


class TooMuchContentionError(Exception):
    """``debit_watch`` lost the race ``max_attempts`` times in a row."""


@dataclass(frozen=True)
class Debit:
    ok: bool
    balance: int
    attempts: int = 1


def debit_lua(client: Any, key: str, amount: int) -> Debit:
    """Take ``amount`` from the integer at ``key`` if it covers it; one script call."""
    ok, balance = loader("redis_patterns").call(client, "debit_if_enough", keys=[key], args=[amount])
    return Debit(bool(ok), int(balance))


def debit_watch(client: Any, key: str, amount: int, *, max_attempts: int = 50) -> Debit:
    """The same with ``WATCH``/``MULTI``/``EXEC``, retrying when another client wrote first."""
    for attempt in range(1, max_attempts + 1):
        with client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)                       # from here, EXEC fails if anyone writes key
                balance = int(pipe.get(key) or 0)     # immediate mode: runs now, inside the WATCH
                if balance < amount:
                    pipe.unwatch()
                    return Debit(False, balance, attempt)
                pipe.multi()
                pipe.decrby(key, amount)
                (new_balance,) = pipe.execute()       # MULTI DECRBY EXEC, or WatchError
                return Debit(True, int(new_balance), attempt)
            except WatchError:
                continue                              # somebody changed it: read again
    raise TooMuchContentionError(f"{key}: gave up after {max_attempts} attempts")


def debit_naive(client: Any, key: str, amount: int) -> Debit:
    """BROKEN ON PURPOSE (the "before" of the comparison): check, then act, in two round trips."""
    balance = int(client.get(key) or 0)
    if balance < amount:
        return Debit(False, balance)
    return Debit(True, int(client.decrby(key, amount)))
