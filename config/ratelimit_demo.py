"""The rate-limiting demo: one request timeline replayed against all five algorithms.

The timeline runs on a controlled clock (each decision passes its own
``now``), so the page is the same on every load and shows in seconds what
would take minutes of real traffic.  All decisions of one timeline (5
algorithms x ~30 requests) go in one pipelined round trip; each is still
its own atomic script, in order.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from redis.exceptions import RedisError

from config.context_processors import cached_redis_health
from config.redis import get_redis, redis_config
from redis_patterns.ratelimit import ALGORITHMS, decide_many
from redis_patterns.tracing import tracing

LIMIT = 5
PERIOD = 10.0  # simulated seconds
SPAN = 30.0

PATTERNS: dict[str, tuple[str, list[float]]] = {
    "window-edge": ("Quiet, then 5 requests just before a window edge and 10 just after it (every 0.2 s).",
                    [9.0 + 0.2 * i for i in range(5)] + [10.0 + 0.2 * i for i in range(10)]
                    + [20.0 + 0.5 * i for i in range(6)]),
    "steady": ("One request per second: twice the allowed average rate.", [0.5 + i for i in range(30)]),
    "bursty": ("Bursts of 8 requests within 0.7 s, every 7 s.",
               [start + 0.1 * i for start in (1.0, 8.0, 15.0, 22.0) for i in range(8)]),
}

NOTES = {
    "fixed_window": "Aligned windows: 5 before the edge plus 5 after it pass within one second (2x the limit).",
    "sliding_log": "Exact: never more than 5 in any 10 s, at the price of one entry per request.",
    "sliding_window": "Weighs the previous window: no 2x edge burst, constant memory, approximate.",
    "token_bucket": "Bursts up to 5, then one per 2 s as tokens refill: burst + refill may exceed 5 in 10 s, by design.",
    "gcra": "The same admissions as the token bucket, stored as one timestamp.",
}

# chart geometry (SVG user units)
WIDTH, LEFT, RIGHT, ROW = 760, 12, 12, 54


@dataclass
class Mark:
    t: float
    x: float
    allowed: bool


def max_in_any_period(times: list[float], period: float) -> int:
    """The most admissions in any interval of ``period`` (the limit's real meaning)."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= period:
            start += 1
        best = max(best, end - start + 1)
    return best


def run_pattern(pattern: str) -> tuple[list[dict], object]:
    """Replay ``pattern`` on every algorithm; one round trip for all decisions."""
    _, offsets = PATTERNS[pattern]
    client = get_redis()
    # a fresh subject per run, and a base time on a window edge so windows line up with the chart
    subject = "demo-" + secrets.token_hex(6)
    base = (math.floor(time.time() / PERIOD) + 1) * PERIOD
    limiters = {name: cls(client, name="demo", limit=LIMIT, period=PERIOD, key_prefix=redis_config().key_prefix)
                for name, cls in ALGORITHMS.items()}
    requests = [(lim, subject, 1, base + t) for lim in limiters.values() for t in offsets]
    with tracing("timeline") as trace:
        decisions = decide_many(client, requests)
    scale = (WIDTH - LEFT - RIGHT) / SPAN
    rows = []
    for i, name in enumerate(limiters):
        chunk = decisions[i * len(offsets):(i + 1) * len(offsets)]
        marks = [Mark(t, LEFT + t * scale, d.allowed) for t, d in zip(offsets, chunk, strict=True)]
        admitted = [m.t for m in marks if m.allowed]
        rows.append({
            "name": name, "note": NOTES[name], "marks": marks, "allowed": len(admitted),
            "denied": len(marks) - len(admitted), "peak": max_in_any_period(admitted, PERIOD),
            "y": i * ROW, "over": max_in_any_period(admitted, PERIOD) > LIMIT,
        })
    return rows, trace


def page(request: HttpRequest) -> HttpResponse:
    pattern = request.GET.get("pattern", "window-edge")
    if pattern not in PATTERNS:
        pattern = "window-edge"
    scale = (WIDTH - LEFT - RIGHT) / SPAN
    context: dict = {
        "patterns": {k: v[0] for k, v in PATTERNS.items()}, "pattern": pattern, "limit": LIMIT, "period": PERIOD,
        "width": WIDTH, "row": ROW, "height": ROW * len(ALGORITHMS) + 24,
        "edges": [{"x": LEFT + k * PERIOD * scale, "label": f"{k * PERIOD:g} s"} for k in range(int(SPAN / PERIOD) + 1)],
        "requests": len(PATTERNS[pattern][1]),
        "decisions": len(PATTERNS[pattern][1]) * len(ALGORITHMS),
    }
    if cached_redis_health()[0]:
        try:
            context["rows"], context["trace"] = run_pattern(pattern)
        except RedisError as exc:
            context["error"] = str(exc)
    return render(request, "config/ratelimit.html", context)
