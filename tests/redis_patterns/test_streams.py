"""redis_patterns.streams against the real server: groups, batches, acks, claims, dead letters, trimming."""

from __future__ import annotations

import threading

import pytest

from redis_patterns import streams
from redis_patterns.streams import Message, StreamWorker, WorkerConfig
from redis_patterns.tracing import tracing
from tests.conftest import wait_for

S, DEAD, STATS = "t:{s}:stream", "t:{s}:dead", "t:{s}:stats"


def config(**kw) -> WorkerConfig:
    base = dict(stream=S, group="g", consumer="c1", dead_letter=DEAD, stats=STATS, count=10, block_ms=50,
                claim_idle_ms=0, claim_every_s=0, trim_every_s=0)
    return WorkerConfig(**{**base, **kw})


def fill(client, n: int, **fields) -> list[str]:
    pipe = client.pipeline()
    for i in range(n):
        pipe.xadd(S, {"n": str(i), **fields})
    return pipe.execute()


def test_group_creation_is_idempotent_and_makes_the_stream(raw_redis):
    assert streams.ensure_group(raw_redis, S, "g") is True
    assert streams.ensure_group(raw_redis, S, "g") is False
    assert raw_redis.exists(S) == 1 and raw_redis.xinfo_groups(S)[0]["name"] == "g"


def test_a_batch_costs_two_round_trips_and_one_multi_id_xack(raw_redis, r):
    fill(raw_redis, 10)
    seen: list[str] = []
    worker = StreamWorker(r, config(claim_every_s=3600), lambda m: seen.append(m.fields["n"]))
    worker.setup()
    worker._next_claim = float("inf")
    with tracing() as trace:
        assert worker.run_once() == 10
    assert seen == [str(i) for i in range(10)]
    assert trace.round_trip_count == 2  # XREADGROUP, then XACK (10 ids) + HINCRBY + EXPIRE pipelined
    xacks = [cmd for rt in trace.round_trips for cmd in rt.commands if str(cmd[0]).upper() == "XACK"]
    assert len(xacks) == 1 and len(xacks[0]) == 3 + 10
    assert raw_redis.xpending(S, "g")["pending"] == 0
    assert raw_redis.hget(STATS, "acked") == "10" and raw_redis.ttl(STATS) > 0


def test_failed_entries_stay_pending_then_go_to_the_dead_letter_stream(raw_redis, r):
    ids = fill(raw_redis, 3)

    def handler(m: Message) -> None:
        if m.fields["n"] == "1":
            raise RuntimeError("boom")

    worker = StreamWorker(r, config(max_deliveries=3), handler)
    worker.run_once()  # reads 3, handles 2, entry 1 stays pending (delivery 1)
    assert raw_redis.xpending(S, "g")["pending"] == 1
    worker.run_once()  # claims it (delivery 2), fails again
    assert raw_redis.xlen(DEAD) == 0
    worker.run_once()  # delivery 3 fails: dead-lettered and acknowledged in one MULTI
    assert raw_redis.xpending(S, "g")["pending"] == 0
    [(_, dead)] = raw_redis.xrange(DEAD)
    assert dead["dead_origin_id"] == ids[1] and dead["dead_deliveries"] == "3" and dead["n"] == "1"
    assert "boom" in dead["dead_error"]

    new_id = streams.replay_dead_letter(raw_redis, S, DEAD, raw_redis.xrange(DEAD)[0][0])
    assert raw_redis.xlen(DEAD) == 0
    assert raw_redis.xrange(S, new_id, new_id)[0][1] == {"n": "1"}
    assert streams.replay_dead_letter(raw_redis, S, DEAD, "1-1") is None


def test_a_dead_consumers_entries_are_claimed_after_the_idle_time(raw_redis, r):
    fill(raw_redis, 5)
    streams.ensure_group(raw_redis, S, "g")
    raw_redis.xreadgroup("g", "dead-one", {S: ">"}, count=5)  # took them, then "crashed"
    now = [0.0]
    seen: list[str] = []
    worker = StreamWorker(r, config(consumer="alive", claim_idle_ms=60_000, claim_every_s=1), lambda m: seen.append(m.id),
                          clock=lambda: now[0])
    worker.run_once()
    assert seen == []  # not idle long enough: nothing claimed
    raw_redis.xclaim(S, "g", "dead-one", 0, [e for e, _ in raw_redis.xrange(S)], idle=120_000)  # age them
    now[0] = 2.0
    worker.run_once()
    assert len(seen) == 5 and raw_redis.xpending(S, "g")["pending"] == 0
    assert worker.stats.claimed == 5


def test_a_restarted_consumer_handles_its_own_pending_entries_first(raw_redis, r):
    fill(raw_redis, 4)
    streams.ensure_group(raw_redis, S, "g")
    raw_redis.xreadgroup("g", "c1", {S: ">"}, count=4)
    seen: list[str] = []
    StreamWorker(r, config(claim_every_s=3600), lambda m: seen.append(m.fields["n"])).setup()
    assert seen == ["0", "1", "2", "3"] and raw_redis.xpending(S, "g")["pending"] == 0


def test_trimming_never_drops_pending_or_unread_entries(raw_redis):
    ids = fill(raw_redis, 300)
    streams.ensure_group(raw_redis, S, "g")
    streams.ensure_group(raw_redis, S, "late")  # a second group that has read nothing yet
    raw_redis.xreadgroup("g", "c", {S: ">"}, count=300)
    raw_redis.xack(S, "g", *[i for i in ids if i != ids[120]])
    assert streams.safe_trim_id(raw_redis, S) == "0-1"  # "late" still needs everything
    assert streams.trim_acknowledged(raw_redis, S) == 0
    raw_redis.xgroup_destroy(S, "late")
    assert streams.safe_trim_id(raw_redis, S) == ids[120]
    streams.trim_acknowledged(raw_redis, S)
    assert raw_redis.xrange(S, ids[120], ids[120])  # the pending entry is still there
    assert raw_redis.xlen(S) >= 300 - 120
    raw_redis.xack(S, "g", ids[120])
    assert streams.safe_trim_id(raw_redis, S) == streams.next_id(ids[-1])
    streams.trim_acknowledged(raw_redis, S)
    assert raw_redis.xlen(S) < 300 - 120  # acknowledged by every group: trimmed (approximately)


def test_stop_finishes_the_batch_and_leaves_the_group(raw_redis, r):
    fill(raw_redis, 20)
    started = threading.Event()
    release = threading.Event()

    def slow(m: Message) -> None:
        started.set()
        release.wait(5)

    worker = StreamWorker(r, config(count=20, block_ms=100), slow)
    thread = threading.Thread(target=worker.run)
    thread.start()
    started.wait(5)
    worker.stop()  # mid-batch
    release.set()
    thread.join(10)
    assert not thread.is_alive()
    assert worker.stats.acked == 20 and raw_redis.xpending(S, "g")["pending"] == 0
    assert raw_redis.xinfo_consumers(S, "g") == []


def test_group_overview_reports_pending_lag_and_consumers(raw_redis):
    fill(raw_redis, 5)
    streams.ensure_group(raw_redis, S, "g")
    raw_redis.xreadgroup("g", "c", {S: ">"}, count=2)
    [info, missing] = streams.group_overview(raw_redis, [S, "t:{s}:nope"])
    assert missing["exists"] is False
    [group] = info["groups"]
    assert info["length"] == 5 and group["pending"] == 2 and group["lag"] == 3
    assert group["consumer_list"][0]["name"] == "c" and group["consumer_list"][0]["pending"] == 2


@pytest.mark.parametrize("entry, expected", [("5-3", "5-4"), ("0-0", "0-1"), ("17", "17-1")])
def test_next_id(entry, expected):
    assert streams.next_id(entry) == expected


def _persistent_worker(redis_server_factory, handler):
    """A server that fsyncs every write (a SIGKILL loses nothing it acknowledged) and a worker on it."""
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    server = redis_server_factory(config={"appendonly": "yes", "appendfsync": "always"})
    # Short client-side retries: the outage reaches the worker's own reconnect loop in a
    # fraction of a second (redis-py's default, 3 retries with up to 2+4+8 s of backoff,
    # could hide it from the worker for longer than these tests wait).
    client = redis.Redis(host=server.host, port=server.port, decode_responses=True, socket_timeout=2,
                         retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), 2))
    worker = StreamWorker(client, config(block_ms=100, backoff_base_s=0.02, backoff_cap_s=0.2), handler)
    return server, client, worker


def _crash_and_restart(server, worker) -> None:
    server.kill()  # crash; appendfsync always kept the group, the stream and every XACK it answered
    # Down long enough for the client's own retries to give up: the worker backs off.
    wait_for(lambda: worker.stats.reconnects >= 2, timeout=20)
    server.start()


def test_worker_survives_a_server_restart_in_thread(redis_server_factory):
    """A crash at an arbitrary moment: every entry is handled at least once and none is left behind.

    The server dies right after the handler saw ``before``: the XACK may or may not have
    reached it first (a race this test does not pin), so ``before`` is handled once or, when
    the acknowledgement was lost with the server, once more after the restart.  Both
    outcomes are the at-least-once guarantee; the tests below pin each moment.
    """
    import redis

    seen: list[str] = []
    server, client, worker = _persistent_worker(redis_server_factory, lambda m: seen.append(m.fields["n"]))
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        client.xadd(S, {"n": "before"})
        wait_for(lambda: "before" in seen, timeout=10)
        _crash_and_restart(server, worker)
        redis.Redis(host=server.host, port=server.port).xadd(S, {"n": "after"})
        wait_for(lambda: "after" in seen, timeout=20)
    finally:
        worker.stop()
        thread.join(10)
    assert not thread.is_alive()
    assert worker.stats.reconnects >= 1
    after_restart = redis.Redis(host=server.host, port=server.port, decode_responses=True)
    assert 1 <= seen.count("before") <= 2  # at least once; again only because the crash ate its XACK
    assert seen.count("after") == 1
    assert [e["n"] for _, e in after_restart.xrange(S)] == ["before", "after"]  # the crash lost no entry
    assert after_restart.xpending(S, "g")["pending"] == 0  # and every entry ended acknowledged


def test_an_entry_acknowledged_before_a_crash_is_not_handled_again(redis_server_factory):
    import redis

    seen: list[str] = []
    server, client, worker = _persistent_worker(redis_server_factory, lambda m: seen.append(m.fields["n"]))
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        client.xadd(S, {"n": "before"})
        wait_for(lambda: worker.stats.acked >= 1, timeout=10)  # the XACK was answered (and fsynced)
        _crash_and_restart(server, worker)
        redis.Redis(host=server.host, port=server.port).xadd(S, {"n": "after"})
        wait_for(lambda: "after" in seen, timeout=20)
    finally:
        worker.stop()
        thread.join(10)
    assert seen == ["before", "after"]


def test_an_entry_handled_but_not_acknowledged_before_a_crash_is_handled_again(redis_server_factory):
    """The worst moment to crash: after the handler, before the XACK.  At-least-once means twice here."""
    import redis

    seen: list[str] = []
    in_handler, release = threading.Event(), threading.Event()

    def handler(m: Message) -> None:
        seen.append(m.fields["n"])
        if len(seen) == 1:
            in_handler.set()
            release.wait(10)  # the server dies while the first delivery is being handled

    server, client, worker = _persistent_worker(redis_server_factory, handler)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        client.xadd(S, {"n": "before"})
        assert in_handler.wait(10)
        server.kill()
        release.set()  # the handler returns; its XACK finds no server
        wait_for(lambda: worker.stats.reconnects >= 2, timeout=20)
        assert worker.stats.acked == 0
        server.start()
        wait_for(lambda: len(seen) == 2, timeout=20)  # the restarted worker re-reads its own pending entry
        wait_for(lambda: worker.stats.acked == 1, timeout=10)
    finally:
        release.set()
        worker.stop()
        thread.join(10)
    assert seen == ["before", "before"]
    assert redis.Redis(host=server.host, port=server.port).xpending(S, "g")["pending"] == 0


def test_a_slow_batch_keeps_its_entries_from_being_claimed(raw_redis, r):
    fill(raw_redis, 4)
    now = [0.0]
    idle_seen: list[int] = []

    def handler(m: Message) -> None:
        # What a claimer would see for this entry right now.
        [row] = raw_redis.xpending_range(S, "g", m.id, m.id, 1)
        idle_seen.append(row["time_since_delivered"])
        now[0] += 0.4  # each entry takes 400 ms of (injected) time: the batch outlives claim_idle_ms/2

    worker = StreamWorker(r, config(consumer="slow", claim_idle_ms=1000, claim_every_s=3600), handler,
                          clock=lambda: now[0])
    raw_redis.xgroup_create(S, "g", id="0")
    batch = worker._read(">", block=None)
    raw_redis.xclaim(S, "g", "slow", 0, [m.id for m in batch], idle=900, justid=True)  # they look 900 ms old
    worker._process(batch)
    assert idle_seen[0] >= 900 and idle_seen[1] >= 900
    assert idle_seen[2] < 500 and idle_seen[3] < 500  # refreshed after 800 ms of batch: nobody claims them
    assert raw_redis.xpending(S, "g")["pending"] == 0


def test_a_batch_handler_takes_the_whole_batch_and_its_failures_stay_pending_alone(raw_redis, r):
    ids = fill(raw_redis, 5)
    calls: list[list[str]] = []

    def handle_many(batch: list[Message]) -> list[Exception | None]:
        calls.append([m.fields["n"] for m in batch])
        return [RuntimeError("no stock") if m.fields["n"] == "3" else None for m in batch]

    worker = StreamWorker(r, config(max_deliveries=2), lambda m: pytest.fail("not called one by one"),
                          handle_many=handle_many)
    worker.setup()
    worker._next_claim = float("inf")
    with tracing() as trace:
        assert worker.run_once() == 4
    assert calls == [["0", "1", "2", "3", "4"]]
    assert trace.round_trip_count == 2  # still one read and one multi-id XACK per batch
    assert [e["message_id"] for e in raw_redis.xpending_range(S, "g", "-", "+", 10)] == [ids[3]]
    assert worker.stats.failed == 1 and worker.stats.batch_fallbacks == 0
    one_by_one: list[str] = []

    def handler(m: Message) -> None:
        one_by_one.append(m.id)
        raise RuntimeError("still no stock")

    worker.handler = handler
    worker._next_claim = 0.0
    worker.run_once()  # claimed again (delivery 2 of 2): a batch of one goes to the one-by-one handler, fails
    assert one_by_one == [ids[3]]
    [(_, dead)] = raw_redis.xrange(DEAD)
    assert dead["dead_origin_id"] == ids[3] and "no stock" in dead["dead_error"]
    assert raw_redis.xpending(S, "g")["pending"] == 0


@pytest.mark.parametrize("broken", ["raises", "wrong_length"])
def test_a_batch_handler_that_fails_as_a_whole_hands_each_entry_to_the_single_handler(raw_redis, r, broken):
    """One poison entry must not fail its neighbours: the batch is handled again one entry at a time."""
    fill(raw_redis, 4)
    seen: list[str] = []

    def handle_many(batch: list[Message]) -> list[Exception | None]:
        if broken == "raises":
            raise RuntimeError("the batch's transaction rolled back")
        return [None]  # one result for four entries: not trusted

    def handler(m: Message) -> None:
        if m.fields["n"] == "2":
            raise ValueError("poison")
        seen.append(m.fields["n"])

    worker = StreamWorker(r, config(), handler, handle_many=handle_many)
    assert worker.run_once() == 3
    assert seen == ["0", "1", "3"]
    assert worker.stats.batch_fallbacks == 1 and worker.stats.failed == 1
    assert raw_redis.xpending(S, "g")["pending"] == 1
