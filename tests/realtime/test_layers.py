"""realtime.layers.CoreChannelLayer.group_send_many on the session's private redis-server (the settings' layer)."""

from __future__ import annotations

import time
import uuid

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from realtime.layers import CoreChannelLayer
from tests.conftest import command_calls


def calls(raw_redis, *commands: str) -> dict[str, int]:
    return {c: command_calls(raw_redis, c) for c in commands}


@pytest.fixture
def layer():
    layer = get_channel_layer()
    assert isinstance(layer, CoreChannelLayer)  # CHANNEL_LAYER=core, the default
    return layer


def test_many_groups_are_asked_for_members_in_one_round_trip_and_only_the_listened_ones_are_sent_to(
        layer, raw_redis):
    tag = uuid.uuid4().hex[:8]
    listened, silent, stale = f"l{tag}", [f"s{tag}{i}" for i in range(8)], f"x{tag}"
    messages = {group: {"type": "rt.event", "n": i} for i, group in enumerate([listened, *silent, stale])}

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add(listened, channel)
        # a member that joined longer than group_expiry ago: group_send would drop it, so it does not count
        old = await layer.new_channel()
        await layer.group_add(stale, old)
        await layer.connection(layer.consistent_hash(stale)).zadd(
            layer._group_key(stale), {old: time.time() - layer.group_expiry - 5})
        raw_redis.config_resetstat()
        failed = await layer.group_send_many(messages)
        counted = calls(raw_redis, "zcount", "zrange", "zremrangebyscore")
        received = await layer.receive(channel)
        return failed, counted, received

    failed, counted, received = async_to_sync(scenario)()
    assert failed == {}
    # 10 groups counted in one pipeline; channels-redis's group_send (ZREMRANGEBYSCORE, ZRANGE, its
    # per-channel ZREMRANGEBYSCORE, its script's ZCOUNT of the channel's queue) ran for the listened group only
    assert counted == {"zcount": 10 + 1, "zrange": 1, "zremrangebyscore": 2}
    assert received == {"type": "rt.event", "n": 0}


def test_one_group_goes_straight_to_group_send(layer, raw_redis):
    group = f"one{uuid.uuid4().hex[:8]}"

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        raw_redis.config_resetstat()
        failed = await layer.group_send_many({group: {"type": "rt.event", "n": 1}})
        return failed, calls(raw_redis, "zcount", "zrange"), await layer.receive(channel)

    failed, counted, received = async_to_sync(scenario)()
    # no count first: group_send's own commands only (its script's ZCOUNT of the channel's queue)
    assert failed == {} and counted == {"zcount": 1, "zrange": 1} and received["n"] == 1


def test_a_bad_group_name_sends_nothing(layer, raw_redis):
    raw_redis.config_resetstat()
    with pytest.raises(TypeError, match="Group name"):
        async_to_sync(layer.group_send_many)({"fine": {"type": "rt.event"}, "not a group!": {"type": "rt.event"}})
    assert calls(raw_redis, "zcount", "zrange") == {"zcount": 0, "zrange": 0}


def test_a_send_that_fails_is_returned_not_raised_and_the_others_are_sent(layer, raw_redis):
    """One group's send failing (its member's queue key holds a string: WRONGTYPE) is reported, not raised."""
    tag = uuid.uuid4().hex[:8]
    good, broken = f"g{tag}", f"b{tag}"

    async def scenario():
        channel, bad = await layer.new_channel(), f"bad{tag}"  # bad: a plain channel, its own queue key
        await layer.group_add(good, channel)
        await layer.group_add(broken, bad)
        raw_redis.set(layer.prefix + bad, "not a queue")
        failed = await layer.group_send_many({good: {"type": "rt.event", "n": 3}, broken: {"type": "rt.event"}})
        return failed, await layer.receive(channel)

    failed, received = async_to_sync(scenario)()
    # (redis-py 7.0.1 words a pipeline's error as "... caused error: {exception.args}", without the args)
    assert list(failed) == [broken] and isinstance(failed[broken], redis.ResponseError)
    assert received == {"type": "rt.event", "n": 3}
