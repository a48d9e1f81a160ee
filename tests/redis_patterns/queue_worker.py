"""A reliable-queue worker process for tests: ``python -m tests.redis_patterns.queue_worker URL NAME``.

Takes jobs with ``BLMOVE``; for each it records that it started (``INCR
t:started:<job>``), then, if the job's text contains "hang" and this is its
first start, waits for ever (so the test can SIGKILL it mid-job); otherwise records the effect
(``SADD t:done``, ``INCR t:effects:<job>``) and acks.  Exits when it takes
the job "stop".
"""

from __future__ import annotations

import sys

import redis

from redis_patterns.queues import ReliableQueue


def main() -> None:
    url, name = sys.argv[1], sys.argv[2]
    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10)
    q = ReliableQueue(client, "t:q:{w}:ready", "t:q:{w}:processing", "t:q:{w}:deadlines", lease_ms=60_000)
    while True:
        job = q.take(timeout=5)
        if job is None:
            continue
        started = client.incr(f"t:started:{job}")
        client.rpush("t:taken-by", f"{name}:{job}")
        if job == "stop":
            q.ack(job)
            return
        if "hang" in job and started == 1:
            client.blpop(["t:never"], timeout=0)  # blocks until killed
        client.sadd("t:done", job)
        client.incr(f"t:effects:{job}")
        q.ack(job)


if __name__ == "__main__":
    main()
