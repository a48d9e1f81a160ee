"""redis_patterns.zrank: a member's rank and score in one command where the server has WITHSCORE."""

from __future__ import annotations

import pytest
import redis
from redis.exceptions import ResponseError

from redis_patterns import zrank
from tests.conftest import command_calls


def has_withscore(info) -> bool:
    """Redis 7.2+ and Valkey 7.2+ take ``ZREVRANK ... WITHSCORE``."""
    return info.name in ("Redis", "Valkey") and info.version >= (7, 2)


@pytest.fixture
def client(redis_server):
    c = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
    zrank.forget(c)
    c.zadd("t:board", {"a": 5, "b": 7, "c": 7, "d": 1})
    yield c
    zrank.forget(c)
    c.close()


def test_detection_matches_the_server_and_is_tried_once(client, server_info):
    assert zrank.supported(client) is None
    client.config_resetstat()
    assert zrank.rev_rank_with_score(client, "t:board", "a") == (2, "5")
    assert zrank.supported(client) is has_withscore(server_info)
    for _ in range(5):
        zrank.rev_rank_with_score(client, "t:board", "a")
    if has_withscore(server_info):  # one command per read, never a ZSCORE
        assert (command_calls(client, "zrevrank"), command_calls(client, "zscore")) == (6, 0)
    else:  # refused once (the server rejects the arity before running it), then two commands per read
        assert command_calls(client, "zrevrank", "rejected_calls") == 1
        assert (command_calls(client, "zrevrank"), command_calls(client, "zscore")) == (6, 6)


def test_both_paths_give_the_same_answers(client):
    # ties (b, c at 7) rank in reverse lexicographic order; an absent member is None
    expected = {"c": (0, "7"), "b": (1, "7"), "a": (2, "5"), "d": (3, "1"), "nobody": None}
    first = {m: zrank.rev_rank_with_score(client, "t:board", m) for m in expected}
    assert first == expected
    zrank._known.set(client, False)  # the fallback, whatever this server has (the fixture forgets it)
    assert {m: zrank.rev_rank_with_score(client, "t:board", m) for m in expected} == expected
    assert zrank.rev_rank_with_score(client, "t:missing-key", "a") is None


def test_a_wrong_type_is_raised_and_not_taken_for_an_old_server(client, server_info):
    zrank.rev_rank_with_score(client, "t:board", "a")  # learnt
    client.set("t:string", "x")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        zrank.rev_rank_with_score(client, "t:string", "a")
    assert zrank.supported(client) is has_withscore(server_info)


def test_forget_tries_again(client, server_info):
    zrank._known.set(client, False)
    zrank.forget(client)
    assert zrank.supported(client) is None
    zrank.rev_rank_with_score(client, "t:board", "a")
    assert zrank.supported(client) is has_withscore(server_info)


def test_a_client_that_is_gone_leaves_nothing_behind(redis_server):
    import gc

    c = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
    zrank.rev_rank_with_score(c, "t:board", "a")
    key = id(c)
    assert zrank._known.holds(key)
    c.close()
    del c
    gc.collect()
    assert not zrank._known.holds(key)
