"""Template context shared by every page."""

from __future__ import annotations

import time

import django
from django.http import HttpRequest

from config.redis import redis_config, redis_health
from config.usecases import USE_CASES, navigation

_HEALTH_TTL = 2.0
_health_cache: dict[str, tuple[float, bool, str]] = {}


def cached_redis_health() -> tuple[bool, str]:
    """Redis health, probed at most once every two seconds per process.

    Every page shows a banner when Redis is down; probing on every request
    would add a PING to every page's trace for no benefit.
    """
    now = time.monotonic()
    hit = _health_cache.get("redis")
    if hit and now - hit[0] < _HEALTH_TTL:
        return hit[1], hit[2]
    ok, detail = redis_health(timeout=0.5)
    _health_cache["redis"] = (now, ok, detail)
    return ok, detail


def site(request: HttpRequest) -> dict:
    ok, detail = cached_redis_health()
    return {
        "redis_ok": ok,
        "redis_detail": detail,
        "redis_target": redis_config().describe(),
        "use_cases": USE_CASES,
        "navigation": navigation(),
        "django_version": django.get_version(),
    }
