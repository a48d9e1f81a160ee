"""Every Redis key of ``sessions_app/``, one function each, each declared in the key registry."""

from __future__ import annotations

import datetime as dt

from config.keyspace import family
from config.redis import key

#: Long enough for the retention chart's cohorts (day N against day 0, N up to 90).
ACTIVITY_TTL = dt.timedelta(days=120)


@family("{activity}:users:<YYYY-MM-DD>", type="string", ttl="120 days, set with the first SETBIT of the day",
        writer="sessions_app (each authenticated request: SETBIT <user id> 1); read by shop analytics")
def active_users_key(day: dt.date) -> str:
    """Daily active users as a bitmap, bit = user id.

    One ``{activity}`` hash tag for every day, so ``BITOP OR`` (weekly
    actives) and ``BITOP AND`` (retention: day N against the day-0 cohort)
    run on a Cluster too.  Memory: max user id / 8 bytes per day (125 KB for
    a million users), whatever the number of active users.
    """
    return key("{activity}", "users", day.isoformat())
