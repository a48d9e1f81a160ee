"""Unique visitors with HyperLogLog, shown beside the exact count (course 2.7).

Pattern
    Every shop page view adds the browser's visitor id to a HyperLogLog per
    UTC day (``PFADD shop:visitors:{site}:<day> <id>``) and, on a product page,
    one per product per day.  ``PFCOUNT`` estimates how many distinct ids
    went in; ``PFCOUNT k1 ... k7`` estimates the union of several days
    without storing it; ``PFMERGE`` stores a union (a week) for reuse.

Guarantee and cost
    At most 12 KB per key (16,384 six-bit registers, "dense"), far less while
    small ("sparse", up to ``hll-sparse-max-bytes`` = 3000 bytes), whatever
    the number of visitors; a standard error of 0.81%.  An exact set costs
    tens of bytes *per visitor*: the page keeps one beside each HLL only for
    a two-day demo window, to show the estimate's real error
    (``docs/hll_error.svg`` draws both from 1k to 1M ids).

Round trips
    None of its own: ``queue_view`` adds its commands (``PFADD``, ``SADD``
    for the demo set, and ``EXPIREAT`` for each) to the pipeline the page
    already sends for its cache read.  ``EXPIREAT`` to a fixed moment (day end
    + retention) is idempotent, so setting it on every view is safe.

Visitor id
    A random id in a long-lived cookie (``shop_vid``), one per browser; it
    is a member of the HLL and the set, never part of a key name.

Failure policy
    Fail open: with Redis down the views are not counted (the page is served
    from the database and says so).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from config.api import ApiError
from config.redis import get_redis
from shop import keys

SITE_RETENTION = dt.timedelta(days=35)
PRODUCT_RETENTION = dt.timedelta(days=8)
EXACT_WINDOW = dt.timedelta(days=2)
COOKIE_AGE = 365 * 24 * 3600
_VID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def today() -> dt.date:
    """The current UTC day (every daily key is per UTC day)."""
    return timezone.now().astimezone(dt.UTC).date()


def day_end(day: dt.date) -> int:
    """Unix time of the end of ``day`` (UTC)."""
    return int(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC).timestamp())


# --- the visitor id -----------------------------------------------------------------------------


def visitor_id(request: HttpRequest) -> tuple[str, bool]:
    """The browser's visitor id and whether it is new (then ``visitor_cookie`` must set it)."""
    raw = request.COOKIES.get(keys.VISITOR_COOKIE, "")
    if _VID.match(raw):
        return raw, False
    return secrets.token_urlsafe(16), True


def visitor_cookie(response: HttpResponse, vid: str, is_new: bool) -> HttpResponse:
    """Set the visitor cookie on ``response`` if it is new."""
    if is_new:
        response.set_cookie(keys.VISITOR_COOKIE, vid, max_age=COOKIE_AGE, httponly=True, samesite="Lax")
    return response


# --- writes (queued on the page's own pipeline) -------------------------------------------------


def queue_view(pipe: Any, *, visitor: str, product_id: int | None = None, day: dt.date | None = None) -> None:
    """Queue a visit on ``pipe``: site-wide (always) and for ``product_id`` (if given), HLL + demo set, TTLs."""
    day = day or today()
    iso, end = day.isoformat(), day_end(day)
    targets = [(keys.visitors_site_day(iso), keys.visitors_site_day_exact(iso), SITE_RETENTION)]
    if product_id is not None:
        targets.append((keys.visitors_product_day(product_id, iso), keys.visitors_product_day_exact(product_id, iso),
                        PRODUCT_RETENTION))
    for hll, exact, retention in targets:
        pipe.pfadd(hll, visitor)
        pipe.expireat(hll, end + int(retention.total_seconds()))
        pipe.sadd(exact, visitor)
        pipe.expireat(exact, end + int(EXACT_WINDOW.total_seconds()))


# --- reads --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VisitorCount:
    day: str
    estimate: int
    exact: int | None  # None: outside the demo window (the exact set has expired)
    hll_bytes: int | None = None
    exact_bytes: int | None = None
    encoding: str | None = None

    @property
    def error_pct(self) -> float | None:
        if not self.exact:
            return 0.0 if self.exact == 0 and self.estimate == 0 else None
        return round(100.0 * (self.estimate - self.exact) / self.exact, 3)

    def as_json(self) -> dict[str, Any]:
        return {"day": self.day, "estimate": self.estimate, "exact": self.exact, "error_pct": self.error_pct}


def visitors_params(query: Any) -> tuple[dt.date, int | None]:
    """``(day, product_id)`` from ``?day=YYYY-MM-DD[&product=<id>]``, or ``ApiError`` (400)."""
    raw_day = query.get("day") or today().isoformat()
    try:
        day = dt.date.fromisoformat(raw_day) if len(raw_day) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise ApiError("day must be a date as YYYY-MM-DD", code="invalid_parameter")
    if day > today() or day < today() - SITE_RETENTION:
        raise ApiError(f"day must be within the last {SITE_RETENTION.days} days (older counts have expired)",
                       code="out_of_range")
    raw_product = query.get("product")
    product = None
    if raw_product is not None:
        if not raw_product.isascii() or not raw_product.isdigit() or len(raw_product) > 18 or int(raw_product) < 1:
            raise ApiError("product must be a positive integer id", code="invalid_parameter")
        product = int(raw_product)
    return day, product


def visitors_count(*, day: dt.date, product_id: int | None = None, memory: bool = False,
                   client: Any = None) -> VisitorCount:
    """The HLL estimate and the exact count of one day (site-wide or one product), one pipelined round trip."""
    client = client or get_redis()
    iso = day.isoformat()
    if product_id is None:
        hll, exact = keys.visitors_site_day(iso), keys.visitors_site_day_exact(iso)
    else:
        hll, exact = keys.visitors_product_day(product_id, iso), keys.visitors_product_day_exact(product_id, iso)
    pipe = client.pipeline(transaction=False)
    pipe.pfcount(hll)
    pipe.scard(exact)
    pipe.exists(exact)
    if memory:
        pipe.memory_usage(hll)
        pipe.memory_usage(exact)
        pipe.getrange(hll, 4, 4)  # the HLL header's encoding byte: 0 dense, 1 sparse
    replies = pipe.execute()
    estimate, cardinality, present = replies[:3]
    in_window = bool(present) or day >= today() - dt.timedelta(days=1)
    extra: dict[str, Any] = {}
    if memory:
        flag = replies[5]
        extra = {"hll_bytes": replies[3], "exact_bytes": replies[4],
                 "encoding": None if not flag else ("dense" if flag in ("\x00", b"\x00") else "sparse")}
    return VisitorCount(iso, int(estimate), int(cardinality) if in_window else None, **extra)


def week_days(day: dt.date) -> list[dt.date]:
    """The ISO week (Monday to Sunday) holding ``day``, up to today."""
    monday = day - dt.timedelta(days=day.weekday())
    return [d for d in (monday + dt.timedelta(days=i) for i in range(7)) if d <= today()]


def visitors_week(*, day: dt.date, client: Any = None) -> dict[str, Any]:
    """A week's site-wide visitors two ways, in one ``MULTI``: ``PFCOUNT`` over the days, and ``PFMERGE`` stored.

    Both give the same number: ``PFCOUNT k1..k7`` merges into a temporary
    HLL on the server; ``PFMERGE`` keeps the merge (10 minutes here) so
    other readers, or a monthly merge, can reuse it.  The sum of the daily
    counts is shown beside them: a returning visitor is counted once per day.
    """
    client = client or get_redis()
    days = week_days(day)
    day_keys = [keys.visitors_site_day(d.isoformat()) for d in days]
    merged = keys.visitors_site_week(days[0].isoformat())
    pipe = client.pipeline(transaction=True)
    pipe.pfcount(*day_keys)
    pipe.pfmerge(merged, *day_keys)
    pipe.expire(merged, 600)
    pipe.pfcount(merged)
    for k in day_keys:
        pipe.pfcount(k)
    replies = pipe.execute()
    return {"monday": days[0].isoformat(), "days": len(days), "pfcount_union": replies[0],
            "pfmerge_count": replies[3], "sum_of_days": sum(replies[4:])}


def visitors_history(*, days: int = 14, client: Any = None) -> list[dict[str, Any]]:
    """The last ``days`` site-wide counts (estimate and, inside the window, exact), one pipelined round trip."""
    client = client or get_redis()
    dates = [today() - dt.timedelta(days=i) for i in range(days - 1, -1, -1)]
    pipe = client.pipeline(transaction=False)
    for d in dates:
        pipe.pfcount(keys.visitors_site_day(d.isoformat()))
        pipe.exists(keys.visitors_site_day_exact(d.isoformat()))
        pipe.scard(keys.visitors_site_day_exact(d.isoformat()))
    replies = pipe.execute()
    return [{"day": d.isoformat(), "estimate": replies[3 * i], "exact": replies[3 * i + 2] if replies[3 * i + 1] else None}
            for i, d in enumerate(dates)]
