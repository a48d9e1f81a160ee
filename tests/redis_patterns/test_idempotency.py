"""redis_patterns.idempotency and check_and_set on the real server."""

from __future__ import annotations

import threading

from redis_patterns import check_and_set, idempotency

K = "t:idem:1"


def test_first_claims_then_pending_then_done_with_the_result(raw_redis, r):
    fp = idempotency.fingerprint({"items": [[1, 2]]})
    first = idempotency.begin(r, K, fp)
    assert first.acquired and 0 < raw_redis.pttl(K) <= 30_000
    assert idempotency.begin(r, K, fp).state == "pending"
    assert idempotency.begin(r, K, "other").state == "mismatch"
    assert idempotency.complete(r, first, "42")
    again = idempotency.begin(r, K, fp)
    assert (again.state, again.result) == ("done", "42")
    assert raw_redis.ttl(K) > 3600
    assert idempotency.wait(r, K, fp) == ("done", "42")


def test_release_frees_the_key_and_only_the_owner_can_finish(r, raw_redis):
    first = idempotency.begin(r, K, "fp")
    intruder = idempotency.Claim(state="acquired", result=None, token="not-mine", key=K)
    assert idempotency.complete(r, intruder, "1") is False
    assert idempotency.release(r, intruder) is False
    assert idempotency.release(r, first) is True
    assert raw_redis.exists(K) == 0
    assert idempotency.wait(r, K, "fp") is None
    assert idempotency.begin(r, K, "fp").acquired


def test_wait_gives_up_at_its_deadline_with_an_injected_clock(r):
    idempotency.begin(r, K, "fp")
    ticks = iter(range(100))
    assert idempotency.wait(r, K, "fp", timeout_s=3, clock=lambda: next(ticks), sleep=lambda s: None) == (
        "pending", None)


def test_concurrent_claims_have_exactly_one_winner(r):
    states: list[str] = []
    barrier = threading.Barrier(20)

    def claim() -> None:
        barrier.wait()
        states.append(idempotency.begin(r, K, "fp").state)

    threads = [threading.Thread(target=claim) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(states) == ["acquired"] + ["pending"] * 19


def _race(r, fn, key: str) -> tuple[int, int, int]:
    r.set(key, 100, ex=60)
    granted, attempts = [], []
    barrier = threading.Barrier(8)

    def buyer() -> None:
        barrier.wait()
        for _ in range(5):
            d = fn(r, key, 10)
            granted.append(d.ok)
            attempts.append(d.attempts)

    threads = [threading.Thread(target=buyer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(granted), int(r.get(key)), sum(attempts)


def test_lua_and_watch_never_oversell_watch_retries(r):
    assert _race(r, check_and_set.debit_lua, "t:{w}:lua")[:2] == (10, 0)
    granted, final, attempts = _race(r, check_and_set.debit_watch, "t:{w}:watch")
    assert (granted, final) == (10, 0)
    assert attempts >= 40  # one per call, plus one per lost race


def test_watch_detects_a_write_between_read_and_exec(r, raw_redis):
    raw_redis.set("t:{w}:b", 100)
    calls = []
    original_get = r.pipeline().__class__.get

    # Another client writes once, right after our first read under WATCH: EXEC must fail and retry.
    def get_then_interfere(self, name):
        value = original_get(self, name)
        if not calls:
            calls.append(1)
            raw_redis.decrby("t:{w}:b", 95)
        return value

    pipe_cls = r.pipeline().__class__
    pipe_cls.get = get_then_interfere
    try:
        debit = check_and_set.debit_watch(r, "t:{w}:b", 10)
    finally:
        pipe_cls.get = original_get
    assert debit.attempts == 2 and debit.ok is False and debit.balance == 5
