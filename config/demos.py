"""Guards for the live demos: heavy runs one at a time site-wide; destructive ones on a scratch server.

Demo pages run real work on the live server when a visitor presses a
button.  Three guards keep one visitor from hurting the others:

- every demo ``POST`` is rate limited per visitor (the ``demos`` rule in
  ``RATELIMIT_RULES``, applied by the middleware);
- a *heavy* run (the stampede demo's 200 threads, the hot-key demo's 600
  reads) holds one of ``DEMO_HEAVY_SLOTS`` site-wide slots while it runs
  (``heavy_slot``, a lease in Redis: ``redis_patterns.semaphore``); when all
  are taken the page says so (429) instead of piling runs on top of each other;
- a *destructive* step (making the server forget its scripts) never touches
  the live server: it runs on a scratch server (``scratch_client``), a
  ``redis-server`` of its own (``DEMO_SCRATCH_REDIS_URL``, or one started on
  first use from ``PATH``, private to this process, stopped at exit).
"""

from __future__ import annotations

import atexit
import dataclasses
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings

from config.keys import heavy_slots_key
from config.redis import build_client, get_redis, redis_config
from redis_patterns import semaphore
from redis_patterns.scripts import loader


class DemoBusy(Exception):
    """Every heavy-demo slot is taken: another visitor's run is in progress."""


class NoScratchServer(Exception):
    """No scratch server is configured and no ``redis-server`` is on ``PATH`` to start one."""


@contextmanager
def heavy_slot(*, lease_s: float = 120.0) -> Iterator[None]:
    """Hold one of ``DEMO_HEAVY_SLOTS`` site-wide slots for the ``with`` block; ``DemoBusy`` when none is free.

    The lease outlives any run (a run is seconds); a process killed mid-run
    frees its slot when the lease ends.
    """
    client, run = get_redis(), secrets.token_hex(8)
    if not semaphore.acquire(client, loader("redis_patterns"), heavy_slots_key(), run,
                             limit=int(getattr(settings, "DEMO_HEAVY_SLOTS", 1)), lease_ms=int(lease_s * 1000)):
        raise DemoBusy("another visitor's run is in progress; try again in a few seconds")
    try:
        yield
    finally:
        client.zrem(heavy_slots_key(), run)


_scratch_lock = threading.Lock()
_scratch: dict[str, Any] = {}


def scratch_client() -> Any:
    """A client (traced like every other) on a Redis server that is not the site's: for destructive demo steps.

    ``DEMO_SCRATCH_REDIS_URL`` when set; otherwise a private ``redis-server``
    started on first use (no persistence, loopback, a free port), shared by
    this process's requests and stopped when it exits.  ``NoScratchServer``
    when neither is possible (e.g. an image without a ``redis-server`` binary).
    """
    with _scratch_lock:
        client = _scratch.get("client")
        if client is not None:
            return client
        url = getattr(settings, "DEMO_SCRATCH_REDIS_URL", "") or ""
        if not url:
            from redis_patterns.servers import RedisServer, RedisServerError

            try:
                server = RedisServer(name="demo-scratch").start()
            except RedisServerError as exc:
                raise NoScratchServer(str(exc)) from None
            atexit.register(server.cleanup)
            _scratch["server"] = server
            url = server.url
        config = dataclasses.replace(redis_config(), url=url, sentinels=[], cluster_nodes=[], username=None,
                                     password=None)
        client = _scratch["client"] = build_client(config=config)
        return client
