"""A consumer-group stream worker that loses nothing: claim, retry, dead-letter, trim.

Algorithm
    Producers ``XADD`` entries to a stream.  Each worker process is one
    *consumer* in a *consumer group*; Redis hands every entry to exactly one
    consumer of the group and keeps it in the group's pending entries list
    (PEL) until that consumer acknowledges it.  The loop of ``StreamWorker.run``:

    1. ``XGROUP CREATE ... MKSTREAM`` once (``BUSYGROUP`` means it exists: fine),
       then re-read this consumer's own PEL (``XREADGROUP ... 0``): entries a
       previous run with the same name took but never acknowledged.
    2. ``XREADGROUP GROUP g c COUNT n BLOCK ms STREAMS s >``: a batch of new
       entries, or nothing after ``ms`` milliseconds.
    3. Call the handler once per entry, or, given a batch handler
       (``handle_many``), once for the batch: it returns one result per entry
       (done, or the exception that entry failed with), so one database
       transaction can do the whole batch; if it raises, or answers for the
       wrong number of entries, the batch is handled again entry by entry, so
       one poison entry never fails its neighbours.  Collect the ids that
       succeeded and acknowledge them with **one** multi-id ``XACK`` (pipelined
       with the stats counters: one round trip per batch).  An entry whose
       handler failed is *not* acknowledged: it stays pending and is retried later.
    4. Every ``claim_every_s``: ``XAUTOCLAIM`` entries that have been pending in
       any consumer for longer than ``claim_idle_ms`` (a crashed or stuck
       worker's, or our own failures), look up their delivery counts
       (``XPENDING``) and handle them again.  An entry whose handler failed on
       its ``max_deliveries``-th delivery goes to the dead-letter stream
       (``XADD`` + ``XACK`` in one ``MULTI``); so does a claimed entry already
       delivered more often than that (its handler never returned: it crashed
       the worker each time).
    5. Every ``trim_every_s``: ``XTRIM MINID ~`` below the oldest entry that any
       group still needs (its oldest pending entry, or the first one it has not
       read yet), so trimming never drops an entry that is still pending.

Guarantee
    At-least-once: an entry is acknowledged only after its handler returned,
    so a worker killed with ``SIGKILL`` at any point loses nothing; another
    consumer claims its pending entries after ``claim_idle_ms``.  The price is
    that an entry may be handled twice (killed after the handler, before the
    ``XACK``): **handlers must be idempotent** (the order handler guards its
    state transition in the database).  A message that keeps failing (a
    "poison" message) stops being retried after ``max_deliveries`` and waits in
    the dead-letter stream for a person (``replay_dead_letter`` puts it back).

Commands (https://redis.io/docs/latest/commands/<name>/)
    ``XGROUP CREATE`` (``MKSTREAM``), ``XREADGROUP`` (``COUNT``, ``BLOCK``),
    ``XACK`` (many ids), ``XAUTOCLAIM``, ``XPENDING`` (summary and extended
    form), ``XADD`` and ``XACK`` in ``MULTI``/``EXEC`` for dead letters,
    ``XINFO GROUPS``, ``XTRIM`` (``MINID ~``), ``XGROUP DELCONSUMER`` on a
    clean exit with nothing pending, ``HINCRBY``/``PEXPIRE`` for the stats hash.

Round trips
    Steady state: 2 per batch (one ``XREADGROUP``, one multi-id ``XACK``,
    with the stats counters pipelined into it once a second), whatever the
    batch size; a claim pass costs 2 more
    (``XAUTOCLAIM``, ``XPENDING``) plus one per dead letter; a trim pass
    ``2 + groups``.  ``bench/streams.py`` measures the framework against a bare
    ``XREADGROUP`` + ``XACK`` loop.

Failure policy
    Redis unreachable or restarting: log, back off exponentially with jitter
    (capped, interrupted by a stop signal), reconnect, re-create the group if
    the server came back without it (``NOGROUP``: a restart without
    persistence), and carry on.  Nothing is lost that Redis kept; entries a
    non-persistent server forgot are gone from Redis, which is why the orders
    pipeline keeps a transactional outbox in the database.
    ``SIGTERM``/``SIGINT``: finish the current batch, acknowledge it, leave.

Use a client whose ``socket_timeout`` is longer than ``block_ms``: otherwise
every idle ``XREADGROUP ... BLOCK`` ends in a client-side timeout.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redis_patterns.tracing import tracing

log = logging.getLogger("redis_patterns.streams")

#: Fields the dead-letter stream adds to the original entry.
DEAD_FIELDS = ("dead_origin_id", "dead_deliveries", "dead_group", "dead_consumer", "dead_error")

STATS_TTL_SECONDS = 7 * 24 * 3600


@dataclass(slots=True)
class Message:
    """One stream entry as the handler sees it."""

    id: str
    fields: dict[str, str]
    deliveries: int = 1  # 1 for a fresh read; the PEL's count for a reclaimed entry


Handler = Callable[[Message], Any]
#: Handles a whole batch at once: one result per message, in order, ``None`` for done or the exception
#: that entry failed with.  Raising instead fails none of them: the worker handles them one by one.
BatchHandler = Callable[[list[Message]], Sequence[BaseException | None]]


@dataclass
class WorkerConfig:
    """What a worker reads and how.

    Args:
        stream: the stream key.
        group: the consumer group.
        consumer: this consumer's name, unique per running process and stable
            across restarts (a restarted process then finds its own pending entries).
        dead_letter: the dead-letter stream key (same hash tag as ``stream``, so
            the ``XADD`` + ``XACK`` transaction works on Redis Cluster).
        stats: an optional hash key for counters (same hash tag), or ``None``.
        count: entries per ``XREADGROUP``.
        block_ms: how long one ``XREADGROUP`` waits for new entries.
        claim_idle_ms: an entry pending longer than this is claimed by whoever
            looks next.  Longer than the slowest single handler run; a batch
            slower than half of it refreshes its remaining entries' idle time
            (``XCLAIM ... JUSTID``), so a slow but live worker keeps them.
        claim_every_s: how often to look for such entries.
        max_deliveries: handler runs per entry before it is dead-lettered.
        trim_every_s: how often to trim acknowledged entries (0: never).
        dead_letter_maxlen: the dead-letter stream keeps about this many entries.
    """

    stream: str
    group: str
    consumer: str
    dead_letter: str
    stats: str | None = None
    count: int = 100
    block_ms: int = 2000
    claim_idle_ms: int = 30_000
    claim_every_s: float = 5.0
    max_deliveries: int = 5
    trim_every_s: float = 30.0
    dead_letter_maxlen: int = 10_000
    backoff_base_s: float = 0.1
    backoff_cap_s: float = 5.0
    group_start_id: str = "0"  # a new group reads the whole stream: nothing produced earlier is skipped
    #: Fault injection for labs and tests: after handling this many batches,
    #: SIGKILL the own process *before* the XACK (the worst moment to die).
    crash_before_ack_after_batches: int | None = None


@dataclass
class WorkerStats:
    """Counters of one worker process (also added to the ``stats`` hash)."""

    batches: int = 0
    handled: int = 0
    acked: int = 0
    failed: int = 0
    claimed: int = 0
    dead_lettered: int = 0
    reconnects: int = 0
    trimmed: int = 0
    batch_fallbacks: int = 0  # batches whose batch handler raised: handled one by one instead
    started: float = field(default_factory=time.monotonic)


def is_nogroup(exc: BaseException) -> bool:
    """The group (or the whole stream) is gone: ``NOGROUP``, or ``UNBLOCKED`` when the
    stream was deleted while we were blocked reading it."""
    return isinstance(exc, ResponseError) and str(exc).startswith(("NOGROUP", "UNBLOCKED"))


def ensure_group(client: redis.Redis, stream: str, group: str, start_id: str = "0") -> bool:
    """Create ``group`` on ``stream`` (and the stream) unless it exists; True if created.

    ``XGROUP CREATE stream group 0 MKSTREAM``: one round trip; ``BUSYGROUP``
    (it already exists) is the idempotent "yes, done" answer.
    """
    try:
        client.xgroup_create(stream, group, id=start_id, mkstream=True)
        return True
    except ResponseError as exc:
        if "BUSYGROUP" in str(exc):
            return False
        raise


def next_id(entry_id: str) -> str:
    """The smallest stream id greater than ``entry_id`` (``"5-3"`` -> ``"5-4"``)."""
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


def _id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def safe_trim_id(client: redis.Redis, stream: str) -> str | None:
    """The lowest id any group of ``stream`` still needs, or None (no groups: trim nothing).

    For each group (``XINFO GROUPS``): its oldest pending entry (``XPENDING``
    summary), or, with nothing pending, the entry after its last-delivered id.
    ``XTRIM MINID <this>`` then removes only entries every group has read and
    acknowledged.  Round trips: 1 + the number of groups with pending entries.
    """
    groups = client.xinfo_groups(stream)
    if not groups:
        return None
    floor: tuple[int, int] | None = None
    for g in groups:
        if int(g.get("pending", 0)) > 0:
            summary = client.xpending(stream, g["name"])
            candidate = summary["min"]
        else:
            candidate = next_id(g["last-delivered-id"])
        if candidate is None:
            continue
        t = _id_tuple(candidate)
        floor = t if floor is None or t < floor else floor
    return None if floor is None else f"{floor[0]}-{floor[1]}"


def trim_acknowledged(client: redis.Redis, stream: str) -> int:
    """Trim entries no group needs any more (``XTRIM MINID ~``); returns how many went.

    ``~`` lets Redis trim whole macro nodes only, so it may keep a few more
    entries than asked; it never removes more, so pending entries stay.
    """
    minid = safe_trim_id(client, stream)
    if minid is None:
        return 0
    return int(client.xtrim(stream, minid=minid, approximate=True))


def replay_dead_letter(client: redis.Redis, stream: str, dead_letter: str, entry_id: str) -> str | None:
    """Put a dead-lettered entry back on ``stream``; returns the new id (None: no such entry).

    ``XRANGE`` to read it, then ``XADD`` the original fields to the stream and
    ``XDEL`` it from the dead-letter stream in one ``MULTI``: two round trips,
    and the entry is never in both places or in neither.
    """
    entries = client.xrange(dead_letter, entry_id, entry_id)
    if not entries:
        return None
    _, fields = entries[0]
    original = {k: v for k, v in fields.items() if k not in DEAD_FIELDS}
    pipe = client.pipeline(transaction=True)
    pipe.xadd(stream, original)
    pipe.xdel(dead_letter, entry_id)
    new_id, _ = pipe.execute()
    return new_id


class StreamWorker:
    """Run ``handler`` on every entry of a stream through a consumer group.

    >>> worker = StreamWorker(client, WorkerConfig(stream="s", group="g", consumer="c1",
    ...                                              dead_letter="s:dead"), handle)
    >>> worker.run()          # until SIGTERM/SIGINT or worker.stop()

    ``run_once()`` does a single iteration (tests and benchmarks drive it).
    """

    def __init__(self, client: redis.Redis, config: WorkerConfig, handler: Handler, *,
                 handle_many: BatchHandler | None = None,
                 on_batch: Callable[[list[Message]], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.config = config
        self.handler = handler
        self.handle_many = handle_many
        self.on_batch = on_batch
        self.clock = clock
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._ready = False
        self._next_claim = 0.0
        self._next_trim = 0.0
        self._claim_cursor = "0-0"
        self._last_errors: dict[str, str] = {}
        self._full = False
        self._unreported = 0
        self._next_stats = 0.0

    # -- lifecycle ---------------------------------------------------------------------

    def stop(self, *_: object) -> None:
        """Ask the loop to leave after the current batch (safe from a signal handler)."""
        if not self._stop.is_set():
            log.info("%s: stop requested; finishing the current batch", self.config.consumer)
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the loop gracefully (main thread only)."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def run(self) -> WorkerStats:
        """Loop until stopped; reconnect with backoff through Redis outages."""
        cfg = self.config
        log.info("%s: consuming %s as group %r (count=%d block=%dms claim_idle=%dms max_deliveries=%d)",
                 cfg.consumer, cfg.stream, cfg.group, cfg.count, cfg.block_ms, cfg.claim_idle_ms,
                 cfg.max_deliveries)
        failures = 0
        next_report = self.clock() + 10
        while not self._stop.is_set():
            try:
                self.run_once()
                failures = 0
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                failures += 1
                self.stats.reconnects += 1
                self._ready = False
                delay = min(cfg.backoff_cap_s, cfg.backoff_base_s * 2 ** min(failures, 10))
                delay = random.uniform(delay / 2, delay)  # jitter: workers don't reconnect in lockstep
                log.warning("%s: Redis unavailable (%s: %s); retrying in %.2fs (attempt %d)",
                            cfg.consumer, type(exc).__name__, exc, delay, failures)
                self._stop.wait(delay)
            except ResponseError as exc:
                if not is_nogroup(exc):
                    raise
                # The server came back without our group (no persistence, or someone
                # destroyed it): create it again and carry on.
                log.warning("%s: %s; re-creating the group", cfg.consumer, exc)
                self._ready = False
            if self.clock() >= next_report:
                next_report = self.clock() + 10
                self._report()
        self._leave()
        self._report(final=True)
        return self.stats

    def _report(self, final: bool = False) -> None:
        s = self.stats
        snapshot = (s.handled, s.failed, s.claimed, s.dead_lettered, s.reconnects)
        if not final and snapshot == getattr(self, "_last_report", None):
            return  # idle: nothing new to say
        self._last_report = snapshot
        elapsed = max(self.clock() - s.started, 1e-9)
        log.info("%s: %s%d handled (%.0f/s), %d acked, %d failed, %d claimed, %d dead-lettered, "
                 "%d reconnects, %d batches handled one by one", self.config.consumer,
                 "stopped after " if final else "", s.handled, s.handled / elapsed, s.acked, s.failed, s.claimed,
                 s.dead_lettered, s.reconnects, s.batch_fallbacks)

    def _leave(self) -> None:
        """On a clean exit with nothing pending, remove this consumer from the group.

        ``XGROUP DELCONSUMER`` would drop a consumer's pending entries from the
        PEL (nobody could claim them), so we delete only an empty consumer.
        """
        cfg = self.config
        try:
            self.flush_stats()
            mine = self.client.xpending_range(cfg.stream, cfg.group, min="-", max="+", count=1,
                                              consumername=cfg.consumer)
            if not mine:
                self.client.xgroup_delconsumer(cfg.stream, cfg.group, cfg.consumer)
        except redis.RedisError as exc:
            log.info("%s: could not leave the group cleanly (%s)", cfg.consumer, exc)

    # -- one iteration -------------------------------------------------------------------

    def setup(self) -> None:
        """Create the group if needed and handle this consumer's own pending entries."""
        cfg = self.config
        if ensure_group(self.client, cfg.stream, cfg.group, cfg.group_start_id):
            log.info("%s: created group %r on %s", cfg.consumer, cfg.group, cfg.stream)
        self._ready = True
        # Entries this consumer name took in an earlier life and never acknowledged.
        last = "0-0"
        while not self._stop.is_set():
            batch = self._read(last, block=None)
            if not batch:
                break
            last = batch[-1].id
            log.info("%s: recovering %d entries left pending by an earlier run", cfg.consumer, len(batch))
            self._process(self._with_deliveries(batch), recovered=True)

    def run_once(self) -> int:
        """One iteration: maybe claim, maybe trim, read one batch and process it.

        Returns the number of entries handled.
        """
        if not self._ready:
            self.setup()
        now = self.clock()
        handled = 0
        if now >= self._next_claim:
            self._next_claim = now + self.config.claim_every_s
            handled += self.claim_stale()
        if self.config.trim_every_s and now >= self._next_trim:
            self._next_trim = now + self.config.trim_every_s
            self.stats.trimmed += trim_acknowledged(self.client, self.config.stream)
        # BLOCK only when the last read came back short: under load a non-blocking
        # read is served faster (bench/streams.py measured BLOCK at about half the
        # rate on a full stream), and an idle worker still waits on the server.
        # ... and never longer than until the next claim pass is due, so an idle
        # worker still claims (and dead-letters) on schedule.
        until_claim_ms = (self._next_claim - self.clock()) * 1000
        block = self.config.block_ms if until_claim_ms >= self.config.block_ms else max(1, int(until_claim_ms))
        batch = self._read(">", block=None if self._full else block)
        self._full = len(batch) >= self.config.count
        if batch:
            handled += self._process(batch)
        return handled

    def _read(self, start: str, block: int | None) -> list[Message]:
        cfg = self.config
        reply = self.client.xreadgroup(cfg.group, cfg.consumer, {cfg.stream: start}, count=cfg.count,
                                       block=block)
        if not reply:
            return []
        # RESP2: [[stream, [(id, fields), ...]]]; RESP3: {stream: [[(id, fields), ...]]}
        entries = reply[0][1] if isinstance(reply, list) else next(iter(reply.values()))[0]
        # An entry deleted (trimmed) while pending comes back with no fields: nothing to do.
        return [Message(entry_id, fields or {}) for entry_id, fields in entries]

    def _with_deliveries(self, batch: list[Message]) -> list[Message]:
        """Fill in delivery counts from the PEL (one ``XPENDING`` for the batch)."""
        if not batch:
            return batch
        cfg = self.config
        rows = self.client.xpending_range(cfg.stream, cfg.group, min=batch[0].id, max=batch[-1].id,
                                          count=len(batch) * 2 + 10, consumername=cfg.consumer)
        counts = {row["message_id"]: int(row["times_delivered"]) for row in rows}
        for msg in batch:
            msg.deliveries = counts.get(msg.id, msg.deliveries)
        return batch

    def claim_stale(self) -> int:
        """Claim entries idle longer than ``claim_idle_ms``; dead-letter or handle them."""
        cfg = self.config
        cursor, entries, deleted = self._autoclaim()
        self._claim_cursor = cursor
        if deleted:
            log.info("%s: %d pending entries were deleted from the stream; dropped from the PEL",
                     cfg.consumer, len(deleted))
        batch = [Message(entry_id, fields or {}) for entry_id, fields in entries if entry_id]
        if not batch:
            return 0
        batch.sort(key=lambda m: _id_tuple(m.id))
        self._with_deliveries(batch)
        self.stats.claimed += len(batch)
        log.info("%s: claimed %d entries idle for over %dms", cfg.consumer, len(batch), cfg.claim_idle_ms)
        live = []
        for msg in batch:
            if msg.deliveries > cfg.max_deliveries:
                self.dead_letter(msg)
            else:
                live.append(msg)
        return self._process(live) if live else 0

    def _autoclaim(self) -> tuple[str, list, list]:
        cfg = self.config
        reply = self.client.xautoclaim(cfg.stream, cfg.group, cfg.consumer, min_idle_time=cfg.claim_idle_ms,
                                       start_id=self._claim_cursor, count=cfg.count)
        # Redis 7: [next-cursor, entries, deleted-ids]; 6.2: no third element.
        cursor = reply[0]
        entries = reply[1] if len(reply) > 1 else []
        deleted = reply[2] if len(reply) > 2 else []
        return cursor, entries, deleted

    def dead_letter(self, msg: Message, error: str | None = None) -> None:
        """Move ``msg`` to the dead-letter stream and acknowledge it, atomically."""
        cfg = self.config
        reason = error or self._last_errors.pop(msg.id, None) or f"over {cfg.max_deliveries} deliveries"
        fields = {**msg.fields, "dead_origin_id": msg.id, "dead_deliveries": msg.deliveries,
                  "dead_group": cfg.group, "dead_consumer": cfg.consumer, "dead_error": reason[:500]}
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(cfg.dead_letter, fields, maxlen=cfg.dead_letter_maxlen, approximate=True)
        pipe.xack(cfg.stream, cfg.group, msg.id)
        if cfg.stats:
            _count(pipe, cfg.stats, "dead_lettered", 1)
        pipe.execute()
        self.stats.dead_lettered += 1
        log.warning("%s: dead-lettered %s after %d deliveries: %s", cfg.consumer, msg.id, msg.deliveries,
                    reason)

    def _process(self, batch: list[Message], recovered: bool = False) -> int:
        """Handle a batch, then acknowledge what succeeded in one round trip."""
        cfg = self.config
        ok: list[str] = []
        with tracing(f"stream batch {cfg.stream}") as trace:
            if self.on_batch is not None:
                self.on_batch(batch)
            live = []
            for msg in batch:
                if not msg.fields:
                    ok.append(msg.id)  # deleted while pending: acknowledge the empty shell
                elif msg.deliveries > cfg.max_deliveries:
                    self.dead_letter(msg)
                else:
                    live.append(msg)
            outcomes = self._handle_many(live) if self.handle_many is not None and len(live) > 1 else None
            refreshed = self.clock()
            for i, msg in enumerate(live):
                if outcomes is not None:
                    failure = outcomes[i]
                else:
                    if cfg.claim_idle_ms and self.clock() - refreshed > cfg.claim_idle_ms / 2000:
                        self._keep_alive(live[i:])
                        refreshed = self.clock()
                    failure = None
                    try:
                        self.handler(msg)
                    except Exception as exc:  # any handler failure: leave it pending for a retry
                        failure = exc
                if failure is None:
                    ok.append(msg.id)
                    continue
                self.stats.failed += 1
                error = f"{type(failure).__name__}: {failure}"
                log.warning("%s: handler failed on %s (delivery %d of %d): %s", cfg.consumer, msg.id,
                            msg.deliveries, cfg.max_deliveries, error)
                if msg.deliveries >= cfg.max_deliveries:
                    self.dead_letter(msg, error)
                else:
                    if len(self._last_errors) > 10_000:
                        self._last_errors.clear()
                    self._last_errors[msg.id] = error
            self.stats.batches += 1
            self.stats.handled += len(ok)
            if cfg.crash_before_ack_after_batches and self.stats.batches >= cfg.crash_before_ack_after_batches:
                log.warning("%s: fault injection: SIGKILL before acknowledging %d handled entries",
                            cfg.consumer, len(ok))
                logging.shutdown()
                os.kill(os.getpid(), signal.SIGKILL)
            if ok:
                self.ack(ok)
        if log.isEnabledFor(logging.DEBUG):  # the summary costs more than the check
            log.debug("%s: batch of %d (%d ok%s): %s, %.2f ms in Redis", cfg.consumer, len(batch), len(ok),
                      ", recovered" if recovered else "", trace.summary(), trace.duration_ms)
        return len(ok)

    def _handle_many(self, live: list[Message]) -> Sequence[BaseException | None] | None:
        """The batch handler's result per entry; ``None`` (handle them one by one) if it raised."""
        try:
            outcomes = self.handle_many(live)  # type: ignore[misc]
            if len(outcomes) != len(live):
                raise ValueError(f"{len(outcomes)} results for {len(live)} entries")
            return outcomes
        except Exception as exc:  # the batch as a whole: its entries get their own runs instead
            self.stats.batch_fallbacks += 1
            log.info("%s: batch handler failed (%s: %s); handling its %d entries one by one", self.config.consumer,
                     type(exc).__name__, exc, len(live))
            return None

    def _keep_alive(self, rest: list[Message]) -> None:
        """A long batch: reset the idle time of its entries not handled yet.

        Otherwise a live but slow worker's last entries look abandoned after
        ``claim_idle_ms`` and another worker handles them too.  ``XCLAIM ...
        JUSTID`` to ourselves resets the idle time without counting a delivery;
        ``min_idle`` of half the claim threshold skips entries someone else has
        claimed meanwhile (their idle time restarted then).  One round trip,
        only for batches slower than half of ``claim_idle_ms``.
        """
        cfg = self.config
        ids = [m.id for m in rest]
        if ids:
            self.client.xclaim(cfg.stream, cfg.group, cfg.consumer, cfg.claim_idle_ms // 2, ids, justid=True)
            log.info("%s: slow batch: kept %d entries claimed", cfg.consumer, len(ids))

    def ack(self, ids: Sequence[str]) -> None:
        """One ``XACK`` with every id; at most once a second the stats counters ride along.

        The counters are pipelined with an ``XACK`` (same round trip) rather than
        sent with every batch: a pipeline object per batch cost measurable
        throughput at high rates (bench/streams.py).
        """
        cfg = self.config
        self._unreported += len(ids)
        now = self.clock()
        if cfg.stats and now >= self._next_stats:
            self._next_stats = now + 1.0
            pipe = self.client.pipeline(transaction=False)
            pipe.xack(cfg.stream, cfg.group, *ids)
            _count(pipe, cfg.stats, "acked", self._unreported)
            pipe.execute()
            self._unreported = 0
        else:
            self.client.xack(cfg.stream, cfg.group, *ids)
        self.stats.acked += len(ids)

    def flush_stats(self) -> None:
        """Write acknowledged-but-uncounted entries to the stats hash (on exit)."""
        cfg = self.config
        if cfg.stats and self._unreported:
            pipe = self.client.pipeline(transaction=False)
            _count(pipe, cfg.stats, "acked", self._unreported)
            pipe.execute()
            self._unreported = 0


def _count(pipe: Any, stats: str, counter: str, n: int) -> None:
    """Add ``n`` to one counter of the stats hash; its TTL is renewed in the same pipeline."""
    pipe.hincrby(stats, counter, n)
    pipe.expire(stats, STATS_TTL_SECONDS)


def read_stats(client: redis.Redis, key: str) -> dict[str, int]:
    """The counters in a worker stats hash (``HGETALL``)."""
    return {k: int(v) for k, v in client.hgetall(key).items()}


def group_overview(client: redis.Redis, streams: Iterable[str]) -> list[dict[str, Any]]:
    """``XINFO STREAM`` + ``GROUPS`` + ``CONSUMERS`` for each stream, pipelined per level.

    Returns one dict per stream: ``length``, ``first``/``last`` ids, and
    ``groups`` (name, consumers, pending, lag, last-delivered-id, each
    consumer's pending and idle time).  A stream that does not exist yet is
    reported with ``exists=False``.
    """
    out: list[dict[str, Any]] = []
    for stream in streams:
        try:
            info = client.xinfo_stream(stream)
        except ResponseError:
            out.append({"stream": stream, "exists": False, "groups": []})
            continue
        groups = client.xinfo_groups(stream)
        pipe = client.pipeline(transaction=False)
        for g in groups:
            pipe.xinfo_consumers(stream, g["name"])
        consumers = pipe.execute() if groups else []
        out.append({
            "stream": stream,
            "exists": True,
            "length": info.get("length", 0),
            "first_id": (info.get("first-entry") or [None])[0],
            "last_id": info.get("last-generated-id"),
            "groups": [
                {**g, "lag": g.get("lag"), "last_delivered_id": g.get("last-delivered-id"),
                 "consumer_list": sorted(c, key=lambda x: x["name"])}
                for g, c in zip(groups, consumers, strict=True)
            ],
        })
    return out
