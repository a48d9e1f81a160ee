"""Daily active users as bitmaps: counts, weekly actives and retention (course 2.8). The read side.

Pattern
    ``sessions_app`` sets bit ``<user id>`` of ``{activity}:users:<day>`` on
    each authenticated request (``SETBIT``; ``sessions_app.keys.active_users_key``).
    A day's actives are ``BITCOUNT``.  A week's actives, users seen on *any*
    of its days, are ``BITOP OR week d1 ... d7`` then ``BITCOUNT week``.
    Retention of the day-0 cohort on day N, users seen on day 0 *and* day N,
    is ``BITOP AND r d0 dN`` then ``BITCOUNT r``.  Every key shares the
    ``{activity}`` hash tag, so the ``BITOP``s run on a Cluster too.

Cost
    A bitmap is max user id / 8 bytes (125 KB per day for a million users)
    whatever the number of actives; ``BITCOUNT`` and ``BITOP`` are O(size),
    about a millisecond per megabyte.  ``activity_summary`` reads a 30-day
    chart, a week and a 14-day retention curve in **one** ``MULTI`` (the
    ``BITOP`` results kept 10 minutes, so a reload within that time could
    reuse them; recomputing is cheap enough that it does not bother).

Demo data
    ``python manage.py seed_activity`` marks synthetic users, a new cohort
    each day, each returning with a decaying probability, so the chart shows
    something on a fresh install (``make run`` runs it; idempotent: the bits
    of a given day are the same every time).

Failure policy
    Redis down: the page says so; there is nothing to fall back to.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from config.redis import get_redis
from sessions_app.keys import ACTIVITY_TTL, active_users_key
from shop import keys
from shop.visitors import day_end, today

DERIVED_TTL = 600
CHART_DAYS = 30
RETENTION_DAYS = 14

# The demo generator's shape: a cohort of new users per day, returning with a decaying probability.
DEMO_COHORT = 150
DEMO_FIRST_ID = 100_000  # demo users live above the ids of real ones (they are not rows in the user table)
DEMO_WINDOW = 60         # a cohort returns for at most this many days


def activity_summary(*, day: dt.date | None = None, chart_days: int = CHART_DAYS,
                     retention_days: int = RETENTION_DAYS, client: Any = None) -> dict[str, Any]:
    """Daily actives for ``chart_days``, this week's actives, and the retention of the cohort ``retention_days`` ago.

    One round trip (a ``MULTI``): ``BITCOUNT`` per day, ``BITOP OR`` +
    ``BITCOUNT`` for the week, ``BITOP AND`` + ``BITCOUNT`` per retention day.
    """
    client = client or get_redis()
    day = day or today()
    days = [day - dt.timedelta(days=i) for i in range(chart_days - 1, -1, -1)]
    monday = day - dt.timedelta(days=day.weekday())
    week = [monday + dt.timedelta(days=i) for i in range((day - monday).days + 1)]
    day0 = day - dt.timedelta(days=retention_days)
    later = [day0 + dt.timedelta(days=n) for n in range(1, retention_days + 1)]

    pipe = client.pipeline(transaction=True)
    for d in days:
        pipe.bitcount(active_users_key(d))
    week_key = keys.activity_week(monday.isoformat())
    pipe.bitop("OR", week_key, *(active_users_key(d) for d in week))
    pipe.expire(week_key, DERIVED_TTL)
    pipe.bitcount(week_key)
    pipe.bitcount(active_users_key(day0))
    for d in later:
        retained = keys.activity_retained(day0.isoformat(), d.isoformat())
        pipe.bitop("AND", retained, active_users_key(day0), active_users_key(d))
        pipe.expire(retained, DERIVED_TTL)
        pipe.bitcount(retained)
    pipe.memory_usage(active_users_key(day))
    replies = pipe.execute()

    daily = [{"day": d.isoformat(), "active": replies[i]} for i, d in enumerate(days)]
    at = len(days)
    week_active = replies[at + 2]
    cohort = replies[at + 3]
    at += 4
    retention = []
    for n, d in enumerate(later, 1):
        kept = replies[at + 3 * (n - 1) + 2]
        retention.append({"n": n, "day": d.isoformat(), "retained": kept,
                          "pct": round(100.0 * kept / cohort, 1) if cohort else 0.0})
    return {"daily": daily, "week": {"monday": monday.isoformat(), "days": len(week), "active": week_active,
                                     "sum_of_days": sum(r["active"] for r in daily if r["day"] >= monday.isoformat())},
            "cohort": {"day": day0.isoformat(), "size": cohort}, "retention": retention,
            "today_bytes": replies[-1]}


def user_active_days(*, user_id: int, days: int = CHART_DAYS, client: Any = None) -> list[bool]:
    """Was ``user_id`` active on each of the last ``days`` days (``GETBIT``, one pipelined round trip)."""
    client = client or get_redis()
    pipe = client.pipeline(transaction=False)
    for i in range(days - 1, -1, -1):
        pipe.getbit(active_users_key(today() - dt.timedelta(days=i)), user_id)
    return [bool(b) for b in pipe.execute()]


def demo_active_users(day: dt.date) -> list[int]:
    """The synthetic users active on ``day``: deterministic (the same day always gives the same ids)."""
    active: list[int] = []
    for age in range(DEMO_WINDOW):
        cohort_day = day - dt.timedelta(days=age)
        base = DEMO_FIRST_ID + (cohort_day.toordinal() % 365) * DEMO_COHORT
        # Weekends are quieter; returning users fall off like age^-0.6 (a typical retention curve).
        p = 1.0 if age == 0 else 0.55 * age ** -0.6 * (0.7 if day.weekday() >= 5 else 1.0)
        rng = random.Random(day.toordinal() * 1000 + age)  # noqa: S311 - demo data
        active += [base + i for i in range(DEMO_COHORT) if age == 0 or rng.random() < p]
    return active


def activity_seed(*, days: int = 35, offset: int = 0, client: Any = None) -> int:
    """Mark the demo users of ``days`` days ending ``offset`` days ago (``SETBIT`` + the key's TTL, one ``MULTI`` a day)."""
    client = client or get_redis()
    marked = 0
    for i in range(offset, offset + days):
        day = today() - dt.timedelta(days=i)
        users = demo_active_users(day)
        pipe = client.pipeline(transaction=True)
        for user_id in users:
            pipe.setbit(active_users_key(day), user_id, 1)
        pipe.expireat(active_users_key(day), day_end(day) + int(ACTIVITY_TTL.total_seconds()))
        pipe.execute()
        marked += len(users)
    return marked
