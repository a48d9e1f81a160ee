"""Idempotency keys: the same request sent twice (or twenty times at once) takes effect once.

Algorithm
    The client sends a unique ``Idempotency-Key`` with an unsafe request.  The
    server keeps one small hash per key (state, a fingerprint of the request
    body, the claimant's random token, the result):

    1. ``begin``: a script claims the key if nobody has (state ``pending``,
       with a short TTL), or reports ``pending`` (another request with this key
       is in flight), ``done`` with the stored result, or ``mismatch`` (the key
       was used with a different body: the client has a bug; answer 409).
    2. The claimant does the work, then ``complete`` stores the result (state
       ``done``, long TTL), or ``release`` gives the key back when the work
       failed in a way the client may retry.  Both are compare-and-act on the
       token: a claimant whose pending claim expired cannot overwrite the
       record of whoever claimed the key after it.
    3. A request that found ``pending`` waits (``wait``/``await_done``: polling
       with backoff, bounded) and then answers with the stored result.

Guarantee
    While Redis keeps the record, the work runs once per key and every request
    with that key gets the same result.  A claimant that dies frees the key
    after ``pending_ttl_ms``; Redis can also lose the record (restart without
    persistence, eviction).  So the work itself must have a last line of
    defence: the checkout has a database unique constraint on (owner, key)
    and looks the order up there before creating one.  The key is a
    coordination aid in front of that constraint, not a replacement for it.

Commands (https://redis.io/docs/latest/commands/<name>/)
    ``FCALL`` (or ``EVALSHA``) of ``idempotency_begin.lua`` /
    ``idempotency_finish.lua`` (``HGET``, ``HSET``, ``PEXPIRE``, ``DEL``
    inside); ``HMGET`` while waiting.

Round trips
    ``begin`` 1, ``complete``/``release`` 1, ``wait`` 1 per poll.

Failure policy
    Raises ``redis.RedisError`` to the caller, which decides.  The checkout
    falls back to its database constraint (fail open: the order is still
    created at most once, concurrent duplicates get the existing order).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from redis_patterns.scripts import loader

State = Literal["acquired", "pending", "done", "mismatch"]


def fingerprint(payload: Any) -> str:
    """SHA-256 hex of the canonical JSON of ``payload`` (sorted keys, no spaces)."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    """The answer of ``begin``: the state, the stored result, and our token if we own the key."""

    state: State
    result: str | None
    token: str
    key: str

    @property
    def acquired(self) -> bool:
        return self.state == "acquired"


def begin(client: Any, key: str, request_fingerprint: str, *, pending_ttl_ms: int = 30_000) -> Claim:
    """Claim ``key`` for this request, or learn its state (one round trip)."""
    token = secrets.token_hex(16)
    state, result = loader("redis_patterns").call(client, "idempotency_begin", keys=[key],
                                                  args=[request_fingerprint, token, pending_ttl_ms])
    return Claim(state=state, result=result or None, token=token, key=key)


def complete(client: Any, claim: Claim, result: str, *, ttl_ms: int = 24 * 3600 * 1000) -> bool:
    """Store the result of the work for ``ttl_ms``; False if the claim was lost meanwhile."""
    return bool(loader("redis_patterns").call(client, "idempotency_finish", keys=[claim.key],
                                             args=[claim.token, result, ttl_ms]))


def release(client: Any, claim: Claim) -> bool:
    """Give the key back (the work failed; a retry with the same key may run it)."""
    return bool(loader("redis_patterns").call(client, "idempotency_finish", keys=[claim.key],
                                             args=[claim.token, "", 0]))


def _interpret(values: list[Any], request_fingerprint: str) -> tuple[State, str | None] | None:
    state, fp, result = values
    if state is None:
        return None  # released or expired: the caller may claim it
    if fp != request_fingerprint:
        return "mismatch", None
    if state == "done":
        return "done", result
    return "pending", None


def wait(client: Any, key: str, request_fingerprint: str, *, timeout_s: float = 10.0,
         clock: Any = time.monotonic, sleep: Any = time.sleep) -> tuple[State, str | None] | None:
    """Poll (``HMGET``, backoff 10 ms doubling to 200 ms) until the record is no longer pending.

    Returns ``("done", result)``, ``("mismatch", None)``, ``None`` when the key
    was released or expired (claim it again), or ``("pending", None)`` at the
    deadline.
    """
    deadline = clock() + timeout_s
    delay = 0.01
    while True:
        found = _interpret(client.hmget(key, "state", "fingerprint", "result"), request_fingerprint)
        if found is None or found[0] != "pending" or clock() >= deadline:
            return found
        sleep(delay)
        delay = min(delay * 2, 0.2)


async def await_done(client: Any, key: str, request_fingerprint: str, *,
                     timeout_s: float = 10.0) -> tuple[State, str | None] | None:
    """``wait`` for a ``redis.asyncio`` client: the event loop serves other requests meanwhile."""
    deadline = time.monotonic() + timeout_s
    delay = 0.01
    while True:
        found = _interpret(await client.hmget(key, "state", "fingerprint", "result"), request_fingerprint)
        if found is None or found[0] != "pending" or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)
