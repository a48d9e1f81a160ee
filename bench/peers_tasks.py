"""Celery tasks for ``bench/peers.py``: the project's Celery settings, two tasks that record when they ran.

    celery -A bench.peers_tasks worker -P solo   # started by the benchmark itself
"""

from __future__ import annotations

import os
import time

import django
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

app = Celery("peers")
app.config_from_object("django.conf:settings", namespace="CELERY")


def _client():
    from config.redis import get_redis

    return get_redis()


@app.task(name="peers.record")
def record(task_id: str, sent_at: float) -> None:
    """Note when this task ran (the benchmark reads the latency from it)."""
    _client().hset(os.environ["PEERS_DONE_KEY"], task_id, repr(time.time()))


@app.task(name="peers.slow")
def slow(task_id: str) -> None:
    """Two seconds of work; the benchmark kills the worker in the middle."""
    client = _client()
    client.set("bench:{peers}:slow-started", "1", ex=60)
    time.sleep(2)
    client.incr("bench:{peers}:slow")
