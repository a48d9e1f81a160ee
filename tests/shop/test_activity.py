"""Activity bitmaps, read side: BITCOUNT per day, BITOP OR for the week, BITOP AND for retention; the demo seed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command

from redis_patterns.tracing import tracing
from sessions_app.keys import active_users_key
from shop import activity, keys, visitors

pytestmark = pytest.mark.django_db


def mark(r, day: dt.date, users: set[int]) -> None:
    pipe = r.pipeline()
    for user in users:
        pipe.setbit(active_users_key(day), user, 1)
    pipe.execute()


def test_counts_week_and_retention_match_the_sets(r, raw_redis):
    today = visitors.today()
    days = {i: today - dt.timedelta(days=i) for i in range(15)}
    active = {i: {u for u in range(1, 400) if (u * (i + 3)) % 7 < 3} for i in days}
    for i, day in days.items():
        mark(r, day, active[i])
    with tracing() as trace:
        summary = activity.activity_summary(retention_days=14)
    assert trace.round_trip_count == 1
    assert summary["daily"][-1] == {"day": today.isoformat(), "active": len(active[0])}
    week = set().union(*(active[i] for i in range(today.weekday() + 1)))
    assert summary["week"]["active"] == len(week)
    cohort = active[14]
    assert summary["cohort"]["size"] == len(cohort)
    for row in summary["retention"]:
        kept = cohort & active[14 - row["n"]]
        assert row["retained"] == len(kept) and row["pct"] == round(100 * len(kept) / len(cohort), 1)
    monday = today - dt.timedelta(days=today.weekday())
    assert 0 < raw_redis.ttl(keys.activity_week(monday.isoformat())) <= activity.DERIVED_TTL


def test_the_demo_seed_is_idempotent_and_sets_the_ttl(r, raw_redis):
    call_command("seed_activity", days=10, quiet=True, stdout=open("/dev/null", "w"))  # noqa: SIM115
    counts = [raw_redis.bitcount(active_users_key(visitors.today() - dt.timedelta(days=i))) for i in range(10)]
    call_command("seed_activity", days=10, quiet=True, stdout=open("/dev/null", "w"))  # noqa: SIM115
    again = [raw_redis.bitcount(active_users_key(visitors.today() - dt.timedelta(days=i))) for i in range(10)]
    assert counts == again and min(counts) > activity.DEMO_COHORT
    assert raw_redis.ttl(active_users_key(visitors.today())) > 119 * 86400
    summary = activity.activity_summary(retention_days=7)
    retention = [row["pct"] for row in summary["retention"]]
    assert retention[0] > retention[-1] > 0  # the demo cohorts fade, as real ones do


def test_the_page_charts_it(client, r):
    mark(r, visitors.today(), {1, 2, 3})
    page = client.get("/shop/activity/")
    html = page.content.decode()
    assert page.status_code == 200 and 'id="dau-today">3<' in html and "BITOP" in html
    assert html.count('class="col"') == activity.CHART_DAYS
