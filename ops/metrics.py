"""Prometheus metrics: the app's own counters, and the key figures of its Redis, for ``GET /metrics``.

Every series is produced by ``prometheus-client``; nothing here writes the
text format by hand.

Two kinds of series
    *App series* (``app_*``) are counted where things happen, by one-line
    calls from the other apps into this module: cache reads by outcome
    (``shop.selectors``), rate-limit decisions (``config.ratelimit``), stream
    handler runs and their latency (``workers.handlers``), Celery tasks
    (Celery's signals, connected in ``install``), open WebSockets
    (``realtime.consumers``), and Redis round-trip latency from the command
    tracer (``redis_patterns.tracing.observe_traces``).
    *Redis series* (``redis_*`` and the stream gauges) are read from the
    server when Prometheus scrapes (``INFO``, ``XINFO``): one ``INFO`` round
    trip plus two per stream, so a scrape every 15 s costs Redis nothing
    measurable.

Many processes, one endpoint
    ``make run`` runs uvicorn, two forked stream-worker processes and
    Celery's prefork children.  Per-process endpoints would need a port per
    process (Celery's children cannot serve one) and a Prometheus target list
    that changes with every ``--processes``/``--concurrency``; so this uses the
    library's **multiprocess mode**: each process keeps its values in a
    small mmap'd file under ``PROMETHEUS_MULTIPROC_DIR`` (``var/metrics/``, set
    in ``config/settings.py`` before anything imports the library) and
    ``/metrics`` merges the files.  Counters of a process that exited still
    count (their file stays until the next ``make run`` empties the
    directory); the WebSocket gauge is ``livesum``, and a scrape drops the
    files of processes that are gone (``mark_process_dead``), so a killed web
    worker's sockets stop counting.  The cost: an increment is a write to a
    memory-mapped file under a lock, about 0.6 µs (the process id is kept, see below).

Access
    ``/metrics`` answers a loopback client that came through no proxy, or any
    client sending ``Authorization: Bearer <METRICS_TOKEN>`` when that setting
    is set; others get 403.  See the README's Operations section.
"""

from __future__ import annotations

import glob
import hmac
import ipaddress
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from functools import wraps
from typing import Any

from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import values as _values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# --- the process id, kept -----------------------------------------------------------------------------
#
# In multiprocess mode every increment asks for the process id, to notice a fork and open the child's own
# file.  The library's default asks the kernel each time (``os.getpid`` is a system call since glibc 2.25):
# on every counted decision, cache read and traced command.  Here the id is kept, and renewed in a forked
# child (``os.register_at_fork``: Celery's prefork pool and the stream workers fork with ``os.fork``).  It
# must be set before the first metric exists: this module creates every metric of the project.
_pid = os.getpid()


def _process_id() -> int:
    return _pid


def _forked() -> None:
    global _pid
    _pid = os.getpid()


if _values.ValueClass is not _values.MutexValue:
    os.register_at_fork(after_in_child=_forked)
    _values.ValueClass = _values.MultiProcessValue(process_identifier=_process_id)

# --- app series --------------------------------------------------------------------------------------

CACHE_READS = Counter(
    "app_cache_reads", "Catalog cache reads by outcome (the X-Cache header): hit, miss, stale, bypass.",
    ["cache", "strategy", "outcome"])
RATELIMIT_DECISIONS = Counter(
    "app_ratelimit_decisions", "Rate-limit decisions per rule: allowed, denied, or Redis down and "
    "failed_open / failed_closed.", ["rule", "outcome"])
STREAM_MESSAGES = Counter(
    "app_stream_messages", "Stream entries handled by the workers, by outcome (ok, error).",
    ["stream", "group", "outcome"])
STREAM_HANDLER_SECONDS = Histogram(
    "app_stream_handler_seconds", "Time the stream handler took per entry.", ["stream", "group"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
CELERY_TASKS = Counter("app_celery_tasks", "Celery tasks finished, by task and state.", ["task", "state"])
CELERY_TASK_SECONDS = Histogram(
    "app_celery_task_seconds", "Celery task run time.", ["task"],
    buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0))
WEBSOCKETS = Gauge("app_websocket_connections", "Open WebSocket connections (all web processes).",
                   multiprocess_mode="livesum")
# From the command tracer, per request or WebSocket message.  Counters summed per trace (two increments per
# command name, not an observation per round trip: a histogram observation costs microseconds in multiprocess
# mode, which a 40-round-trip page would feel); the mean per command is rate(seconds) / rate(round trips).
REDIS_ROUND_TRIPS = Counter(
    "app_redis_roundtrips", "Redis round trips seen by the command tracer, by command (a pipeline or MULTI "
    "counts once, as PIPELINE).", ["command"])
REDIS_ROUND_TRIP_SECONDS = Counter(
    "app_redis_roundtrip_seconds", "Time spent in those round trips (writing, waiting, reading).", ["command"])
REDIS_TIME_PER_TRACE = Histogram(
    "app_redis_time_per_request_seconds", "Redis time of one request or WebSocket message, all its round trips.",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5))

_COMMAND = re.compile(r"[A-Z_.|-]{1,32}")


# --- hooks (one line each at the call site) -------------------------------------------------------------


def cache_read(cache: str, strategy: str, outcome: str) -> None:
    """Count one cache read (``outcome``: ``hit``, ``miss``, ``stale`` or ``bypass``)."""
    CACHE_READS.labels(cache, strategy, outcome).inc()


def counts_cache_reads(cache: str, *, strategy: str = "cache_aside", strategy_arg: str | None = None) -> Callable:
    """Decorate a selector returning an object with a ``state`` (``CacheState``): count each read.

    ``strategy_arg`` names a keyword argument whose value is the strategy
    (``tier`` for product reads: ``redis``, ``local``, ``replicas``).
    """

    def decorate(selector: Callable) -> Callable:
        @wraps(selector)
        def counted(*args: Any, **kwargs: Any) -> Any:
            read = selector(*args, **kwargs)
            chosen = str(kwargs.get(strategy_arg) or strategy) if strategy_arg else strategy
            CACHE_READS.labels(cache, chosen, str(read.state)).inc()
            return read

        return counted

    return decorate


_ratelimit_children: dict[tuple[str, str], Any] = {}


def ratelimit_decisions(rules: Sequence[Any], results: Sequence[Any]) -> None:
    """Count rate-limit results: each rule (``name``, ``fail_open``) with its ``Decision`` or Redis's exception.

    On every limited request, so the labelled child is looked up once per
    (rule, outcome) and kept: ``labels()`` takes a lock and validates its
    arguments each time (about 3 µs, a tenth of the middleware's budget).
    """
    for rule, result in zip(rules, results, strict=True):
        ratelimit_decision(rule, result)


def ratelimit_decision(rule: Any, result: Any) -> None:
    """``ratelimit_decisions`` for one rule, the usual case (no lists to build)."""
    if isinstance(result, BaseException):
        outcome = "failed_open" if rule.fail_open else "failed_closed"
    else:
        outcome = "allowed" if result.allowed else "denied"
    child = _ratelimit_children.get((rule.name, outcome))
    if child is None:
        child = _ratelimit_children[rule.name, outcome] = RATELIMIT_DECISIONS.labels(rule.name, outcome)
    child.inc()


def stream_handler(stream: str, group: str) -> Callable:
    """Decorate a stream handler: count each entry (ok / error) and time it."""
    ok = STREAM_MESSAGES.labels(stream, group, "ok")
    failed = STREAM_MESSAGES.labels(stream, group, "error")
    latency = STREAM_HANDLER_SECONDS.labels(stream, group)

    def decorate(handler: Callable) -> Callable:
        @wraps(handler)
        def timed(msg: Any) -> Any:
            t0 = time.perf_counter()
            try:
                result = handler(msg)
            except BaseException:
                failed.inc()
                raise
            finally:
                latency.observe(time.perf_counter() - t0)
            ok.inc()
            return result

        return timed

    return decorate


def stream_batch_handled(stream: str, group: str, ok: int, failed: int, seconds: float) -> None:
    """A batch handler's run over ``ok + failed`` entries: counted per entry, its time shared out evenly."""
    if ok:
        STREAM_MESSAGES.labels(stream, group, "ok").inc(ok)
    if failed:
        STREAM_MESSAGES.labels(stream, group, "error").inc(failed)
    n = ok + failed
    if n:
        latency = STREAM_HANDLER_SECONDS.labels(stream, group)
        for _ in range(n):
            latency.observe(seconds / n)


def websocket_opened(consumer: Any) -> None:
    """A socket was accepted (the consumer is marked, so only counted sockets are uncounted)."""
    if not getattr(consumer, "_metrics_counted", False):
        consumer._metrics_counted = True
        WEBSOCKETS.inc()


def websocket_closed(consumer: Any) -> None:
    """A socket that ``websocket_opened`` counted has gone."""
    if getattr(consumer, "_metrics_counted", False):
        consumer._metrics_counted = False
        WEBSOCKETS.dec()


def observe_trace(trace: Any) -> None:
    """Tracer observer: a closed trace's round trips and time, summed per command, and its total Redis time.

    On every request, so a command's display name and its two labelled series are worked out once per
    command and kept (``labels()`` takes a lock and validates its arguments: microseconds per call).
    """
    if not trace.round_trips:
        return
    per: dict[str, list[int]] = {}
    total_ns = 0
    for rt in trace.round_trips:
        commands = rt.commands
        if len(commands) != 1:
            name = "PIPELINE"
        else:
            first = commands[0][0] if commands[0] else "?"
            name = _command_names.get(first) or _command_name(first)
        count = per.get(name)
        if count is None:
            count = per[name] = [0, 0]
        count[0] += 1
        count[1] += rt.duration_ns
        total_ns += rt.duration_ns
    for name, (n, ns) in per.items():
        series = _command_series.get(name)
        if series is None:
            series = _command_series[name] = (REDIS_ROUND_TRIPS.labels(name), REDIS_ROUND_TRIP_SECONDS.labels(name))
        series[0].inc(n)
        series[1].inc(ns / 1e9)
    REDIS_TIME_PER_TRACE.observe(total_ns / 1e9)


_command_names: dict[Any, str] = {}
_command_series: dict[str, tuple[Any, Any]] = {}


def _command_name(first: Any) -> str:
    """The series label of a command: its upper-case name, or ``OTHER`` (kept: at most 512 names)."""
    name = (first.decode() if isinstance(first, bytes) else str(first)).upper()
    if not _COMMAND.fullmatch(name):
        name = "OTHER"
    if len(_command_names) < 512 and isinstance(first, str | bytes):
        _command_names[first] = name
    return name


_installed = False


def install() -> None:
    """Connect the tracer observer and Celery's task signals (once per process; ``OpsConfig.ready``)."""
    global _installed
    if _installed:
        return
    _installed = True
    from celery import signals

    from redis_patterns.tracing import observe_traces

    observe_traces(observe_trace)
    signals.task_prerun.connect(_task_started, weak=False)
    signals.task_postrun.connect(_task_finished, weak=False)


_task_t0: dict[str, float] = {}


def _task_started(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _task_t0[task_id] = time.perf_counter()


def _task_finished(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    name = getattr(task, "name", "?")
    CELERY_TASKS.labels(name, state or "UNKNOWN").inc()
    t0 = _task_t0.pop(task_id or "", None)
    if t0 is not None:
        CELERY_TASK_SECONDS.labels(name).observe(time.perf_counter() - t0)


# --- Redis series (read at scrape time) --------------------------------------------------------------------

#: INFO field -> (series name, help, kind); kind "counter" for totals since the server started.
_INFO_SERIES: dict[str, tuple[str, str, str]] = {
    "uptime_in_seconds": ("redis_uptime_seconds", "Seconds since the server started.", "gauge"),
    "connected_clients": ("redis_connected_clients", "Client connections.", "gauge"),
    "blocked_clients": ("redis_blocked_clients", "Clients in a blocking command (BLMOVE, XREADGROUP BLOCK).",
                        "gauge"),
    "used_memory": ("redis_memory_used_bytes", "Bytes allocated by Redis (INFO used_memory).", "gauge"),
    "used_memory_rss": ("redis_memory_used_rss_bytes", "Resident set size seen by the OS.", "gauge"),
    "used_memory_peak": ("redis_memory_used_peak_bytes", "Peak of used_memory.", "gauge"),
    "maxmemory": ("redis_memory_max_bytes", "maxmemory (0: no limit).", "gauge"),
    "mem_fragmentation_ratio": ("redis_mem_fragmentation_ratio", "RSS / used_memory.", "gauge"),
    "instantaneous_ops_per_sec": ("redis_instantaneous_ops_per_sec", "Commands per second (server's estimate).",
                                  "gauge"),
    "total_commands_processed": ("redis_commands_processed", "Commands processed.", "counter"),
    "total_connections_received": ("redis_connections_received", "Connections accepted.", "counter"),
    "keyspace_hits": ("redis_keyspace_hits", "Key lookups that found the key.", "counter"),
    "keyspace_misses": ("redis_keyspace_misses", "Key lookups that did not.", "counter"),
    "evicted_keys": ("redis_evicted_keys", "Keys evicted by maxmemory.", "counter"),
    "expired_keys": ("redis_expired_keys", "Keys removed because their TTL passed.", "counter"),
    "rdb_changes_since_last_save": ("redis_rdb_changes_since_last_save", "Writes not yet in an RDB snapshot.",
                                    "gauge"),
    "rdb_last_save_time": ("redis_rdb_last_save_timestamp_seconds", "Unix time of the last RDB save.", "gauge"),
    "aof_enabled": ("redis_aof_enabled", "1 when the append-only file is on.", "gauge"),
    "latest_fork_usec": ("redis_latest_fork_microseconds", "Duration of the latest fork (BGSAVE, AOF rewrite).",
                         "gauge"),
    "connected_slaves": ("redis_connected_replicas", "Replicas connected to this server.", "gauge"),
}


class RedisCollector:
    """Figures of the app's Redis and of its streams, read when Prometheus scrapes."""

    def describe(self) -> list[Metric]:
        return []  # read live on collect; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        from config.redis import get_redis

        up = GaugeMetricFamily("redis_up", "1 when the app's Redis answered this scrape.")
        try:
            info = get_redis().info()
        except Exception as exc:  # a scrape must answer even when Redis is down
            log.warning("metrics: Redis INFO failed: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _info_metrics(info)
        yield from _stream_metrics()


def _info_metrics(info: dict[str, Any]) -> Iterator[Metric]:
    server = InfoMetricFamily("redis_instance", "The server: version, mode and role.")
    server.add_metric([], {"version": str(info.get("redis_version", "?")), "mode": str(info.get("redis_mode", "?")),
                           "role": str(info.get("role", "?"))})
    yield server
    for field, (name, doc, kind) in _INFO_SERIES.items():
        value = info.get(field)
        if not isinstance(value, int | float):
            continue
        family = CounterMetricFamily(name, doc) if kind == "counter" else GaugeMetricFamily(name, doc)
        family.add_metric([], float(value))
        yield family
    ok = GaugeMetricFamily("redis_rdb_last_bgsave_ok", "1 when the last BGSAVE succeeded.")
    ok.add_metric([], 1.0 if info.get("rdb_last_bgsave_status", "ok") == "ok" else 0.0)
    yield ok
    keys = GaugeMetricFamily("redis_db_keys", "Keys per database.", labels=["db"])
    expiring = GaugeMetricFamily("redis_db_keys_expiring", "Keys with a TTL per database.", labels=["db"])
    for db, stats in info.items():
        if re.fullmatch(r"db\d+", str(db)) and isinstance(stats, dict):
            keys.add_metric([db], float(stats.get("keys", 0)))
            expiring.add_metric([db], float(stats.get("expires", 0)))
    yield keys
    yield expiring
    lag = GaugeMetricFamily("redis_replica_lag_seconds", "Seconds since each replica last acknowledged.",
                            labels=["replica"])
    for field, value in info.items():
        if re.fullmatch(r"slave\d+", str(field)) and isinstance(value, dict):
            lag.add_metric([f"{value.get('ip')}:{value.get('port')}"], float(value.get("lag", 0)))
    yield lag


def _stream_metrics() -> Iterator[Metric]:
    from workers.selectors import stream_overview

    try:
        overview = stream_overview()
    except Exception as exc:
        log.warning("metrics: XINFO failed: %s", exc)
        return
    length = GaugeMetricFamily("app_stream_length", "Entries in the stream (XLEN).", labels=["stream"])
    pending = GaugeMetricFamily("app_stream_group_pending", "Entries delivered and not acknowledged.",
                                labels=["stream", "group"])
    lag = GaugeMetricFamily("app_stream_group_lag", "Entries the group has not read yet.", labels=["stream", "group"])
    consumers = GaugeMetricFamily("app_stream_group_consumers", "Consumers in the group.", labels=["stream", "group"])
    acked = CounterMetricFamily("app_stream_group_acked", "Entries acknowledged (the workers' stats hash).",
                                labels=["stream", "group"])
    dead = CounterMetricFamily("app_stream_group_dead_lettered", "Entries moved to the dead-letter stream.",
                               labels=["stream", "group"])
    for stream in overview:
        if not stream.get("exists"):
            continue
        name = stream["stream"]
        length.add_metric([name], float(stream.get("length") or 0))
        for group in stream["groups"]:
            labels = [name, str(group["name"])]
            pending.add_metric(labels, float(group.get("pending") or 0))
            if group.get("lag") is not None:
                lag.add_metric(labels, float(group["lag"]))
            consumers.add_metric(labels, float(group.get("consumers") or 0))
            stats = group.get("stats") or {}
            if stats:
                acked.add_metric(labels, float(stats.get("acked", 0)))
                dead.add_metric(labels, float(stats.get("dead_lettered", 0)))
    yield from (length, pending, lag, consumers, acked, dead)


# --- the scrape -------------------------------------------------------------------------------------------


def multiprocess() -> bool:
    """True when this process keeps its values in ``PROMETHEUS_MULTIPROC_DIR`` (the normal case)."""
    return _values.ValueClass is not _values.MutexValue


def forget_dead_processes(directory: str | None = None) -> list[int]:
    """Drop the live-gauge files of processes that no longer run (their sockets closed with them)."""
    directory = directory or os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    gone = []
    for name in os.listdir(directory) if directory else []:
        match = re.fullmatch(r"gauge_live\w+?_(\d+)\.db", name)
        if match and not _alive(int(match.group(1))):
            gone.append(int(match.group(1)))
            mark_process_dead(int(match.group(1)), directory)
    return gone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Collector(MultiProcessCollector):
    """``MultiProcessCollector`` that reads a still-empty file as an empty one.

    prometheus-client creates a process's ``.db`` file, then sizes it: a
    scrape between the two met a 0-byte file, and its ``struct.error`` failed
    the whole scrape (a 500) instead of the one file; a process killed in that
    window left the empty file behind, failing every scrape after it
    (prometheus/client_python#1199, open).  Such a file holds nothing yet, so
    it is left out; every other file is read as before.
    """

    def collect(self) -> Any:
        files = [f for f in glob.glob(os.path.join(self._path, "*.db")) if _has_header(f)]
        return self.merge(files, accumulate=True)


def _has_header(path: str) -> bool:
    try:
        return os.path.getsize(path) >= 8  # the used-bytes header that read_all_values_from_file unpacks first
    except FileNotFoundError:  # removed meanwhile (a dead process's live gauges)
        return False


def exposition() -> bytes:
    """The scrape body: every process's app series (merged) and the Redis series, in the text format."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess():
        forget_dead_processes()
        _Collector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    redis_registry = CollectorRegistry(auto_describe=False)
    redis_registry.register(RedisCollector())
    return body + generate_latest(redis_registry)


def scrape_allowed(request: Any) -> bool:
    """A loopback client that came through no proxy, or the ``METRICS_TOKEN`` bearer token."""
    token = getattr(settings, "METRICS_TOKEN", "") or ""
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    if token and auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].strip().encode(), token.encode()):
        return True
    if int(getattr(settings, "RATELIMIT_TRUSTED_PROXIES", 0)) > 0:
        from config.ratelimit import client_ip

        address = client_ip(request)
    elif request.META.get("HTTP_X_FORWARDED_FOR") or request.META.get("HTTP_FORWARDED"):
        return False  # a proxy on this host forwarded it: the client is not local
    else:
        address = request.META.get("REMOTE_ADDR", "")
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
