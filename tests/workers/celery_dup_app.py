"""The project's Celery app with a short visibility timeout, for the duplicate-execution test.

    celery -A tests.workers.celery_dup_app worker ...

``CELERY_TEST_VISIBILITY_TIMEOUT`` (seconds) replaces the 3600 s of the real
settings, and the restore sweep runs every second instead of every ~100 s, so
the pitfall shows within seconds.  Two tasks block until the test sets a
release key, so they outlive the visibility timeout:

- ``tests.slow_naive`` counts its runs and does its side effect every time;
- ``tests.slow_idempotent`` does the same work inside ``workers.queues.run_once``.
"""

from __future__ import annotations

import functools
import os
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import redis  # noqa: E402

from config.celery import app  # noqa: E402
from workers.queues import AlreadyDone, AlreadyRunning, run_once  # noqa: E402

app.conf.broker_transport_options = {
    **app.conf.broker_transport_options,
    "visibility_timeout": int(os.environ.get("CELERY_TEST_VISIBILITY_TIMEOUT", "2")),
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}


@functools.cache
def _counters() -> redis.Redis:
    """The test's own counters (not the app's keys): as the server's default user, like the test process.

    One client (one pool) per worker process, as ``get_redis()`` would be.
    """
    return redis.Redis.from_url(os.environ["REDIS_TEST_SCAFFOLD_URL"], decode_responses=True)


def _work(run_id: str) -> None:
    r = _counters()
    r.incr(f"t:{run_id}:effects")  # the side effect that must happen once (an email, a charge)
    deadline = time.monotonic() + 60
    # "long work": until the test says stop (it waits for the redelivery first)
    while not r.exists(f"t:{run_id}:release") and time.monotonic() < deadline:
        time.sleep(0.05)


@app.task(name="tests.slow_naive")
def slow_naive(run_id: str) -> None:
    _counters().incr(f"t:{run_id}:deliveries")
    _work(run_id)


@app.task(bind=True, name="tests.slow_idempotent", max_retries=None)
def slow_idempotent(self, run_id: str) -> str:
    _counters().incr(f"t:{run_id}:deliveries")
    try:
        with run_once("tests.slow_idempotent", run_id, lease_s=120):
            _work(run_id)
    except AlreadyDone:
        return "skipped: done by an earlier delivery"
    except AlreadyRunning as exc:
        # Not now: the first delivery is still at it. Look again shortly.
        raise self.retry(countdown=min(exc.retry_in, 1)) from None
    return "done"
