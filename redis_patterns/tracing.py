"""Command tracing: what a request (or a WebSocket message) sent to Redis.

Pattern
    A ``contextvars.ContextVar`` holds the current ``Trace``.  Connection
    classes (sync and ``redis.asyncio``) record into it while it is set: each
    command's arguments, and each network round trip with the time spent in
    it.  A pipeline or a ``MULTI``/``EXEC`` block is one write and one batch of
    reads, so it counts as one round trip however many commands it carries.
    The Django middleware opens a trace per request and shows it as a
    ``Server-Timing`` header and a "Redis on this page" panel.

What counts as time
    The time spent inside ``send_packed_command`` and ``read_response``:
    writing to the socket, waiting for the reply and parsing it.  Building the
    command in Python before that is not included, so the figure is "time in
    Redis and on the wire", which is what the page wants to show.

Cost
    With no trace open: one ``ContextVar.get`` per write and per read.  With a
    trace open: two ``perf_counter_ns`` calls and a list append per round trip;
    arguments are kept by reference and only formatted when the panel renders.
    ``bench/tracing_overhead.py`` measures it as a ratio.

Works with
    ``redis.Redis``, pipelines, ``redis.asyncio``, Sentinel-managed
    connections and Redis Cluster (each node's connection is traced), and any
    library that accepts a ``connection_class`` (django-redis, channels-redis).
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from redis.asyncio.connection import Connection as AsyncConnection
from redis.asyncio.connection import SSLConnection as AsyncSSLConnection
from redis.asyncio.sentinel import SentinelManagedConnection as AsyncSentinelManagedConnection
from redis.connection import Connection, SSLConnection
from redis.sentinel import SentinelManagedConnection

MAX_ARG_CHARS = 60
MAX_ARGS_SHOWN = 8
MAX_ROUND_TRIPS_KEPT = 500

_current: contextvars.ContextVar[Trace | None] = contextvars.ContextVar("redis_trace", default=None)
_observers: list[Callable[[Trace], None]] = []
log = logging.getLogger(__name__)

#: Commands whose first argument is not a key.
_NO_KEY = {
    "PING", "INFO", "AUTH", "HELLO", "CLIENT", "SELECT", "MULTI", "EXEC", "DISCARD", "SCRIPT",
    "FUNCTION", "CONFIG", "DBSIZE", "TIME", "COMMAND", "SLOWLOG", "LATENCY", "MEMORY", "SCAN",
    "FLUSHDB", "FLUSHALL", "CLUSTER", "READONLY", "PUBLISH", "SPUBLISH", "SUBSCRIBE", "PSUBSCRIBE",
    "UNSUBSCRIBE", "PUNSUBSCRIBE", "SSUBSCRIBE", "WAIT", "ECHO", "SENTINEL", "ROLE",
}
#: Commands whose keys follow a ``numkeys`` argument: ``EVALSHA sha numkeys key ...``.
_NUMKEYS_AT_2 = {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"}


def _text(value: object) -> str:
    if type(value) is str:  # the common case, first
        text = value
    elif isinstance(value, bytes | bytearray | memoryview):
        text = bytes(value).decode("utf-8", "replace")
    else:
        text = str(value)
    return text if len(text) <= MAX_ARG_CHARS else text[: MAX_ARG_CHARS - 1] + "…"


@dataclass(slots=True)
class RoundTrip:
    """One network round trip: one write, then the replies to what it carried."""

    trace: Trace
    commands: Sequence[Sequence[object]]
    duration_ns: int = 0
    error: str | None = None

    @property
    def duration_us(self) -> float:
        return self.duration_ns / 1000

    @property
    def pipelined(self) -> bool:
        return len(self.commands) > 1

    def describe(self) -> list[dict[str, str]]:
        """The commands as display rows: name, key, truncated args."""
        rows = []
        for args in self.commands:
            if not args:
                continue
            name = _text(args[0]).upper()
            if name in _NUMKEYS_AT_2 and len(args) >= 3:
                # EVALSHA <sha> <numkeys> <keys...> <args...>
                try:
                    numkeys = max(int(_text(args[2])), 0)
                except ValueError:
                    numkeys = 0
                key = " ".join(map(_text, args[3 : 3 + numkeys]))
                rest = (args[1], *args[3 + numkeys :])
            elif name not in _NO_KEY and len(args) > 1:
                key = _text(args[1])
                rest = args[2:]
            else:
                key = ""
                rest = args[1:]
            shown = " ".join(map(_text, rest[:MAX_ARGS_SHOWN]))
            if len(rest) > MAX_ARGS_SHOWN:
                shown += f" … (+{len(rest) - MAX_ARGS_SHOWN} args)"
            rows.append({"name": name, "key": key, "args": shown})
        return rows


@dataclass(slots=True)
class Trace:
    """Everything one unit of work (an HTTP request, a WebSocket message) sent."""

    label: str = ""
    round_trips: list[RoundTrip] = field(default_factory=list)
    closed: bool = False
    dropped: int = 0
    parent: Trace | None = None

    @property
    def command_count(self) -> int:
        return sum(len(rt.commands) for rt in self.round_trips)

    @property
    def round_trip_count(self) -> int:
        return len(self.round_trips) + self.dropped

    @property
    def duration_ms(self) -> float:
        return sum(rt.duration_ns for rt in self.round_trips) / 1e6

    def summary(self) -> str:
        """``"3 cmds, 1 rtt"``: the text used in the ``Server-Timing`` header."""
        return f"{self.command_count} cmds, {self.round_trip_count} rtt"

    def server_timing(self) -> str:
        """A ``Server-Timing`` entry: ``redis;dur=0.41;desc="3 cmds, 1 rtt"``."""
        return f'redis;dur={self.duration_ms:.2f};desc="{self.summary()}"'

    def _add(self, commands: Sequence[Sequence[object]]) -> RoundTrip | None:
        if self.closed:
            return None
        rt = RoundTrip(self, commands)
        trace: Trace | None = self
        while trace is not None and not trace.closed:
            if len(trace.round_trips) < MAX_ROUND_TRIPS_KEPT:
                trace.round_trips.append(rt)
            else:
                # A long loop must not grow without bound; still count it.
                trace.dropped += 1
            trace = trace.parent
        return rt


def observe_traces(callback: Callable[[Trace], None]) -> None:
    """Call ``callback(trace)`` each time an outermost trace closes (e.g. to feed a latency histogram).

    Nested traces are not passed on: their round trips are already in the
    outer one.  A failing observer is logged, never raised into the request.
    """
    if callback not in _observers:
        _observers.append(callback)


def current_trace() -> Trace | None:
    """The trace open in this context, if any."""
    return _current.get()


@contextmanager
def tracing(label: str = "") -> Iterator[Trace]:
    """Record every Redis command sent inside the block.

    >>> with tracing("checkout") as trace:
    ...     r.get("k"); r.pipeline().set("a", 1).set("b", 2).execute()
    >>> trace.summary()
    '3 cmds, 2 rtt'

    A nested block gets its own trace whose round trips also count in the
    outer one (a demo page measures each strategy and still shows them all in
    its panel).  The trace is closed on exit: a background task that inherited
    this context (``asyncio.create_task`` copies it) stops recording into it.
    """
    trace = Trace(label=label, parent=_current.get())
    token = _current.set(trace)
    try:
        yield trace
    finally:
        trace.closed = True
        _current.reset(token)
        if trace.parent is None:
            for callback in _observers:
                try:
                    callback(trace)
                except Exception:
                    log.exception("trace observer %r failed", callback)


# --- connection classes -------------------------------------------------------------
#
# redis-py sends a single command with ``send_command(*args)`` and a pipeline
# with ``send_packed_command(pack_commands(cmds))``; both then call
# ``read_response`` once per command.  We note the arguments on the way in,
# open a RoundTrip when the bytes go out, and add the time of each read to it.


class _TracingMixin:
    _trace_pending: Sequence[Sequence[object]] | None = None
    _trace_rt: RoundTrip | None = None

    def _trace_begin(self) -> tuple[Trace, Sequence[Sequence[object]]] | None:
        trace = _current.get()
        if trace is None or trace.closed:
            self._trace_pending = None
            self._trace_rt = None  # the replies to this write are not an open trace's
            return None
        commands = self._trace_pending or (("?",),)
        self._trace_pending = None
        return trace, commands

    def _trace_end(self, begun: tuple[Trace, Sequence[Sequence[object]]], t0: int, exc: BaseException | None):
        trace, commands = begun
        rt = trace._add(commands)
        if rt is not None:
            rt.duration_ns += time.perf_counter_ns() - t0
            if exc is not None:
                rt.error = type(exc).__name__
        self._trace_rt = rt

    def _trace_read_rt(self) -> RoundTrip | None:
        rt = self._trace_rt
        if rt is not None and rt.trace.closed:
            self._trace_rt = rt = None
        return rt

    def pack_command(self, *args):
        # redis.asyncio's send_command and its cluster client pack through here.
        if _current.get() is not None:
            self._trace_pending = (args,)
        return super().pack_command(*args)

    def pack_commands(self, commands):
        commands = list(commands)
        packed = super().pack_commands(commands)  # may call pack_command per command
        if _current.get() is not None:
            self._trace_pending = commands
        return packed


class _SyncTracing(_TracingMixin):
    # One command (``send_command``, every plain client call) is the hot path:
    # its round trip is opened in this one frame, not through the
    # ``send_packed_command`` hook below, which pipelines take.
    def send_command(self, *args, **kwargs):
        packed = self._command_packer.pack(*args)
        trace = _current.get()
        if trace is None or trace.closed:
            self._trace_rt = None
            # straight to the base class's write, not through our hook (it would look for a trace again)
            return super().send_packed_command(packed, check_health=kwargs.get("check_health", True))
        error = None
        t0 = time.perf_counter_ns()
        try:
            # the untraced send: this command is recorded here, not again by our hook
            super().send_packed_command(packed, check_health=kwargs.get("check_health", True))
        except BaseException as e:
            error = type(e).__name__
            raise
        finally:
            rt = trace._add((args,))
            if rt is not None:
                rt.duration_ns = time.perf_counter_ns() - t0
                rt.error = error
            self._trace_rt = rt

    def send_packed_command(self, command, check_health=True):
        begun = self._trace_begin()
        if begun is None:
            return super().send_packed_command(command, check_health)
        t0 = time.perf_counter_ns()
        exc = None
        try:
            return super().send_packed_command(command, check_health)
        except BaseException as e:
            exc = e
            raise
        finally:
            self._trace_end(begun, t0, exc)

    def read_response(self, *args, **kwargs):
        rt = self._trace_rt
        if rt is None or rt.trace.closed:
            self._trace_rt = None  # do not keep a finished trace alive on a pooled connection
            return super().read_response(*args, **kwargs)
        t0 = time.perf_counter_ns()
        try:
            return super().read_response(*args, **kwargs)
        except BaseException as e:
            rt.error = type(e).__name__
            raise
        finally:
            rt.duration_ns += time.perf_counter_ns() - t0


class _AsyncTracing(_TracingMixin):
    async def send_packed_command(self, command, check_health=True):
        begun = self._trace_begin()
        if begun is None:
            return await super().send_packed_command(command, check_health)
        t0 = time.perf_counter_ns()
        exc = None
        try:
            return await super().send_packed_command(command, check_health)
        except BaseException as e:
            exc = e
            raise
        finally:
            self._trace_end(begun, t0, exc)

    async def read_response(self, *args, **kwargs):
        rt = self._trace_read_rt()
        if rt is None:
            return await super().read_response(*args, **kwargs)
        t0 = time.perf_counter_ns()
        try:
            return await super().read_response(*args, **kwargs)
        except BaseException as e:
            rt.error = type(e).__name__
            raise
        finally:
            rt.duration_ns += time.perf_counter_ns() - t0


class TracingConnection(_SyncTracing, Connection):
    """``redis.Connection`` that records into the current trace."""


class TracingSSLConnection(_SyncTracing, SSLConnection):
    """``redis.SSLConnection`` that records into the current trace."""


class TracingSentinelManagedConnection(_SyncTracing, SentinelManagedConnection):
    """Sentinel-managed connection that records into the current trace."""


class AsyncTracingConnection(_AsyncTracing, AsyncConnection):
    """``redis.asyncio`` connection that records into the current trace."""


class AsyncTracingSSLConnection(_AsyncTracing, AsyncSSLConnection):
    """``redis.asyncio`` SSL connection that records into the current trace."""


class AsyncTracingSentinelManagedConnection(_AsyncTracing, AsyncSentinelManagedConnection):
    """``redis.asyncio`` Sentinel-managed connection that records into the current trace."""
