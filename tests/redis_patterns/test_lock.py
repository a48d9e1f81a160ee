"""redis_patterns.lock against real servers: exclusion, fencing order, release safety, Redlock quorum."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
import redis.asyncio

from redis_patterns.lock import AsyncLock, Lock, LockNotAcquired, LockUnavailable, Redlock
from redis_patterns.scripts import Scripts
from redis_patterns.servers import free_port
from redis_patterns.tracing import TracingConnection, tracing
from tests.conftest import wait_for

KEY, FENCE = "t:lock:{job}", "t:lock:{job}:fence"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["functions", "evalsha"])
def scripts(request) -> Scripts:
    return Scripts("redis_patterns", use_functions=request.param == "functions")


@pytest.fixture
def client(redis_server):
    c = redis.Redis.from_url(redis_server.url, decode_responses=True, connection_class=TracingConnection)
    yield c
    c.close()


def test_acquire_release_and_fences_increase(client, scripts):
    lock = Lock(client, KEY, FENCE, ttl_ms=5000, scripts=scripts)
    first = lock.try_acquire()
    assert first is not None and first.fence == 1
    assert client.get(KEY) == first.token and 0 < client.pttl(KEY) <= 5000
    assert lock.try_acquire() is None, "a held lock cannot be taken"
    assert lock.release(first) is True
    with tracing() as trace:
        second = lock.try_acquire()
        assert lock.release(first) is False, "an old lease must not release the new holder's lock"
    assert trace.round_trip_count == 2, "one round trip each, once the scripts are loaded"
    assert second is not None and second.fence == 2
    assert second.token != first.token
    assert client.get(KEY) == second.token


def test_expired_holder_cannot_release_or_extend_the_next_holders_lock(client, scripts):
    lock = Lock(client, KEY, FENCE, ttl_ms=5000, scripts=scripts)
    old = lock.try_acquire()
    client.delete(KEY)  # the TTL ran out (deleting it is the same thing, without waiting)
    new = lock.try_acquire()
    assert new is not None and new.fence > old.fence
    assert lock.extend(old, 60_000) is None
    assert lock.release(old) is False
    assert client.get(KEY) == new.token
    extended = lock.extend(new, 60_000)
    assert extended is not None and extended.fence == new.fence and client.pttl(KEY) > 5000


def test_blocking_acquire_waits_for_release_and_times_out(client):
    slept = threading.Event()

    def sleep(seconds: float) -> None:
        slept.set()  # the waiter found the lock busy and is backing off
        time.sleep(seconds)

    lock = Lock(client, KEY, FENCE, ttl_ms=30_000, sleep=sleep)
    held = lock.try_acquire()
    assert lock.acquire(timeout=0.05) is None, "busy until the timeout: None"
    slept.clear()
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(lock.acquire(timeout=10)))
    waiter.start()
    wait_for(slept.is_set, timeout=5)
    assert not got, "still waiting while the lock is held"
    lock.release(held)
    waiter.join(10)
    assert got and got[0] is not None and got[0].fence == held.fence + 1


def test_context_manager_releases_and_raises_when_busy(client):
    lock = Lock(client, KEY, FENCE, ttl_ms=30_000)
    with lock.hold() as lease:
        assert client.get(KEY) == lease.token
        with pytest.raises(LockNotAcquired):
            with lock.hold(timeout=0):
                pass
    assert client.exists(KEY) == 0


def test_mutual_exclusion_under_threads(client):
    """16 threads × 25 acquisitions: never two inside; fences strictly increase in holding order."""
    lock = Lock(client, KEY, FENCE, ttl_ms=10_000, retry_base_ms=1, retry_cap_ms=5)
    inside = 0
    max_inside = 0
    fences: list[int] = []
    guard = threading.Lock()

    def worker():
        nonlocal inside, max_inside
        for _ in range(25):
            with lock.hold(timeout=30) as lease:
                with guard:
                    inside += 1
                    max_inside = max(max_inside, inside)
                    fences.append(lease.fence)
                # a non-atomic read-modify-write in Redis: lost updates if exclusion failed
                value = int(client.get("t:counter") or 0)
                client.set("t:counter", value + 1)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert max_inside == 1
    assert int(client.get("t:counter")) == 16 * 25
    assert fences == sorted(fences) and len(set(fences)) == len(fences) == 400


def test_mutual_exclusion_across_processes(redis_server, client):
    """4 separate processes increment a Redis counter non-atomically under the lock: no lost update."""
    code = (
        "import sys, redis\n"
        "from redis_patterns.lock import Lock\n"
        "c = redis.Redis.from_url(sys.argv[1], decode_responses=True)\n"
        "lock = Lock(c, 't:lock:{job}', 't:lock:{job}:fence', ttl_ms=10000, retry_base_ms=1, retry_cap_ms=5)\n"
        "for _ in range(40):\n"
        "    with lock.hold(timeout=60) as lease:\n"
        "        v = int(c.get('t:counter') or 0)\n"
        "        c.set('t:counter', v + 1)\n"
        "        c.rpush('t:fences', lease.fence)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, redis_server.url], cwd=ROOT) for _ in range(4)]
    for p in procs:
        assert p.wait(120) == 0
    assert int(client.get("t:counter")) == 160
    fences = [int(f) for f in client.lrange("t:fences", 0, -1)]
    assert fences == sorted(fences) and len(set(fences)) == 160


def test_fails_closed_when_redis_is_down():
    dead = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
    lock = Lock(dead, KEY, FENCE)
    with pytest.raises(LockUnavailable):
        lock.try_acquire()
    with pytest.raises(LockUnavailable):
        lock.acquire(timeout=0.1)
    with pytest.raises(LockUnavailable):
        with lock.hold():
            pass


def test_async_twin(redis_server):
    async def main():
        c = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
        lock = AsyncLock(c, KEY, FENCE, ttl_ms=10_000, retry_base_ms=1, retry_cap_ms=5)
        inside, max_inside, fences = 0, 0, []

        async def worker():
            nonlocal inside, max_inside
            for _ in range(10):
                async with lock.hold(timeout=30) as lease:
                    inside += 1
                    max_inside = max(max_inside, inside)
                    fences.append(lease.fence)
                    await c.get(KEY)  # yield to the other coroutines while holding
                    inside -= 1

        await asyncio.gather(*(worker() for _ in range(8)))
        lease = await lock.try_acquire()
        assert await lock.extend(lease, 20_000) is not None
        assert await lock.release(lease) is True
        await c.aclose()
        return max_inside, fences

    max_inside, fences = asyncio.run(main())
    assert max_inside == 1
    assert fences == sorted(fences) and len(fences) == 80


# --- Redlock ---------------------------------------------------------------------------------


@pytest.fixture
def three_servers(redis_server_factory):
    servers = [redis_server_factory(name=f"redlock-{i}") for i in range(3)]
    clients = [redis.Redis.from_url(s.url, decode_responses=True, socket_timeout=0.3, socket_connect_timeout=0.3)
               for s in servers]
    yield servers, clients
    for c in clients:
        c.close()


def test_redlock_acquires_with_all_servers_and_releases_everywhere(three_servers):
    servers, clients = three_servers
    rl = Redlock(clients, KEY, FENCE, ttl_ms=5000)
    result = rl.attempt()
    assert result.lease is not None and result.votes == 3 and result.quorum == 2
    assert 0 < result.lease.validity_ms < 5000
    assert all(c.get(KEY) == result.lease.token for c in clients)
    assert rl.attempt().lease is None, "held on every server: nobody else gets a quorum"
    assert rl.release(result.lease) == 3
    assert all(c.exists(KEY) == 0 for c in clients)


def test_redlock_quorum_with_one_of_three_servers_down(three_servers):
    servers, clients = three_servers
    servers[2].kill()
    rl = Redlock(clients, KEY, FENCE, ttl_ms=5000)
    result = rl.attempt()
    assert result.lease is not None, "2 of 3 is a quorum"
    assert (result.votes, result.errors) == (2, 1)
    assert rl.attempt().lease is None, "and the two live servers refuse a second holder"
    rl.release(result.lease)
    servers[1].kill()
    with pytest.raises(LockUnavailable):
        rl.acquire(timeout=0.2)


def test_redlock_minority_acquisition_is_undone(three_servers):
    """Someone holds the lock on two servers: our attempt gets one vote, fails, and cleans up that one."""
    servers, clients = three_servers
    other = Redlock(clients[:2], KEY, FENCE, ttl_ms=30_000).attempt()
    assert other.lease is not None
    result = Redlock(clients, KEY, FENCE, ttl_ms=30_000).attempt()
    assert result.lease is None and result.votes == 1
    assert clients[2].exists(KEY) == 0, "the partial acquisition was released"
    assert clients[0].get(KEY) == other.lease.token
