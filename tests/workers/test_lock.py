"""The fence in the database: a paused holder's late write is rejected.

The SIGSTOP test runs two real lock-holder processes (``fence_holder.py``)
against the session's private Redis and a database all three processes
share.  pytest-django's default in-memory SQLite is private to one process,
so the test gives the holders their own database:

- a SQLite *file* in a temp dir (always: nothing to install, WAL mode as in
  production settings), and
- PostgreSQL at 127.0.0.1:5432 (user ``postgres``, trust auth) when one is
  reachable: a throwaway database ``fence_<random>`` is created and dropped;
  otherwise that case is skipped with the reason.

Each is migrated with ``manage.py migrate workers`` (the fencing migration is
self-contained), and the test reads the outcome with the plain driver.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from redis_patterns.lock import LockUnavailable
from tests.conftest import wait_for
from workers import keys, locks
from workers.models import FencedResource, FencedWriteAttempt
from workers.tasks import SNAPSHOT_LOCK, SNAPSHOT_RESOURCE, snapshot_queue_depths_once

ROOT = Path(__file__).resolve().parents[2]
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}


# --- the fenced write, in-process ------------------------------------------------------------


@pytest.mark.django_db
def test_fenced_write_accepts_only_increasing_fences():
    assert locks.fenced_write(resource="r", value={"v": 1}, fence=5, writer="w5") is True
    assert locks.fenced_write(resource="r", value={"v": 2}, fence=5, writer="w5-again") is False, "equal: rejected"
    assert locks.fenced_write(resource="r", value={"v": 3}, fence=4, writer="w4") is False, "lower: rejected"
    assert locks.fenced_write(resource="r", value={"v": 4}, fence=9, writer="w9") is True
    row = FencedResource.objects.get(name="r")
    assert (row.value, row.fence, row.writer) == ({"v": 4}, 9, "w9")
    verdicts = [(a.writer, a.accepted) for a in FencedWriteAttempt.objects.order_by("id")]
    assert verdicts == [("w5", True), ("w5-again", False), ("w4", False), ("w9", True)]
    with pytest.raises(ValueError):
        locks.fenced_write(resource="r", value={}, fence=0, writer="x")


@pytest.mark.django_db
def test_fenced_write_is_one_conditional_update():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    locks.fenced_write(resource="r", value={}, fence=1, writer="w")
    with CaptureQueriesContext(connection) as queries:
        locks.fenced_write(resource="r", value={"x": 1}, fence=2, writer="w")
    updates = [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1 and '"fence" <' in updates[0]


# --- the singleton job -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_singleton_job_skips_while_another_holds_the_lock_and_writes_through_the_fence(r):
    other = locks.job_lock(SNAPSHOT_LOCK).try_acquire()
    assert snapshot_queue_depths_once(writer="me") == {"ran": False, "reason": "another worker holds the lock"}
    assert not FencedResource.objects.filter(name=SNAPSHOT_RESOURCE).exists()
    locks.job_lock(SNAPSHOT_LOCK).release(other)
    result = snapshot_queue_depths_once(writer="me")
    assert result["ran"] and result["accepted"] and result["fence"] == other.fence + 1
    row = FencedResource.objects.get(name=SNAPSHOT_RESOURCE)
    assert row.fence == result["fence"] and set(row.value) == {"priority", "delayed", "ready", "processing"}
    assert r.exists(keys.lock_key(SNAPSHOT_LOCK)) == 0, "released after the run"
    # A stale run (an older fence) arriving now is refused by the row.
    assert locks.fenced_write(resource=SNAPSHOT_RESOURCE, value={}, fence=other.fence, writer="stale") is False


@pytest.mark.django_db
def test_singleton_job_fails_closed_when_redis_is_down(redis_server):
    redis_server.stop()  # the autouse fixture restarts it after the test
    try:
        assert snapshot_queue_depths_once(writer="me")["ran"] is False
        with pytest.raises(LockUnavailable):
            locks.job_lock("x").try_acquire()
    finally:
        redis_server.start()


# --- SIGSTOP: two real holder processes, one shared database ---------------------------------------


class Holder:
    def __init__(self, env: dict[str, str], name: str, ttl_ms: int, writer: str, resource: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.workers.fence_holder", name, str(ttl_ms), writer, resource],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def read(self, timeout: float = 30) -> dict:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, f"holder {self.proc.pid} said nothing within {timeout}s"
        line = self.proc.stdout.readline()
        assert line, f"holder {self.proc.pid} exited with {self.proc.poll()}"
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout):
            stream.close()


def _postgres_available() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        psycopg.connect(**PG, connect_timeout=2).close()
    except Exception as exc:  # any reason it cannot connect
        return f"no PostgreSQL at 127.0.0.1:5432 with trust auth for user postgres ({type(exc).__name__})"
    return None


@pytest.fixture(params=["sqlite-file", "postgresql"])
def shared_db(request, tmp_path) -> Iterator[tuple[str, object]]:
    """``(DATABASE_URL, connect())`` for a database the test and its subprocesses share."""
    if request.param == "sqlite-file":
        path = tmp_path / "fence.sqlite3"
        yield f"sqlite:///{path}", lambda: sqlite3.connect(path)
        return
    reason = _postgres_available()
    if reason:
        pytest.skip(reason)
    import psycopg

    name = f"fence_{secrets.token_hex(4)}"
    with psycopg.connect(**PG, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield (f"postgres://postgres@127.0.0.1:5432/{name}",
               lambda: psycopg.connect(**{**PG, "dbname": name}))
    finally:
        with psycopg.connect(**PG, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_paused_holder_write_is_rejected_by_the_fence(shared_db, raw_redis, tmp_path):
    """A holds the lock, is SIGSTOPped past its TTL; B takes the lock and writes; A resumes and writes: rejected."""
    url, connect = shared_db
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "workers", "-v0"], cwd=ROOT, env=env, check=True,
                   timeout=120)
    name, resource = "fence-test", "report"
    lock_key = keys.lock_key(name)

    a = Holder(env, name, 500, "A", resource)
    b = None
    try:
        fence_a = a.read()["fence"]
        os.kill(a.proc.pid, signal.SIGSTOP)  # A is frozen while it believes it holds the lock
        wait_for(lambda: raw_redis.exists(lock_key) == 0, timeout=10)  # ...past its TTL
        b = Holder(env, name, 30_000, "B", resource)
        fence_b = b.read()["fence"]
        assert fence_b > fence_a
        assert b.ask("write") == {"accepted": True}
        os.kill(a.proc.pid, signal.SIGCONT)
        assert a.ask("write") == {"accepted": False}, "the stale holder's write must be rejected"
        assert a.ask("release") == {"released": False}, "and it cannot release B's lock"
        assert raw_redis.get(lock_key) is not None, "B still holds it"
        assert b.ask("release") == {"released": True}
    finally:
        a.close()
        if b is not None:
            b.close()

    conn = connect()
    try:
        cur = conn.cursor()
        cur.execute("SELECT name, value, fence, writer FROM workers_fencedresource")
        rows = {row[0]: row[1:] for row in cur.fetchall()}
        value, fence, writer = rows[resource]
        value = json.loads(value) if isinstance(value, str) else value
        assert (value, fence, writer) == ({"by": "B"}, fence_b, "B")
        cur.execute("SELECT writer, fence, accepted FROM workers_fencedwriteattempt ORDER BY id")
        assert [(w, f, bool(ok)) for w, f, ok in cur.fetchall()] == [("B", fence_b, True), ("A", fence_a, False)]
    finally:
        conn.close()


# --- the page, in a real browser -------------------------------------------------------------------


@pytest.mark.browser
def test_locks_page_in_a_browser(page, live_server_url):
    """Acquire, write with the fence, release; then the paused-holder story ends in a rejection."""
    page.goto(live_server_url + "/patterns/locks/")
    page.fill("input[name=ttl_s]", "30")
    page.click("button[value=acquire]")
    assert "Acquired with fencing token 1" in page.locator(".messages").inner_text()
    page.click("button[value=write]")
    assert "Write with fence 1 accepted." in page.locator(".messages").inner_text()
    page.click("button[value=release]")
    assert "Released." in page.locator(".messages").inner_text()
    page.click("button[value=pause]")
    rows = page.locator("#pause-steps tbody tr").all_inner_texts()
    assert any("wakes up" in row and "rejected by the fence" in row for row in rows), rows
    assert any("writes the report row" in row and "accepted" in row for row in rows), rows
