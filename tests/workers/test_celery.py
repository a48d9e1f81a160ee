"""Celery for real: worker and beat processes on the private Redis.

- The duplicate-execution pitfall: with ``acks_late``, a task still running
  when the broker's ``visibility_timeout`` passes is handed to another worker
  process and runs twice.  Shown with a 2 s timeout and a task that outlives
  it; then avoided twice over: the same task made idempotent with
  ``run_once`` does its side effect once, and a timeout larger than the task
  (the project's 3600 s, with a 600 s hard time limit) never redelivers it.
- The Procfile's ``celery`` and ``beat`` lines, run as written: beat
  schedules the delayed-job promoter and the worker runs it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.checks import Error

from config.checks import check_celery_visibility_timeout
from redis_patterns.queues import now_ms
from tests.conftest import wait_for
from workers import queues

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
PREFIX = "t:celery:"  # global_keyprefix in tests (REDIS_KEY_PREFIX=t)
SHORT_TIMEOUT_S = 2


class Proc:
    """A process group we started (celery forks children): stopped with its whole group."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env or os.environ.copy(), stdout=self._out,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # warm shutdown
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._out.close()


def start_worker(tmp_path: Path, app: str, name: str, env_extra: dict[str, str], concurrency: int = 4) -> Proc:
    env = {**os.environ, **env_extra}
    worker = Proc([CELERY, "-A", app, "worker", "-l", "info", "--concurrency", str(concurrency),
                   "-n", f"{name}@%h", "--without-gossip", "--without-mingle"], tmp_path / f"{name}.log", env)
    try:
        wait_for(lambda: " ready." in worker.text() or worker.proc.poll() is not None, timeout=60)
    except AssertionError:
        worker.stop()
        raise
    assert worker.proc.poll() is None, worker.text()[-3000:]
    return worker


def settled(raw_redis) -> bool:
    """Nothing queued, nothing taken-but-unacknowledged."""
    return raw_redis.llen(f"{PREFIX}celery") == 0 and raw_redis.hlen(f"{PREFIX}unacked") == 0


def message_age_s(raw_redis) -> float:
    """Seconds since the oldest unacknowledged message was taken, by the server's clock."""
    oldest = raw_redis.zrange(f"{PREFIX}unacked_index", 0, 0, withscores=True)
    if not oldest:
        return 0.0
    seconds, micros = raw_redis.time()
    return seconds + micros / 1e6 - oldest[0][1]


def count(raw_redis, run_id: str, what: str) -> int:
    return int(raw_redis.get(f"t:{run_id}:{what}") or 0)


@pytest.fixture
def dup_worker(tmp_path, redis_server) -> Iterator[Proc]:
    worker = start_worker(tmp_path, "tests.workers.celery_dup_app", "short",
                          {"CELERY_TEST_VISIBILITY_TIMEOUT": str(SHORT_TIMEOUT_S)})
    yield worker
    worker.stop()


@pytest.mark.scratch_keys
def test_duplicate_execution_pitfall_and_the_idempotent_fix(dup_worker, raw_redis):
    from config.celery import app

    naive, safe = f"naive-{uuid.uuid4().hex[:6]}", f"safe-{uuid.uuid4().hex[:6]}"
    app.send_task("tests.slow_naive", args=[naive])
    app.send_task("tests.slow_idempotent", args=[safe])
    # Both outlive the 2 s visibility timeout; the broker hands each to a second worker process.
    wait_for(lambda: count(raw_redis, naive, "deliveries") >= 2 and count(raw_redis, safe, "deliveries") >= 2,
             timeout=60)
    assert raw_redis.hlen(f"{PREFIX}unacked") >= 2, "taken, not acknowledged (acks_late)"
    # the pitfall: the side effect ran twice (the second run counts its delivery a moment before its effect)
    wait_for(lambda: count(raw_redis, naive, "effects") >= 2, timeout=10)
    assert count(raw_redis, safe, "effects") == 1, "run_once: a second delivery does not redo the work"
    raw_redis.set(f"t:{naive}:release", 1, ex=60)
    raw_redis.set(f"t:{safe}:release", 1, ex=60)
    wait_for(lambda: settled(raw_redis) and "succeeded" in dup_worker.text(), timeout=60)
    assert count(raw_redis, safe, "effects") == 1, "still once after every redelivery and retry has run"
    assert count(raw_redis, naive, "effects") == count(raw_redis, naive, "deliveries") >= 2


@pytest.mark.scratch_keys
def test_a_visibility_timeout_longer_than_the_task_means_no_redelivery(tmp_path, redis_server, raw_redis):
    from config.celery import app

    worker = start_worker(tmp_path, "tests.workers.celery_dup_app", "long",
                          {"CELERY_TEST_VISIBILITY_TIMEOUT": "60"}, concurrency=2)
    try:
        run = f"long-{uuid.uuid4().hex[:6]}"
        app.send_task("tests.slow_naive", args=[run])
        wait_for(lambda: count(raw_redis, run, "deliveries") == 1, timeout=30)
        # The same wait that produced a duplicate above: the task has been running longer than the
        # short timeout plus two restore sweeps (1 s each), measured on the server's clock.
        wait_for(lambda: message_age_s(raw_redis) > SHORT_TIMEOUT_S + 2, timeout=30)
        raw_redis.set(f"t:{run}:release", 1, ex=60)
        wait_for(lambda: settled(raw_redis) and "succeeded" in worker.text(), timeout=30)
        assert count(raw_redis, run, "deliveries") == 1
        assert count(raw_redis, run, "effects") == 1
    finally:
        worker.stop()


def test_settings_keep_the_hard_time_limit_below_the_visibility_timeout(settings):
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_ACCEPT_CONTENT == ["json"]
    assert settings.CELERY_TASK_TIME_LIMIT < settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert check_celery_visibility_timeout() == []
    settings.CELERY_TASK_TIME_LIMIT = 7200
    errors = check_celery_visibility_timeout()
    assert len(errors) == 1 and isinstance(errors[0], Error) and errors[0].id == "site_config.E004"


def test_beat_schedule_names_registered_tasks():
    from django.conf import settings

    from config.celery import app

    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"{name}: {entry['task']} is not a registered task"


def _procfile_command(name: str, schedule: Path) -> list[str]:
    line = next(ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith(f"{name}:"))
    command = line.split(":", 1)[1].strip().replace(".venv/bin/celery", CELERY)
    # ${NAME:-default}, as honcho's shell expands it (PROC_LOG_LEVEL is set by scripts/run.sh only: info here)
    command = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: os.environ.get(m.group(1)) or m.group(2), command)
    command = re.sub(r"--schedule \S+", f"--schedule {schedule}", command)
    return command.split()


def test_procfile_worker_and_beat_promote_delayed_jobs(tmp_path, redis_server, raw_redis):
    """`make run`'s two Celery processes, as the Procfile starts them, do their scheduled work."""
    q = queues.demo_queues()
    q.delayed.schedule('{"id":"beat","label":"due now"}', run_at_ms=now_ms() - 1)
    worker = Proc(_procfile_command("celery", tmp_path / "unused"), tmp_path / "worker.log")
    beat = Proc(_procfile_command("beat", tmp_path / "celerybeat-schedule"), tmp_path / "beat.log")
    try:
        wait_for(lambda: q.reliable.ready() == ['{"id":"beat","label":"due now"}'], timeout=60)
        assert "workers.tasks.promote_delayed_jobs" in beat.text()
        assert "workers.tasks.promote_delayed_jobs" in worker.text()
    finally:
        beat.stop()
        worker.stop()
