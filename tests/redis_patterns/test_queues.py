"""redis_patterns.queues against a real server: ordering, due times, recovery, dedup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import redis

from redis_patterns.queues import Deduplicator, DelayedQueue, PriorityQueue, ReliableQueue
from redis_patterns.scripts import Scripts
from redis_patterns.tracing import TracingConnection, tracing
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
READY, PROCESSING, DEADLINES = "t:q:{w}:ready", "t:q:{w}:processing", "t:q:{w}:deadlines"


class Clock:
    """A controllable clock in ms."""

    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def client(redis_server):
    c = redis.Redis.from_url(redis_server.url, decode_responses=True, socket_timeout=10,
                             connection_class=TracingConnection)
    yield c
    c.close()


@pytest.fixture(params=["functions", "evalsha"])
def scripts(request) -> Scripts:
    return Scripts("redis_patterns", use_functions=request.param == "functions")


# --- priority -------------------------------------------------------------------------------


def test_priority_order_and_fifo_within_a_priority(client):
    clock = Clock()
    q = PriorityQueue(client, "t:q:{p}:priority", clock=clock)
    for job, prio in [("low-1", 9), ("urgent-1", 0), ("mid", 5), ("urgent-2", 0), ("low-2", 9)]:
        clock.now += 1
        q.push(job, prio)
    # "urgent-2" < "urgent-1"? No: arrival order wins, not member bytes.
    assert [q.pop() for _ in range(6)] == [("urgent-1", 0), ("urgent-2", 0), ("mid", 5), ("low-1", 9),
                                           ("low-2", 9), None]
    with pytest.raises(ValueError):
        q.push("x", 10)


def test_priority_ttl_is_set_with_the_push(client):
    q = PriorityQueue(client, "t:q:{p}:priority", ttl_ms=60_000)
    client.ping()  # open the connection outside the trace
    with tracing() as trace:
        q.push("job", 1)
    assert trace.round_trip_count == 1
    assert 0 < client.pttl("t:q:{p}:priority") <= 60_000


def test_bzpopmin_gives_each_job_to_exactly_one_blocked_worker(redis_server, client):
    received: list[str] = []
    guard = threading.Lock()

    def consumer():
        c = redis.Redis.from_url(redis_server.url, decode_responses=True, socket_timeout=10)
        q = PriorityQueue(c, "t:q:{p}:priority")
        while True:
            got = q.pop(timeout=5)
            if got is None or got[0] == "stop":
                return
            with guard:
                received.append(got[0])

    threads = [threading.Thread(target=consumer) for _ in range(4)]
    for t in threads:
        t.start()
    # every consumer is blocked in BZPOPMIN before anything is pushed
    wait_for(lambda: int(client.info("clients")["blocked_clients"]) == 4, timeout=5)
    q = PriorityQueue(client, "t:q:{p}:priority")
    for i in range(200):
        q.push(f"job-{i}", i % 3)
    for _ in threads:
        q.push("stop", 9)
    for t in threads:
        t.join(20)
    assert sorted(received) == sorted(f"job-{i}" for i in range(200))


# --- delayed --------------------------------------------------------------------------------


def test_delayed_jobs_become_ready_exactly_at_their_due_time(client, scripts):
    clock = Clock()
    q = DelayedQueue(client, "t:q:{w}:delayed", READY, clock=clock, scripts=scripts)
    start = clock.now
    q.schedule("in-1s", delay_ms=1000)
    q.schedule("in-2s", delay_ms=2000)
    q.schedule("at-start", run_at_ms=start)
    assert q.promote() == 1 and client.lrange(READY, 0, -1) == ["at-start"]
    clock.now = start + 999
    assert q.promote() == 0
    clock.now = start + 1000
    assert q.promote() == 1
    clock.now = start + 1999
    assert q.promote() == 0
    clock.now = start + 5000
    assert q.promote() == 1
    assert client.lrange(READY, 0, -1) == ["in-2s", "in-1s", "at-start"]  # LPUSHed: oldest on the right
    assert len(q) == 0


def test_server_clock_mode_uses_redis_time(client):
    q = DelayedQueue(client, "t:q:{w}:delayed", READY)
    server_ms = int(client.time()[0]) * 1000
    q.schedule("past", run_at_ms=server_ms - 10_000)
    q.schedule("future", run_at_ms=server_ms + 3_600_000)
    assert q.promote(now=0, server_clock=True) == 1, "now=0 is ignored: the script reads TIME"
    assert client.lrange(READY, 0, -1) == ["past"]


def test_concurrent_promoters_move_each_job_once(redis_server, client):
    clock = Clock()
    q = DelayedQueue(client, "t:q:{w}:delayed", READY, clock=clock)
    for i in range(300):
        q.schedule(f"job-{i}", run_at_ms=clock.now - i)

    def promoter():
        c = redis.Redis.from_url(redis_server.url, decode_responses=True)
        mine = DelayedQueue(c, "t:q:{w}:delayed", READY, clock=clock)
        while mine.promote(limit=7):
            pass

    threads = [threading.Thread(target=promoter) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    ready = client.lrange(READY, 0, -1)
    assert len(ready) == 300 and len(set(ready)) == 300


# --- reliable ---------------------------------------------------------------------------------


def test_take_ack_and_reap_under_a_controlled_clock(client, scripts):
    clock = Clock()
    q = ReliableQueue(client, READY, PROCESSING, DEADLINES, lease_ms=10_000, clock=clock, scripts=scripts)
    for job in ("a", "b", "c"):
        q.push(job)
    assert q.take() == "a"
    assert q.take() == "b"
    assert q.ack("a") is True
    assert q.processing() == [("b", clock.now + 10_000)]
    clock.now += 9_999
    assert q.reap().requeued == 0
    clock.now += 1
    assert q.reap().requeued == 1, "b's lease ran out: back to ready"
    assert q.ready() == ["b", "c"], "a requeued job goes to the front"
    assert q.ack("b") is False, "the slow worker's late ack tells it the job was not its any more"
    assert q.take() == "b"
    assert q.counts() == (1, 1)


def test_reaper_adopts_a_job_whose_worker_died_before_recording_a_deadline(client):
    clock = Clock()
    q = ReliableQueue(client, READY, PROCESSING, DEADLINES, lease_ms=10_000, clock=clock)
    q.push("orphan")
    client.lmove(READY, PROCESSING, "RIGHT", "LEFT")  # BLMOVE happened, then the worker died
    result = q.reap(grace_ms=5_000)
    assert (result.requeued, result.adopted) == (0, 1)
    clock.now += 5_000
    assert q.reap().requeued == 1
    assert q.ready() == ["orphan"] and q.processing() == []


def test_reliable_queue_recovers_the_job_of_a_killed_worker_process(redis_server, client):
    """A real worker process is SIGKILLed mid-job; the reaper requeues it; another worker finishes everything once."""
    q = ReliableQueue(client, READY, PROCESSING, DEADLINES, lease_ms=60_000)
    jobs = [f"job-{i}" for i in range(30)] + ["job-hang"] + [f"job-{i}" for i in range(30, 60)]
    for job in jobs:
        q.push(job)
    victim = subprocess.Popen([sys.executable, "-m", "tests.redis_patterns.queue_worker", redis_server.url, "victim"],
                              cwd=ROOT)
    try:
        wait_for(lambda: client.get("t:started:job-hang") == "1", timeout=30)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
    finally:
        if victim.poll() is None:
            victim.kill()
    assert q.processing()[0][0] == "job-hang", "the dead worker's job is still in processing"
    # Pretend the lease has run out (a controlled clock instead of waiting 60 s).
    reaped = q.reap(now=q.clock() + 60_001)
    assert reaped.requeued == 1
    q.push("stop")
    rescuer = subprocess.run([sys.executable, "-m", "tests.redis_patterns.queue_worker", redis_server.url,
                              "rescuer"], cwd=ROOT, timeout=60)
    assert rescuer.returncode == 0
    done = client.smembers("t:done")
    assert done == set(jobs), "no job lost"
    assert all(client.get(f"t:effects:{j}") == "1" for j in done), "every job's effect happened exactly once"
    assert client.get("t:started:job-hang") == "2", "started by the victim, finished by the rescuer"
    assert q.counts() == (0, 0)


# --- dedup ---------------------------------------------------------------------------------------


def test_dedup_under_concurrency_each_id_is_claimed_once(redis_server, client):
    ids = [f"order-{i}" for i in range(50)]
    wins: list[str] = []
    guard = threading.Lock()
    barrier = threading.Barrier(8)

    def submitter():
        c = redis.Redis.from_url(redis_server.url, decode_responses=True)
        d = Deduplicator(c, lambda job_id: f"t:q:{{w}}:dedup:{job_id}", ttl_s=600)
        barrier.wait()
        for job_id in ids:  # every thread submits every id
            if d.claim(job_id):
                with guard:
                    wins.append(job_id)

    threads = [threading.Thread(target=submitter) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(wins) == sorted(ids), "each id won exactly once across 8 concurrent submitters"
    assert 0 < client.ttl("t:q:{w}:dedup:order-0") <= 600
    d = Deduplicator(client, lambda job_id: f"t:q:{{w}}:dedup:{job_id}", ttl_s=600)
    d.forget("order-0")
    assert d.claim("order-0") is True
    with pytest.raises(ValueError):
        Deduplicator(client, str, ttl_s=0)
