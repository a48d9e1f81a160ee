"""Rate limiting: five algorithms behind one interface, each decision one atomic round trip.

    limiter = TokenBucket(get_redis, name="api", limit=100, period=60)
    decision = limiter.decide("user:42")          # or: await limiter.adecide(...)
    if not decision.allowed:
        return 429, {"Retry-After": ceil(decision.retry_after)}

Every algorithm is one Lua script (``redis_patterns/lua/ratelimit_*.lua``)
run through the project's ``Scripts`` loader (``FCALL``, or ``EVALSHA`` with
``NOSCRIPT`` recovery).  The script reads the clock with
`TIME <https://redis.io/docs/latest/commands/time/>`_, so every app server
agrees on "now" whatever its own clock says; tests pass ``now=`` instead.
Because the read, the decision and the write happen inside one script, two
requests can never both see "one left" (no check-then-act race) and a
decision costs exactly **one round trip** (``decide_many`` batches several
rules into one pipelined round trip).  A denied request consumes nothing in
any algorithm.  ``cost`` must be between 1 and ``limit`` (a larger cost could
never pass, so it is refused with ``ValueError`` before reaching Redis).

The algorithms (``limit`` units per ``period``):

``fixed_window`` -- a counter per aligned window ``floor(now / period)``.
    Guarantee: at most ``limit`` per aligned window.  Edge: the windows are
    aligned to the clock, so ``limit`` requests at the end of one window and
    ``limit`` at the start of the next all pass: up to **2 x limit within
    one period** across an edge (the demo page shows it).  Cheapest state:
    one small hash (`HSET <https://redis.io/docs/latest/commands/hset/>`_ +
    `PEXPIRE <https://redis.io/docs/latest/commands/pexpire/>`_ in the same
    script, the "INCR with its TTL in the same round trip" idea).  The TTL is
    set by a window's first write and outlives the window, so the writes after
    it are an ``HSET`` alone (the sliding-window counter does the same).
``sliding_log`` -- a sorted set with one entry per admitted unit, scored by time
    (`ZREMRANGEBYSCORE <https://redis.io/docs/latest/commands/zremrangebyscore/>`_,
    `ZCARD <https://redis.io/docs/latest/commands/zcard/>`_,
    `ZADD <https://redis.io/docs/latest/commands/zadd/>`_).  Guarantee: exact --
    never more than ``limit`` in *any* interval of length ``period``.  Cost:
    memory grows with ``limit``: one entry per admitted unit, about 20 B each
    while the log is a listpack (up to 128 entries), about 100-115 B above.
``sliding_window`` -- the sliding-window counter: the previous aligned window's
    count weighted by how much of it still overlaps the sliding window, plus the
    current count.  Guarantee: approximate; exact when requests in the previous
    window were evenly spread.  Edge: no 2x burst at the window edge (right after
    an edge the previous window still weighs ~100%), but after an uneven
    previous window it may admit up to about ``limit`` plus the part of the
    previous window's requests that fell before the interval.  Constant memory.
``token_bucket`` -- a bucket of ``limit`` tokens refilled continuously at
    ``limit / period``.  Guarantee: at most ``limit + elapsed * limit / period``
    units in any interval (a full bucket's burst, then the sustained rate).
    Edge: right after a full burst it admits one unit every ``period / limit``,
    so up to ``2 x limit`` can pass in one period (burst + refill) -- that is
    the point of a bucket: bursts allowed, average enforced.
``gcra`` -- the generic cell rate algorithm: one "theoretical arrival time" per
    subject.  Guarantee: identical admissions to a token bucket of capacity
    ``limit`` (it is the same meter, stored as one timestamp instead of a level
    and a time).  Its ``retry_after`` is exact by construction.

``fixed_window_plain`` (``PlainFixedWindow``) -- the fixed window **without Lua**:
    ``SET k 0 PX ttl NX`` then ``INCRBY k cost`` in one pipelined write, one
    key per window.  Same guarantee and edge as ``fixed_window``; costs about
    a plain ``GET`` where the scripts cost a GET plus ~10 µs of Lua inside
    Redis.  The price: the app server's clock picks the window, and a refused
    request is counted (see the class for both).  Not in ``ALGORITHMS`` (the
    five scripts the demo page charts); a rule may name it.

State per subject is one key (a hash; a sorted set for the sliding log), so
every script runs on Redis Cluster.  The script that writes it also gives it a
TTL (the window counters when a window opens, the others on every write), so an
idle subject's key disappears by itself.  Subjects are user input: they are put
inside the hash tag and, unless they are short and plain (``[A-Za-z0-9_.:@-]``),
replaced by a SHA-256 digest, so they can never break out of the tag or the
key name.

Clocks: with ``TIME`` there is one clock, the server's.  A ``now`` behind the
one that last wrote (a test, or a caller passing its own clock) never reopens
an older window: the fixed window and the sliding-window counter count it
against the newest window, the bucket and GCRA refill nothing for it.

Numbers: times are integer microseconds inside the scripts; ``limit x period``
(in µs) must stay below 2**53 so all arithmetic is exact (100,000 per day is
fine).  ``Decision.retry_after`` and ``.reset`` are seconds (floats).

Failure policy: this module does not hide Redis errors -- ``decide`` raises
``redis.RedisError`` and the caller chooses to fail open (allow) or closed
(deny).  The Django adapter (``config/ratelimit.py``) takes that choice per
rule from settings.

Hot path: a ``decide`` builds one key string and sends one ``FCALL``
through ``Scripts.call`` (a dict read, then ``roundtrips.direct_call``: no
pipeline object, no per-call bookkeeping); the result is a ``NamedTuple``.
``bench/ratelimit.py`` measures each algorithm against a ``GET``.

Round trips: 1 per ``decide``/``adecide``; 1 per ``decide_many`` batch; plus
the loader's one-off library load the first time a process meets a server
(and 1 more per entry of a ``decide_many`` batch sent just after the server
lost its scripts).
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NamedTuple

from redis_patterns.roundtrips import direct_pipeline
from redis_patterns.scripts import Scripts, loader

MAX_EXACT = 2**53
_PLAIN_SUBJECT = re.compile(r"^[A-Za-z0-9_.:@-]{1,64}$")


class Decision(NamedTuple):
    """What the limiter decided for one request (a tuple: built in a fraction of a microsecond).

    Attributes:
        allowed: admit the request.
        remaining: units that could still pass right now (after this one, if admitted).
        retry_after: seconds until a request of the same cost would pass (0 when admitted).
        reset: seconds until the limiter is back to its full allowance.
        limit: the configured limit (for ``RateLimit-Limit``).
    """

    allowed: bool
    remaining: int
    retry_after: float
    reset: float
    limit: int


def subject_token(subject: str) -> str:
    """``subject`` as it may appear inside a key: plain text, or a digest of it."""
    if _PLAIN_SUBJECT.match(subject):
        return subject
    return "h." + hashlib.sha256(subject.encode()).hexdigest()[:32]


ClientOrFactory = Any | Callable[[], Any]


def _is_factory(client: ClientOrFactory) -> bool:
    return callable(client) and not hasattr(client, "execute_command")


class RateLimiter:
    """Base class: ``decide(subject, cost=1) -> Decision`` in one round trip.

    Args:
        client: a redis-py client, or a zero-argument callable returning one
            (e.g. ``config.redis.get_redis``) so nothing connects at import time.
        name: the rule's name; part of every key (``rl:<algorithm>:<name>:{<subject>}``).
        limit: units per period (integer >= 1).
        period: seconds (may be fractional; kept to the microsecond).
        key_prefix: prepended to every key (the app passes its ``REDIS_KEY_PREFIX``).
        aclient: for ``adecide``: a ``redis.asyncio`` client or a callable returning one.

    Hot path: everything that does not depend on the request (the key's
    fixed part, the script's function name, the loader) is worked out here,
    once per rule; ``decide`` builds one string and sends one command.
    """

    algorithm: ClassVar[str]

    def __init__(self, client: ClientOrFactory = None, *, name: str, limit: int, period: float,
                 key_prefix: str = "", aclient: ClientOrFactory = None) -> None:
        if int(limit) != limit or limit < 1:
            raise ValueError("limit must be a positive integer")
        period_us = round(period * 1_000_000)
        if period_us < 1:
            raise ValueError("period must be at least a microsecond")
        if limit * period_us >= MAX_EXACT:
            raise ValueError("limit x period (µs) must stay below 2**53 for exact arithmetic")
        if not re.match(r"^[A-Za-z0-9_.-]{1,64}$", name):
            raise ValueError(f"rule name {name!r}: use letters, digits, '_', '.', '-'")
        self._client = client
        self._aclient = aclient
        self._client_factory = _is_factory(client)
        self.name = name
        self.limit = int(limit)
        self.period = period
        self.period_us = period_us
        self.key_prefix = key_prefix
        self._key_head = f"{key_prefix}:rl:{self.algorithm}:{name}:{{" if key_prefix else \
            f"rl:{self.algorithm}:{name}:{{"
        self._scripts: Scripts | None = None

    @property
    def script(self) -> str:
        """The algorithm's Lua script: ``lua/ratelimit_<algorithm>.lua``."""
        return f"ratelimit_{self.algorithm}"

    # -- keys -----------------------------------------------------------------------------

    def keys(self, subject: str) -> list[str]:
        """The key this subject's state lives in (a list: ``decide_many`` and the key map take lists)."""
        return [self._key(subject)]

    def _key(self, subject: str) -> str:
        return f"{self._key_head}{subject_token(subject)}}}"

    def _check_cost(self, cost: int) -> None:
        if int(cost) != cost or not 1 <= cost <= self.limit:
            raise ValueError(f"cost must be an integer between 1 and the limit ({self.limit})")

    def _args(self, cost: int, now: float | None) -> list[int]:
        self._check_cost(cost)
        now_us = 0 if now is None else round(now * 1_000_000)
        return [self.limit, self.period_us, int(cost), now_us]

    def _decision(self, reply: Sequence[int]) -> Decision:
        # hiredis hands back the script's integers as ints: no conversion needed
        allowed, remaining, retry_us, reset_us = reply
        return Decision(allowed == 1, remaining, max(retry_us, 0) / 1e6, max(reset_us, 0) / 1e6, self.limit)

    @staticmethod
    def _resolve(client: ClientOrFactory) -> Any:
        if client is None:
            raise ValueError("this limiter has no client for that call")
        return client() if _is_factory(client) else client

    def _loader(self) -> Scripts:
        if self._scripts is None:
            self._scripts = loader("redis_patterns")
        return self._scripts

    # -- batching (decide_many) -------------------------------------------------------------

    def _queue(self, client: Any, pipe: Any, subject: str, cost: int, now: float | None) -> Any:
        """Queue this decision's command(s) in ``pipe``; returns what ``_settle`` needs."""
        self._loader().queue(client, pipe, self.script, keys=self.keys(subject), args=self._args(cost, now))
        return None

    #: How many pipeline replies one decision takes.
    replies_per_decision: ClassVar[int] = 1

    def _settle(self, client: Any, replies: Sequence[Any], state: Any) -> Decision:
        return self._decision(replies[0])

    # -- decisions -----------------------------------------------------------------------

    def decide(self, subject: str, cost: int = 1, *, now: float | None = None) -> Decision:
        """Admit or refuse ``cost`` units for ``subject``: one script, one round trip.

        Args:
            subject: who is limited (``"ip:203.0.113.9"``, ``"user:42"``...).
            cost: units this request takes (1..limit).
            now: seconds since the epoch, for tests and simulations; ``None``
                reads Redis ``TIME`` inside the script.

        Raises:
            redis.RedisError: Redis is unreachable or refused; the caller applies
                its fail-open / fail-closed policy.
        """
        if cost != 1:
            self._check_cost(cost)
        client = self._client() if self._client_factory else (self._client or self._resolve(None))
        now_us = 0 if now is None else round(now * 1_000_000)
        reply = self._loader().call(client, self.script, (self._key(subject),),
                                    (self.limit, self.period_us, cost, now_us))
        allowed, remaining, retry_us, reset_us = reply
        return Decision(allowed == 1, remaining, max(retry_us, 0) / 1e6, max(reset_us, 0) / 1e6, self.limit)

    async def adecide(self, subject: str, cost: int = 1, *, now: float | None = None) -> Decision:
        """``decide`` on a ``redis.asyncio`` client (``aclient``)."""
        client = self._resolve(self._aclient)
        reply = await self._loader().acall(client, self.script, keys=self.keys(subject),
                                           args=self._args(cost, now))
        return self._decision(reply)


class FixedWindow(RateLimiter):
    """At most ``limit`` per aligned window; up to 2x across a window edge."""

    algorithm = "fixed_window"


class SlidingLog(RateLimiter):
    """Exact: at most ``limit`` in any ``period``; one sorted-set entry per admitted unit."""

    algorithm = "sliding_log"


class SlidingWindow(RateLimiter):
    """The sliding-window counter: two aligned windows, the previous one weighted."""

    algorithm = "sliding_window"


class TokenBucket(RateLimiter):
    """Bursts up to ``limit``, refilled at ``limit / period``."""

    algorithm = "token_bucket"


class GCRA(RateLimiter):
    """Generic cell rate algorithm: a token bucket stored as one timestamp."""

    algorithm = "gcra"


class PlainFixedWindow(RateLimiter):
    """The fixed window without Lua: ``SET k 0 PX ttl NX`` + ``INCRBY k cost``, pipelined.

    One string per subject *and window* (``rl:fixed_window_plain:<rule>:{<subject>}:<window>``).
    Both commands go out in one write (one round trip); the ``SET ... NX``
    creates the window's key with its TTL, so the ``INCRBY`` after it only
    ever finds a key that already has one.  The TTL is the rest of the window
    plus one whole period, and a window's key is only written while the
    writer's clock is inside that window, so the key cannot expire between
    the two commands unless two app servers' clocks disagree by more than a
    period: a key never exists without a TTL.

    Trade-off against ``FixedWindow`` (the Lua script), measured in
    ``bench/ratelimit.py``: no script runs, so a decision costs about a plain
    ``GET`` (the script's ~10 µs inside Redis is gone), and it works where
    scripting is disabled.  In exchange:

    - the **app server's clock** picks the window (``time.time()``), not
      Redis ``TIME``: servers whose clocks disagree by *d* seconds count the
      *d* seconds around each edge in different windows, a little extra
      admission there (same 2x-at-the-edge flaw as ``FixedWindow`` otherwise);
    - a **refused request is counted** (``INCRBY`` runs before anyone knows
      the answer).  For ``cost=1`` that changes nothing (the counter was
      already at the limit); a refused request of ``cost > 1`` that would have
      burned the rest of the allowance is refunded with ``DECRBY``, a second
      round trip on that path only, during which a concurrent request may be
      refused that would have passed.
    """

    algorithm = "fixed_window_plain"
    replies_per_decision = 2

    def _window(self, now: float | None) -> tuple[str, int, int, int]:
        """``(window number, now µs, µs to the window's end, key TTL ms)`` for ``now``."""
        now_us = round((time.time() if now is None else now) * 1_000_000)
        window = now_us // self.period_us
        reset_us = (window + 1) * self.period_us - now_us
        ttl_ms = math.ceil((reset_us + self.period_us) / 1000)
        return str(window), now_us, reset_us, ttl_ms

    def keys(self, subject: str, *, now: float | None = None) -> list[str]:
        """The subject's key for the window containing ``now`` (default: this process's clock)."""
        return [f"{self._key(subject)}:{self._window(now)[0]}"]

    def _commands(self, key: str, cost: int, ttl_ms: int) -> list[tuple[Any, ...]]:
        return [("SET", key, 0, "PX", ttl_ms, "NX"), ("INCRBY", key, cost)]

    def _outcome(self, used: Any, cost: int, reset_us: int) -> tuple[Decision, bool]:
        """The decision for a counter that reads ``used`` after this request; and whether to refund it."""
        if isinstance(used, Exception):
            raise used
        if used <= self.limit:
            return Decision(True, self.limit - used, 0.0, reset_us / 1e6, self.limit), False
        before = used - cost
        # A refused request that would have used up what was left is given back (cost > 1 only).
        refund = before < self.limit
        remaining = self.limit - before if refund else 0
        return Decision(False, remaining, reset_us / 1e6, reset_us / 1e6, self.limit), refund

    def decide(self, subject: str, cost: int = 1, *, now: float | None = None) -> Decision:
        """Admit or refuse ``cost`` units for ``subject``: two commands, one round trip, no script."""
        if cost != 1:
            self._check_cost(cost)
        client = self._client() if self._client_factory else (self._client or self._resolve(None))
        window, _now_us, reset_us, ttl_ms = self._window(now)
        key = f"{self._key_head}{subject_token(subject)}}}:{window}"
        replies = direct_pipeline(client, self._commands(key, cost, ttl_ms))
        decision, refund = self._outcome(replies[1], cost, reset_us)
        if refund:
            client.decrby(key, cost)
        return decision

    async def adecide(self, subject: str, cost: int = 1, *, now: float | None = None) -> Decision:
        """``decide`` on a ``redis.asyncio`` client (``aclient``)."""
        self._check_cost(cost)
        client = self._resolve(self._aclient)
        window, _now_us, reset_us, ttl_ms = self._window(now)
        key = f"{self._key(subject)}:{window}"
        pipe = client.pipeline(transaction=False)
        for command in self._commands(key, cost, ttl_ms):
            pipe.execute_command(*command)
        decision, refund = self._outcome((await pipe.execute(raise_on_error=False))[1], cost, reset_us)
        if refund:
            await client.decrby(key, cost)
        return decision

    def _queue(self, client: Any, pipe: Any, subject: str, cost: int, now: float | None) -> Any:
        self._check_cost(cost)
        window, _now_us, reset_us, ttl_ms = self._window(now)
        key = f"{self._key(subject)}:{window}"
        for command in self._commands(key, cost, ttl_ms):
            pipe.execute_command(*command)
        return key, cost, reset_us

    def _settle(self, client: Any, replies: Sequence[Any], state: Any) -> Decision:
        key, cost, reset_us = state
        decision, refund = self._outcome(replies[1], cost, reset_us)
        if refund:
            client.decrby(key, cost)
        return decision


#: The five algorithms, each one Lua script (the demo page and the contract tests run them all).
ALGORITHMS: dict[str, type[RateLimiter]] = {
    cls.algorithm: cls for cls in (FixedWindow, SlidingLog, SlidingWindow, TokenBucket, GCRA)
}
#: Every limiter a rule may name: the five algorithms and the fixed window without Lua.
LIMITERS: dict[str, type[RateLimiter]] = {**ALGORITHMS, PlainFixedWindow.algorithm: PlainFixedWindow}


def make_limiter(algorithm: str, client: ClientOrFactory = None, **kwargs: Any) -> RateLimiter:
    """``make_limiter("gcra", get_redis, name="api", limit=100, period=60)``."""
    try:
        cls = LIMITERS[algorithm]
    except KeyError:
        raise ValueError(f"unknown algorithm {algorithm!r}; one of {', '.join(LIMITERS)}") from None
    return cls(client, **kwargs)


def decide_many(client: Any, requests: Sequence[tuple[RateLimiter, str, int] | tuple[RateLimiter, str, int, float]],
                *, now: float | None = None, raise_on_error: bool = True) -> list[Decision | Exception]:
    """Several decisions (e.g. per-IP and per-username rules) in one pipelined round trip.

    Each script is still atomic on its own; the batch is not a transaction
    (one rule's denial does not undo another's admission, as with separate calls).
    With ``raise_on_error=False`` a script error comes back in its slot instead
    of being raised (a connection error is always raised).  A request may
    carry its own ``now`` as a fourth element (the demo page replays a
    simulated timeline this way: a whole timeline, one round trip).
    For a single request, ``limiter.decide`` is cheaper (no pipeline object).
    """
    scripts = loader("redis_patterns")
    pipe = client.pipeline(transaction=False)
    jobs = [(r[0], r[1], r[2], r[3] if len(r) > 3 else now) for r in requests]
    states = [limiter._queue(client, pipe, subject, cost, at) for limiter, subject, cost, at in jobs]
    # If the server lost its scripts (restart, failover, FUNCTION FLUSH), the
    # loader re-runs just the failed entries; entries that ran are not repeated.
    replies = scripts.execute(client, pipe, raise_on_error=False)
    out: list[Decision | Exception] = []
    index = 0
    for (limiter, _subject, _cost, _at), state in zip(jobs, states, strict=True):
        mine = replies[index:index + limiter.replies_per_decision]
        index += limiter.replies_per_decision
        error = next((r for r in mine if isinstance(r, Exception)), None)
        if error is None:
            try:
                out.append(limiter._settle(client, mine, state))
                continue
            except Exception as exc:  # noqa: BLE001 - a refund's error lands in the slot like any other
                error = exc
        if raise_on_error:
            raise error
        out.append(error)
    return out
