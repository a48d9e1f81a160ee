"""The other process of ``bench/client_cache.py``: holds one hot-key tier and watches a key change.

    python -m bench.cache_reader HOST PORT TIER KEY CHANNEL

Prints ``ready`` once its tier is listening, then reads ``KEY`` through the
tier in a loop (pausing ``POLL_S`` between reads, so the measurement's
resolution is about that) and notes the ``time.monotonic()`` at which each new
value first showed up; ``time.monotonic()`` is one clock for every process of
the machine.  Stops when it reads the value ``stop`` and prints the
observations as one JSON line: ``[[value, t], ...]``.
"""

from __future__ import annotations

import json
import random
import sys
import time

import redis
from redis.maint_notifications import MaintNotificationsConfig

from redis_patterns import hotkeys
from redis_patterns.tracking import TrackingCache, TrackingMode

POLL_S = 0.00005
REPLICAS = 4


def replica_keys(key: str) -> list[str]:
    return [f"{key}:r{i}" for i in range(REPLICAS)]


def main() -> None:
    host, port, tier, key, channel = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    client = redis.Redis(host=host, port=port, decode_responses=True, socket_timeout=5)

    def factory(protocol: int) -> redis.Connection:
        return redis.Connection(host=host, port=port, protocol=protocol, decode_responses=True, socket_timeout=5,
                                maint_notifications_config=MaintNotificationsConfig(enabled=False))

    closers = []
    if tier == "plain":
        def read() -> object:
            return client.get(key)
    elif tier == "replicas":
        names = replica_keys(key)

        def read() -> object:
            return client.get(names[random.randrange(REPLICAS)])
    elif tier == "pubsub":
        local = hotkeys.LocalTier(ttl=1.0)
        bus = hotkeys.InvalidationBus(lambda: redis.Redis(host=host, port=port, decode_responses=True,
                                                          socket_timeout=5), channel, local).start()
        bus.subscribed.wait(10)
        closers.append(bus.stop)

        def read() -> object:
            value = local.get(key)
            if value is local.MISSING:
                value = client.get(key)
                local.put(key, value)
            return value
    else:
        mode = TrackingMode.BCAST if tier == "tracking_bcast" else TrackingMode.DEFAULT
        cache = TrackingCache(factory, mode=mode, prefixes=(key,) if mode == TrackingMode.BCAST else (),
                              name="bench reader").start()
        cache.ready.wait(10)
        closers.append(cache.stop)

        def read() -> object:
            return cache.read(key)[0]

    last = read()
    seen: list[tuple[object, float]] = []
    print("ready", flush=True)
    while True:
        value = read()
        if value != last:
            seen.append((value, time.monotonic()))
            last = value
            if value == "stop":
                break
        time.sleep(POLL_S)
    for close in closers:
        close()
    print(json.dumps(seen), flush=True)


if __name__ == "__main__":
    main()
