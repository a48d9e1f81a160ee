"""``redis_patterns.semaphore``: at most N leases, renewals keep a slot, expired leases free theirs."""

from __future__ import annotations

import threading

from redis_patterns import semaphore
from redis_patterns.scripts import Scripts

KEY = "t:sem:{demo}"
SCRIPTS = Scripts("redis_patterns")


def test_at_most_n_holders_and_a_renewal_keeps_its_slot(r, raw_redis):
    take = lambda holder, now: semaphore.acquire(r, SCRIPTS, KEY, holder, limit=2, lease_ms=1000, now=now)  # noqa: E731
    assert [take("a", 0), take("b", 10), take("c", 20)] == [True, True, False]
    assert take("a", 500)  # a renewal while full: still its slot
    assert not take("c", 900)
    assert take("c", 1011)  # b's lease (ended at 1010) ran out: its slot is free
    assert sorted(raw_redis.zrange(KEY, 0, -1)) == ["a", "c"]
    assert 0 < raw_redis.pttl(KEY)  # the key expires with its last lease


def test_racing_for_the_last_slots_never_admits_more_than_n(r):
    won: list[bool] = []
    barrier = threading.Barrier(16)

    def contender(i: int) -> None:
        barrier.wait()
        won.append(semaphore.acquire(r, SCRIPTS, KEY, f"h{i}", limit=5, lease_ms=60_000))

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert won.count(True) == 5
