"""``python manage.py run_stream_worker orders --group fulfilment --consumer w1 [--processes N]``.

Runs the consumer-group worker (``redis_patterns.streams.StreamWorker``) on
a stream registered in ``workers.handlers.STREAMS``, plus the outbox relay
and its reconciler (``--no-relay`` to leave both to another process): the
relay publishes committed messages nobody published, the reconciler
publishes again those Redis lost after they were published
(``shop.checkout.outbox_reconcile``).

- One process (default): the worker loop in the main thread, the relay in a
  background thread.
- ``--processes N``: a supervisor forks N worker processes named
  ``<consumer>-1`` ... ``<consumer>-N`` (stable names: a restarted process
  finds its own pending entries), runs the relay itself, restarts a worker
  that dies (with backoff), and passes SIGTERM/SIGINT on to them.

Each batch it reads (``--count``, 10) is handled at once where the stream has a
batch handler (the orders stream: one database transaction per batch; see
``workers.handlers.order_batch_handler``); ``--one-by-one`` handles each entry
on its own instead, as the worker also does for a batch whose transaction failed.

SIGTERM or SIGINT (Ctrl-C): each worker finishes its batch, acknowledges it
and leaves.  Progress is logged every 10 s; ``LOG_LEVEL=DEBUG`` logs every
batch with its Redis command count and time.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connections
from redis.exceptions import RedisError

from config.redis import build_client
from redis_patterns.streams import StreamWorker, WorkerConfig
from shop.checkout import outbox_reconcile, outbox_relay_once
from workers.handlers import STREAMS, before_batch

log = logging.getLogger("workers.run_stream_worker")


def worker_config(options: dict[str, Any], consumer: str) -> WorkerConfig:
    spec = STREAMS[options["stream"]]
    lab = options.get("lab") or None
    return WorkerConfig(
        stream=spec.stream(lab),
        group=options["group"],
        consumer=consumer,
        dead_letter=spec.dead_letter(lab),
        stats=spec.stats(options["group"], lab),
        count=options["count"],
        block_ms=options["block_ms"],
        claim_idle_ms=options["claim_idle_ms"],
        claim_every_s=options["claim_every"],
        max_deliveries=options["max_deliveries"],
        trim_every_s=options["trim_every"],
        crash_before_ack_after_batches=options.get("crash_before_ack_after") or None,
    )


def run_worker(options: dict[str, Any], consumer: str) -> None:
    """One worker process: its own client, with a socket timeout longer than the BLOCK."""
    cfg = worker_config(options, consumer)
    client = build_client(socket_timeout=cfg.block_ms / 1000 + 5)
    spec = STREAMS[options["stream"]]
    handle_many = spec.make_batch_handler(cfg) if spec.make_batch_handler and not options.get("one_by_one") else None
    worker = StreamWorker(client, cfg, spec.make_handler(cfg), handle_many=handle_many, on_batch=before_batch)
    if threading.current_thread() is threading.main_thread():
        worker.install_signal_handlers()
    try:
        worker.run()
    finally:
        client.close()
        connections.close_all()


def _child(options: dict[str, Any], consumer: str) -> None:
    # A forked child: the supervisor closed its database connections before fork(),
    # so this process opens its own; redis-py pools notice the fork by themselves.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    run_worker(options, consumer)


class Relay(threading.Thread):
    """Publishes committed-but-unpublished outbox messages every ``every`` seconds, and every
    ``reconcile_every`` seconds publishes again those of orders whose stream entry Redis lost."""

    def __init__(self, every: float, stop: threading.Event, *, reconcile_every: float = 5.0,
                 reconcile_after: float = 15.0) -> None:
        super().__init__(name="outbox-relay", daemon=True)
        self.every = every
        self.stop_event = stop
        self.reconcile_every = reconcile_every
        self.reconcile_after = timedelta(seconds=reconcile_after)

    def run(self) -> None:
        log.info("outbox relay: checking every %.1fs; lost messages every %.1fs (orders stuck %.0fs)",
                 self.every, self.reconcile_every, self.reconcile_after.total_seconds())
        failures = 0
        next_reconcile = time.monotonic()
        while not self.stop_event.is_set():
            try:
                close_old_connections()
                outbox_relay_once(grace=timedelta(seconds=2))
                if self.reconcile_every > 0 and time.monotonic() >= next_reconcile:
                    next_reconcile = time.monotonic() + self.reconcile_every
                    outbox_reconcile(stale_after=self.reconcile_after)
                failures = 0
            except (RedisError, OSError) as exc:
                failures += 1
                log.warning("outbox relay: Redis unavailable (%s); retrying", exc)
            except Exception:  # a database hiccup must not kill the relay thread
                failures += 1
                log.exception("outbox relay: failed; retrying")
            self.stop_event.wait(min(30.0, self.every * 2 ** min(failures, 5)))
        connections.close_all()


class Command(BaseCommand):
    help = "Consume a Redis stream through a consumer group (and relay the outbox)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("stream", choices=sorted(STREAMS), help="which stream (see workers/handlers.py)")
        parser.add_argument("--group", default="fulfilment", help="consumer group (default: fulfilment)")
        parser.add_argument("--consumer", default=socket.gethostname(),
                            help="consumer name, stable across restarts (default: the host name)")
        parser.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
        # Entries one XREADGROUP hands to this consumer, which then holds them until it has handled them
        # all: with a handler of milliseconds (an order: one transaction), 10 keeps a burst spread over
        # every process (4 processes on 600 orders: 1.96x one instead of 1.71x at 100, bench streams) for
        # one more read per 10 entries (~50 µs against ~40 ms of work).
        parser.add_argument("--count", type=int, default=10,
                            help="entries per XREADGROUP, held by this consumer until handled (default 10)")
        parser.add_argument("--block-ms", type=int, default=2000, help="XREADGROUP BLOCK (default 2000)")
        parser.add_argument("--claim-idle-ms", type=int, default=30_000,
                            help="claim entries pending longer than this (default 30000)")
        parser.add_argument("--claim-every", type=float, default=5.0, help="seconds between claim passes")
        parser.add_argument("--max-deliveries", type=int, default=5, help="dead-letter after this many")
        parser.add_argument("--trim-every", type=float, default=30.0, help="seconds between trims (0: never)")
        parser.add_argument("--one-by-one", action="store_true",
                            help="handle each entry on its own even where the stream has a batch handler")
        parser.add_argument("--no-relay", action="store_true", help="do not run the outbox relay here")
        parser.add_argument("--relay-every", type=float, default=1.0, help="seconds between relay passes")
        parser.add_argument("--reconcile-every", type=float, default=5.0,
                            help="seconds between checks for messages Redis lost (0: never)")
        parser.add_argument("--reconcile-after", type=float, default=15.0,
                            help="an order still not done this many seconds after its last change is checked")
        parser.add_argument("--lab", default="", help=argparse.SUPPRESS)  # lab_streams' private stream
        parser.add_argument("--crash-before-ack-after", type=int, default=0,
                            help="fault injection (labs, tests): SIGKILL itself after N batches, before XACK")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["processes"] < 1:
            raise CommandError("--processes must be at least 1")
        if options["block_ms"] < 1 or options["count"] < 1:
            raise CommandError("--block-ms and --count must be positive")
        stop = threading.Event()
        relay = None if options["no_relay"] else Relay(options["relay_every"], stop,
                                                      reconcile_every=options["reconcile_every"],
                                                      reconcile_after=options["reconcile_after"])
        if options["processes"] == 1:
            if relay:
                relay.start()
            try:
                run_worker(options, options["consumer"])
            finally:
                stop.set()
            return
        self._supervise(options, stop, relay)

    def _supervise(self, options: dict[str, Any], stop: threading.Event, relay: Relay | None) -> None:
        ctx = multiprocessing.get_context("fork")
        n = options["processes"]
        names = [f"{options['consumer']}-{i}" for i in range(1, n + 1)]
        children: dict[str, Any] = {}
        restarts: dict[str, float] = {}

        def start(name: str) -> None:
            connections.close_all()  # never share a database connection across fork()
            proc = ctx.Process(target=_child, args=(options, name), name=name)
            proc.start()
            children[name] = proc
            log.info("supervisor: started %s (pid %s)", name, proc.pid)

        def on_signal(signum: int, _frame: Any) -> None:
            if not stop.is_set():
                log.info("supervisor: %s; stopping %d workers after their batch", signal.Signals(signum).name, n)
            stop.set()
            for proc in children.values():
                if proc.is_alive() and proc.pid:
                    os.kill(proc.pid, signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        for name in names:
            start(name)
        if relay:
            relay.start()
        backoff = dict.fromkeys(names, 1.0)
        while not stop.is_set():
            for name, proc in list(children.items()):
                if proc.is_alive() or stop.is_set():
                    continue
                now = time.monotonic()
                if now < restarts.get(name, 0):
                    continue
                log.warning("supervisor: %s exited with %s; restarting in %.0fs", name, proc.exitcode,
                            backoff[name])
                restarts[name] = now + backoff[name]
                backoff[name] = min(backoff[name] * 2, 30.0)
                stop.wait(restarts[name] - now)
                if not stop.is_set():
                    start(name)
            stop.wait(0.5)
        for proc in children.values():
            proc.join(timeout=60)
            if proc.is_alive():
                log.warning("supervisor: %s did not stop in 60s; killing it", proc.name)
                proc.kill()
        log.info("supervisor: all workers stopped")
