"""Daily active users: one ``SETBIT`` per authenticated request, queued into a round trip the request makes anyway.

The bitmap ``{activity}:users:<day>`` has one bit per user id (read by the
shop's analytics: ``BITCOUNT``, ``BITOP OR`` for a week, ``BITOP AND`` for
retention).  Marking is idempotent, so doing it on every request costs no
correctness, only two cheap commands: ``SETBIT`` and an ``EXPIREAT`` at the
same absolute time for the whole day (repeating it changes nothing, and the
TTL is set in the same pipeline as the write that creates the key).

Where the commands ride:

- a request authenticated by its session: the session's save pipeline
  (``sessions_app.store``), which every such request sends to slide the
  session's expiry;
- a request authenticated by a Bearer token: the pipeline that checks the
  token's denylist entry (``sessions_app.tokens``);
- another session engine (``SESSION_BACKEND=cache|cached_db|db``): a pipeline
  of its own, sent by the session middleware.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sessions_app import keys

#: SETBIT offsets stop at 2**32 - 1; larger ids are not marked (none exist in this app).
MAX_USER_ID = 2**32 - 1


def activity_mark(pipe: Any, *, user_id: int, now: dt.datetime | None = None) -> bool:
    """Queue "this user was active today" into ``pipe``; ``False`` if the id cannot be a bit offset."""
    if not 0 < user_id <= MAX_USER_ID:
        return False
    now = now or dt.datetime.now(dt.UTC)
    day = now.astimezone(dt.UTC).date()
    name = keys.active_users_key(day)
    expire_at = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + keys.ACTIVITY_TTL
    pipe.setbit(name, user_id, 1)
    pipe.expireat(name, int(expire_at.timestamp()))
    return True
