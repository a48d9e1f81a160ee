"""A member's rank and score in one command, where the server has it.

The feature
    Redis 7.2 and Valkey 7.2 added ``WITHSCORE`` to ``ZRANK`` and ``ZREVRANK``:
    ``ZREVRANK board player WITHSCORE`` answers "where is this player, with how
    many points" as ``[rank, score]`` (nil when the player is not there), read
    from one state of the sorted set.  Before it the same answer took two
    commands, ``ZREVRANK`` and ``ZSCORE``: pipelined they are still one round
    trip, but two commands for the server to parse and run and two replies
    for the client to read, and another client's write can land between them
    (a pipeline is not a transaction), so the rank and the score may describe
    two different moments.

Detection
    By trying, once per client: the first call sends ``WITHSCORE``; a server
    without it answers "wrong number of arguments" (Redis 7.0) and the client
    is remembered as one without it.  Not by version: Valkey's ``INFO`` says
    ``redis_version:7.2.4`` whatever its release, and a proxy may refuse what a
    version has.  A refusal later on (a failover to an older replica) is
    caught the same way and the call answered by the fallback; ``forget()``
    makes the next call try again.

Fallback
    ``ZREVRANK`` and ``ZSCORE`` pipelined (``roundtrips.direct_pipeline``):
    the same answer in the same one round trip.

Commands
    `ZREVRANK <https://redis.io/docs/latest/commands/zrevrank/>`_,
    `ZRANK <https://redis.io/docs/latest/commands/zrank/>`_,
    `ZSCORE <https://redis.io/docs/latest/commands/zscore/>`_.

Round trips
    1 (on an older server, 2 the first time: the refused try, then the pipeline).
"""

from __future__ import annotations

import re
from typing import Any

from redis.exceptions import ResponseError

from redis_patterns.perclient import PerClient
from redis_patterns.roundtrips import direct_call, direct_pipeline

#: Per client: ``True`` once ``WITHSCORE`` worked, ``False`` once it was refused (``None``: not tried yet).
_known: PerClient[bool] = PerClient()

#: What a server without the option answers (Redis 7.0: the command takes exactly two arguments there).
_REFUSED = re.compile(r"wrong number of arguments|syntax error", re.IGNORECASE)


def supported(client: Any) -> bool | None:
    """Whether ``client``'s server took ``WITHSCORE``; ``None`` before the first call tried it."""
    return _known.get(client)


def forget(client: Any = None) -> None:
    """Try ``WITHSCORE`` again on the next call (for ``client``, or for every client)."""
    _known.forget(client)


def rev_rank_with_score(client: Any, key: str, member: str) -> tuple[int, str] | None:
    """``(rank, score)`` of ``member`` in ``key`` counted from the highest score (0-based), or ``None``.

    The score is the server's reply as is (a string with ``decode_responses``):
    the caller knows how its scores are encoded.
    """
    known = _known.get(client)
    if known is not False:
        try:
            reply = direct_call(client, "ZREVRANK", key, member, "WITHSCORE")
        except ResponseError as exc:
            if not _REFUSED.search(str(exc)):
                raise
            _known.set(client, False)
        else:
            if known is None:
                _known.set(client, True)
            return None if reply is None else (reply[0], reply[1])
    rank, score = direct_pipeline(client, [("ZREVRANK", key, member), ("ZSCORE", key, member)])
    for reply in (rank, score):
        if isinstance(reply, Exception):
            raise reply
    if rank is None or score is None:  # not there (or removed between the two commands)
        return None
    return rank, score
