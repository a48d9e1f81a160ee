"""Recently viewed (List) and top products today (Sorted set), written by the product page's own round trip.

Recently viewed (course 2.3)
    ``LREM key 0 <entry>`` (a product viewed again moves to the front rather
    than appearing twice), ``LPUSH key <entry>``, ``LTRIM key 0 9`` (the list
    never grows past 10), ``EXPIRE key 30 days``, then ``LRANGE key 0 9`` to
    show it: five commands, queued on the pipeline that already carries the
    page's cache ``GET``, so the feature costs no round trip.  An entry is
    the product's id and name as compact JSON, so showing the list needs no
    query; after a rename the old entry ages out of the 10 (the page shows
    each id once).  One list per browser (the visitor cookie, hashed in the
    key name).

Top products today (course 2.5, 8.3)
    ``ZINCRBY shop:top:{<day>} 1 <id>`` per view, ``EXPIREAT`` the end of the
    next day; ``ZRANGE ... REV WITHSCORES 0 9`` is the top 10.  It replaces
    ``ORDER BY view_count`` (a table scan-and-sort that also lags behind the
    write-behind counter): the sorted set is exact, current and O(log N) per
    view.  The cache warm-up task reads it too (``shop.services.cache_warm``).

Popularity
    ``ZINCRBY shop:ac:{names}:popularity 1 <id>``: all-time views, which the
    autocomplete script ranks suggestions by.

Failure policy
    Fail open: with Redis down nothing is recorded and the lists are empty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from config.redis import get_redis
from shop import keys
from shop.models import Product
from shop.visitors import day_end, today

RECENT_SIZE = 10
RECENT_TTL = 30 * 24 * 3600
TOP_KEEP = dt.timedelta(days=1)


def queue_view(pipe: Any, *, visitor: str, product_id: int,
               day: dt.date | None = None) -> Callable[[list[Any]], list[int]]:
    """Queue a product view on ``pipe``; returns a function that reads the recently-viewed ids from the replies.

    The returned function takes the replies of the commands queued here, in
    order, and gives the product ids newest first (``recent_names`` adds names).
    """
    day = day or today()
    recent = keys.recently_viewed(visitor)
    top = keys.top_products_day(day.isoformat())
    member = str(int(product_id))
    pipe.zincrby(top, 1, member)
    pipe.expireat(top, day_end(day) + int(TOP_KEEP.total_seconds()))
    pipe.zincrby(keys.autocomplete_popularity(), 1, member)
    pipe.lrem(recent, 0, member)
    pipe.lpush(recent, member)
    pipe.ltrim(recent, 0, RECENT_SIZE - 1)
    pipe.expire(recent, RECENT_TTL)
    pipe.lrange(recent, 0, RECENT_SIZE - 1)
    return lambda replies: _ids(replies[-1])


#: Commands ``queue_view`` adds to the pipeline.
QUEUED_COMMANDS = 8


def _ids(raw: list[str] | None) -> list[int]:
    return [int(x) for x in raw or [] if x.isdigit()]


def recent_names(ids: list[int], *, known: dict[int, str] | None = None) -> list[dict[str, Any]]:
    """``[{"id", "name"}]`` for recently viewed ids, in order.

    Names the caller already has (the product on the page, from its cache
    entry) are used as they are; the others come from one primary-key query,
    only when there are any.
    """
    names = dict(known or {})
    missing = [i for i in ids if i not in names]
    if missing:
        names.update(Product.objects.filter(pk__in=missing).values_list("pk", "name"))
    return [{"id": i, "name": names[i]} for i in ids if i in names]


def recently_viewed(*, visitor: str, client: Any = None) -> list[dict[str, Any]]:
    """A visitor's recently viewed products, newest first (``LRANGE``, then their names)."""
    client = client or get_redis()
    return recent_names(_ids(client.lrange(keys.recently_viewed(visitor), 0, RECENT_SIZE - 1)))


def queue_top(pipe: Any, *, limit: int = 10, day: dt.date | None = None) -> None:
    """Queue ``ZRANGE shop:top:{<day>} 0 limit-1 REV WITHSCORES`` on ``pipe`` (read with ``top_from``)."""
    pipe.zrange(keys.top_products_day((day or today()).isoformat()), 0, limit - 1, desc=True, withscores=True)


def top_from(reply: list[tuple[str, float]]) -> list[dict[str, Any]]:
    """``[{"id", "name", "views"}]`` from a ``queue_top`` reply; names from one query by primary key."""
    ids = [int(member) for member, _ in reply or []]
    if not ids:
        return []
    names = dict(Product.objects.filter(pk__in=ids).values_list("pk", "name"))
    return [{"id": int(m), "name": names[int(m)], "views": int(score)} for m, score in reply if int(m) in names]


def top_today(*, limit: int = 10, day: dt.date | None = None, client: Any = None) -> list[dict[str, Any]]:
    """Today's most viewed products with their view counts (one round trip + one query for the names)."""
    client = client or get_redis()
    pipe = client.pipeline(transaction=False)
    queue_top(pipe, limit=limit, day=day)
    return top_from(pipe.execute()[0])


def top_ids(*, limit: int, client: Any = None) -> list[int]:
    """Today's most viewed product ids (for the cache warm-up)."""
    client = client or get_redis()
    return [int(m) for m in client.zrange(keys.top_products_day(today().isoformat()), 0, limit - 1, desc=True)]
