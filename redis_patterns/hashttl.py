"""Hash-field TTL: fields of one hash that expire on their own, where the server has it.

The feature
    Redis 7.4 and Valkey 9.0 give each hash field its own expiry:
    ``HEXPIRE key seconds FIELDS n f ...`` sets it, ``HTTL`` reads it,
    ``HPERSIST`` removes it; an expired field disappears from ``HGET``,
    ``HGETALL`` and ``HLEN`` as an expired key disappears from ``GET``, and the
    hash goes when its last field does.  Before it, "this line of the cart
    expires in a week, that one in ten minutes" needed one key per field (a
    ``SET ... EX`` each, read back with ``MGET`` and no atomic view of the
    whole), or a sorted set of deadlines and a sweeper.

What changes a field's TTL (``HINCRBY`` keeps it, ``HSET`` on the field
    clears it, like ``SET`` on a key): set it again after every write in the
    same script or ``MULTI``, as this project does with key TTLs.

Detection
    Once per client (so once per process in practice), by trying: ``HTTL``
    on the very key the caller is about to write, for one field.  It is
    read-only, so probing has no effect; a server without the feature answers
    "unknown command".  Trying beats comparing versions: Valkey's ``INFO``
    reports ``redis_version:7.2.4`` for client compatibility, and an ACL or a
    proxy may refuse a command the version has.  ``forget()`` (after an
    "unknown command" from a script, e.g. a failover to an older replica)
    makes the next call probe again.

Fallback
    The caller keeps its whole-key TTL; every field then lives as long as the
    key.  Callers set the key TTL on both paths, so the key always outlives
    its fields and never holds a field past the key's own limit.

Commands
    `HEXPIRE <https://redis.io/docs/latest/commands/hexpire/>`_,
    `HTTL <https://redis.io/docs/latest/commands/httl/>`_,
    `HPERSIST <https://redis.io/docs/latest/commands/hpersist/>`_.

Round trips
    Detection: 1, once.  ``field_ttls``: 1 (``HTTL`` or ``TTL``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from redis.exceptions import ResponseError

from redis_patterns.perclient import PerClient

#: What ``HTTL``/``HEXPIRE`` answer per field instead of a time.
NO_SUCH_FIELD = -2
NO_TTL = -1

#: Per client: whether its server has hash-field TTL (``redis_patterns.perclient``).
_known: PerClient[bool] = PerClient()


_UNKNOWN = re.compile(r"unknown (redis |valkey )?command", re.IGNORECASE)


def is_unknown_command(exc: BaseException) -> bool:
    """True for the error a server without the command gives ("Unknown Redis command called from script" in Lua)."""
    return isinstance(exc, ResponseError) and _UNKNOWN.search(str(exc)) is not None


def supported(client: Any, probe_key: str) -> bool:
    """Whether the server behind ``client`` has hash-field TTL (probed once per client).

    Args:
        client: a ``redis.Redis`` or ``RedisCluster``.
        probe_key: a key the caller is about to use (on a Cluster the probe
            goes to its node); never written.
    """
    known = _known.get(client)
    if known is not None:
        return known
    try:
        client.execute_command("HTTL", probe_key, "FIELDS", 1, "probe")
        answer = True
    except ResponseError as exc:
        if not is_unknown_command(exc):
            raise
        answer = False
    _known.set(client, answer)
    return answer


def forget(client: Any | None = None) -> None:
    """Probe again next time (for ``client``, or for every client)."""
    _known.forget(client)


def expire_fields(pipe: Any, key: str, seconds: int, fields: Sequence[str | int]) -> None:
    """Queue ``HEXPIRE key seconds FIELDS n f ...`` (call only where ``supported``)."""
    pipe.execute_command("HEXPIRE", key, int(seconds), "FIELDS", len(fields), *fields)


def field_ttls(client: Any, key: str, fields: Sequence[str | int], *, per_field: bool) -> dict[str, int | None]:
    """Seconds left for each field: ``HTTL`` (``per_field``) or the key's ``TTL`` for all of them.

    ``None``: no expiry.  Fields that do not exist are left out.
    """
    if not fields:
        return {}
    if per_field:
        answers = client.execute_command("HTTL", key, "FIELDS", len(fields), *fields)
    else:
        ttl = int(client.ttl(key))
        answers = [NO_SUCH_FIELD if ttl == -2 else ttl] * len(fields)
    out: dict[str, int | None] = {}
    for field, answer in zip(fields, answers, strict=True):
        answer = int(answer)
        if answer == NO_SUCH_FIELD:
            continue
        out[str(field)] = None if answer == NO_TTL else answer
    return out
