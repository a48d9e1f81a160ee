"""Writes of the operations pages: provoking slow commands on a scratch server (never the app's).

A fresh install has an empty slow log, so the slow-log page offers a button
that shows what a slow command looks like.  It must not slow the site down to
do it, so it starts its own ``redis-server`` (``redis_patterns.servers``, a
free port, a temp dir), with ``slowlog-log-slower-than 1000`` (1 ms) and
``latency-monitor-threshold 5`` (ms), runs a few commands that are slow
because they are O(N) on big values, reads back ``SLOWLOG GET`` and
``LATENCY LATEST``/``HISTORY``, stops the server and keeps the capture in
``var/ops/scratch-slowlog.json`` for the page.  About a second of work.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import redis

from ops import selectors
from redis_patterns.servers import RedisServer

#: Members of the big set and number of small keys built on the scratch server.
SCRATCH_SIZE = 200_000

#: What runs, in order: (label, why it is slow, the command).  Names are literal: this is a scratch server.
_FILL_SET = "for i = 1, tonumber(ARGV[1]) do redis.call('SADD', KEYS[1], i) end return redis.call('SCARD', KEYS[1])"
_FILL_KEYS = ("for i = 1, tonumber(ARGV[1]) do redis.call('SET', 'k:' .. i, i) end "
              "return redis.call('DBSIZE')")


def scratch_slow_commands(size: int = SCRATCH_SIZE) -> dict[str, Any]:
    """Run slow commands on a scratch server and return (and keep) its slow log and latency events."""
    steps: list[dict[str, Any]] = []
    with RedisServer(name="ops-scratch", config={"slowlog-log-slower-than": "1000", "slowlog-max-len": "128",
                                                 "latency-monitor-threshold": "5"}) as server:
        client = redis.Redis(host=server.host, port=server.port, decode_responses=True, socket_timeout=30)
        try:
            def run(label: str, why: str, *args: Any) -> None:
                t0 = time.perf_counter()
                client.execute_command(*args)
                steps.append({"label": label, "why": why, "ms": round((time.perf_counter() - t0) * 1000, 1)})

            run("EVAL (a Lua loop of SADD)", f"one script adding {size:,} members: the server does nothing "
                "else until it returns", "EVAL", _FILL_SET, 1, "big:set", size)
            run("EVAL (a Lua loop of SET)", f"{size // 2:,} keys in one script", "EVAL", _FILL_KEYS, 0, size // 2)
            run("KEYS k:1*", "walks every key in the database: O(N) in the key count", "KEYS", "k:1*")
            run("SMEMBERS big:set", f"returns all {size:,} members in one reply", "SMEMBERS", "big:set")
            run("SORT big:set LIMIT 0 10", "sorts every member to return ten", "SORT", "big:set", "LIMIT", "0", "10")
            run("DEL big:set", "frees every member before replying (UNLINK frees it in the background)",
                "DEL", "big:set")
            result = {
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "server": f"redis-server on 127.0.0.1:{server.port} (scratch, stopped after the run)",
                "steps": steps,
                "slowlog": selectors.slowlog(limit=20, client=client),
                "latency": selectors.latency(client=client),
            }
        finally:
            client.close()
    path = selectors.scratch_result_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, default=str))
    return result

