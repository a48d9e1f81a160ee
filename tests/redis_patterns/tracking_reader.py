"""A second process holding a ``TrackingCache``, driven over stdin/stdout (JSON lines).

``python -m tests.redis_patterns.tracking_reader HOST PORT MODE [PREFIX ...]``

Prints ``{"ready": true, "listener_id": n}`` once its listener is connected,
then answers one line per request:

- ``{"op": "read", "key": k}`` -> ``{"value", "hit", "t", "error", "before"}`` (``t``:
  ``time.monotonic()``, which is one clock for every process of the machine;
  ``before``: the cache's ``flushes`` and ``dropped`` counters when the read began)
- ``{"op": "stats"}`` -> the cache's ``snapshot()``
- ``{"op": "wait_ready"}`` -> ``{"ready": bool, "listener_id"}`` after waiting up to 15 s
- ``{"op": "quit"}``
"""

from __future__ import annotations

import json
import sys
import time

import redis
from redis.maint_notifications import MaintNotificationsConfig

from redis_patterns.tracking import TrackingCache, TrackingMode

MAX_SILENCE = 1.0
DEAD_AFTER = 2.5


def main() -> None:
    host, port, mode, *prefixes = sys.argv[1:]

    def factory(protocol: int) -> redis.Connection:
        return redis.Connection(host=host, port=int(port), protocol=protocol, decode_responses=True,
                                socket_timeout=1.0, socket_connect_timeout=1.0,
                                maint_notifications_config=MaintNotificationsConfig(enabled=False))

    cache = TrackingCache(factory, mode=TrackingMode(mode), prefixes=prefixes, heartbeat=0.2,
                          max_silence=MAX_SILENCE, dead_after=DEAD_AFTER, name="reader").start()
    ready = cache.ready.wait(15)
    print(json.dumps({"ready": ready, "listener_id": cache.listener_id}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        if op == "read":
            # What this process had been told *before* the read started: an invalidation it had
            # received, or a drop it had seen, must never be followed by the old value.
            before = {"flushes": cache.stats.flushes, "dropped": cache.stats.dropped}
            try:
                value, hit = cache.read(request["key"])
                reply = {"value": value, "hit": hit, "t": time.monotonic(), "error": None, "before": before}
            except redis.RedisError as exc:
                reply = {"value": None, "hit": False, "t": time.monotonic(), "error": type(exc).__name__,
                         "before": before}
        elif op == "stats":
            reply = cache.snapshot()
        elif op == "wait_ready":
            reply = {"ready": cache.ready.wait(15), "listener_id": cache.listener_id}
        elif op == "quit":
            break
        else:
            reply = {"error": f"unknown op {op}"}
        print(json.dumps(reply), flush=True)
    cache.stop()


if __name__ == "__main__":
    main()
