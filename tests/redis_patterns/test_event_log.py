"""The event log: a capped, expiring stream per audience, ids comparable across streams."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync

from redis_patterns import event_log
from redis_patterns.scripts import Scripts
from redis_patterns.tracing import tracing


@pytest.fixture(params=["functions", "evalsha"])
def scripts(request):
    # One contract, both ways of running the script.
    return Scripts("redis_patterns", use_functions=request.param == "functions")


def append(r, scripts, stream, n, **kw):
    return event_log.append(r, scripts, stream, "broadcast", json.dumps({"n": n}),
                            maxlen=kw.get("maxlen", 1000), ttl_seconds=kw.get("ttl", 3600))


def test_append_is_one_round_trip_sets_the_ttl_and_names_the_previous_entry(r, raw_redis, scripts):
    append(r, scripts, "t:s", 0)  # loads the scripts
    with tracing() as trace:
        first, prev = append(r, scripts, "t:s", 1, ttl=120)
    assert trace.round_trip_count == 1
    second, prev2 = append(r, scripts, "t:s", 2, ttl=120)
    assert prev2 == first and event_log.is_event_id(first)
    assert prev != "" and event_log.id_le(prev, first)
    assert 0 < raw_redis.ttl("t:s") <= 120
    assert [e[0] for e in raw_redis.xrange("t:s")][-2:] == [first, second]


def test_ids_are_distinct_and_increasing_across_streams(r, scripts):
    ids = [append(r, scripts, f"t:s{i % 3}", i)[0] for i in range(60)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids, key=event_log.parse_id)  # publish order, whichever stream


def test_ids_stay_increasing_when_the_clock_does_not_move(r, raw_redis, scripts):
    # An entry from the future: the next append must still come after it.
    raw_redis.xadd("t:s", {"type": "broadcast", "data": "{}"}, id="99999999999999-5")
    new_id, prev = append(r, scripts, "t:s", 1)
    assert (prev, new_id) == ("99999999999999-5", "99999999999999-6")


def test_the_stream_is_capped(r, raw_redis, scripts):
    for i in range(400):
        append(r, scripts, "t:s", i, maxlen=50)
    # MAXLEN ~ trims whole macro-nodes: about 50, never fewer.
    assert 50 <= raw_redis.xlen("t:s") < 400


def test_read_after_merges_streams_in_id_order_and_pages(r, scripts, settings):
    ids = [append(r, scripts, f"t:s{i % 2}", i)[0] for i in range(25)]

    async def read(cursors, **kw):
        from tests.conftest import scaffold_client

        return await event_log.aread_after(scaffold_client(is_async=True), cursors, **kw)

    got = async_to_sync(read)({"t:s0": ids[2], "t:s1": ids[2]}, page_size=4)
    assert [e[1] for e in got] == ids[3:]
    assert [e[2]["n"] for e in got] == list(range(3, 25))
    assert all(e[2]["type"] == "broadcast" and e[2]["id"] == e[1] for e in got)
    upto = async_to_sync(read)({"t:s0": "0-0", "t:s1": "0-0"}, upto=ids[4])
    assert [e[1] for e in upto] == ids[:5]


def test_tails_and_id_helpers(r, scripts):
    last, _ = append(r, scripts, "t:a", 1)

    async def tails():
        from tests.conftest import scaffold_client

        return await event_log.atails(scaffold_client(is_async=True), ["t:a", "t:missing"])

    assert async_to_sync(tails)() == {"t:a": last, "t:missing": "0-0"}
    assert event_log.id_le("9-0", "10-0") and not event_log.id_le("10-0", "9-9")
    assert event_log.merge_cursor("5-0", ["3-0", "7-1", "7-0"]) == "7-1"
    assert not event_log.is_event_id("1-2-3") and not event_log.is_event_id("") and event_log.is_event_id("12")
