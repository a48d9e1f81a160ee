"""Round trips: the same reads one by one, pipelined, and as one command.

Pattern
    Every command sent on its own costs a network round trip; on loopback
    that is ~25-130 µs, across a data centre 0.2-1 ms, so 20 sequential GETs
    cost 20 times that before Redis does any work.  A pipeline writes all
    commands at once and reads all replies after: one round trip, N commands.
    A multi-key command (``MGET``) is one round trip *and* one command, the
    cheapest of all when one exists for what you need.

Guarantees
    A pipeline (``transaction=False``) is not atomic: other clients' commands
    may interleave.  ``transaction=True`` wraps it in ``MULTI``/``EXEC``
    (still one round trip) when the batch must apply all-or-nothing.

Cluster
    ``MGET`` needs all its keys in one hash slot: the demo's keys share the
    ``{rt}`` hash tag.  A cluster pipeline is split per node by redis-py:
    one round trip per node touched.

The hot-path form (``direct_call``, ``direct_pipeline``)
    redis-py's ``Pipeline`` object and its ``execute_command`` layers cost
    5-10 µs of Python per call on top of the round trip, a quarter of a
    loopback ``GET``.  Where a call is made on every request (a rate-limit
    decision), these two functions take a pooled connection, write the
    command(s) in one ``sendall`` and read the replies: the same wire traffic
    as ``client.execute_command`` or a ``transaction=False`` pipeline, the
    same connection pool, health checks and command trace.  What they skip:
    redis-py's response callbacks (replies come back as RESP gives them:
    ``"OK"``, not ``True``) and its retry loop, which they hand over to: on a
    connection error the connection is dropped and the call goes once more
    through the client's own path (with its retries).  A client they cannot
    drive this way (Redis Cluster, a single-connection client) simply takes
    its own path.

Commands: `GET <https://redis.io/docs/latest/commands/get/>`_,
`MGET <https://redis.io/docs/latest/commands/mget/>`_,
`SET <https://redis.io/docs/latest/commands/set/>`_.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


def read_one_by_one(client: Any, keys: Sequence[str]) -> list[Any]:
    """N commands, N round trips: the "before" half of the comparison."""
    return [client.get(k) for k in keys]


def read_pipelined(client: Any, keys: Sequence[str]) -> list[Any]:
    """N commands, 1 round trip."""
    pipe = client.pipeline(transaction=False)
    for k in keys:
        pipe.get(k)
    return pipe.execute()


def read_mget(client: Any, keys: Sequence[str]) -> list[Any]:
    """1 command, 1 round trip (keys must share a hash slot on a Cluster)."""
    return client.mget(keys)


def write_with_ttl(client: Any, values: Mapping[str, Any], ttl_seconds: int) -> None:
    """Write many keys, each with its TTL in the same ``SET ... EX``: 1 round trip."""
    pipe = client.pipeline(transaction=False)
    for k, v in values.items():
        pipe.set(k, v, ex=ttl_seconds)
    pipe.execute()


def _pool(client: Any) -> Any:
    """The client's connection pool when ``direct_*`` can drive it; ``None`` for its own path."""
    if getattr(client, "connection", None) is not None:  # single-connection client: it owns the lock
        return None
    return getattr(client, "connection_pool", None)   # RedisCluster has none: it routes per node


def direct_call(client: Any, *args: Any) -> Any:
    """One command, one round trip, without the client's wrapper layers (see the module docstring).

    Raises the server's error reply (``ResponseError``) like ``execute_command``.
    """
    pool = _pool(client)
    if pool is None:
        return client.execute_command(*args)
    conn = pool.get_connection()
    try:
        conn.send_command(*args)
        return conn.read_response()
    except (RedisConnectionError, RedisTimeoutError, OSError):
        conn.disconnect()
        pool.release(conn)
        conn = None
        return client.execute_command(*args)  # once more, through the client's retries
    except ResponseError:
        raise  # an error reply, read whole: the connection is clean
    except BaseException:
        conn.disconnect()  # a reply may be half read: never hand this connection out again
        raise
    finally:
        if conn is not None:
            pool.release(conn)


def direct_pipeline(client: Any, commands: Sequence[Sequence[Any]]) -> list[Any]:
    """Several commands in one write, their replies in order: a ``transaction=False`` pipeline.

    Not atomic (other clients' commands may run in between, as in any
    pipeline).  An error reply is returned in its slot, not raised, as
    ``pipeline.execute(raise_on_error=False)`` does.
    """
    pool = _pool(client)
    if pool is None:
        return _client_pipeline(client, commands)
    conn = pool.get_connection()
    try:
        conn.send_packed_command(conn.pack_commands(commands))
        replies = []
        for _ in commands:
            try:
                replies.append(conn.read_response())
            except ResponseError as exc:  # an error reply: keep reading the others
                replies.append(exc)
        return replies
    except (RedisConnectionError, RedisTimeoutError, OSError):
        conn.disconnect()
        pool.release(conn)
        conn = None
        return _client_pipeline(client, commands)
    except BaseException:
        conn.disconnect()
        raise
    finally:
        if conn is not None:
            pool.release(conn)


def _client_pipeline(client: Any, commands: Sequence[Sequence[Any]]) -> list[Any]:
    pipe = client.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    return pipe.execute(raise_on_error=False)
