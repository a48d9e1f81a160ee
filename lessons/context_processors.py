"""Template context shared by every page: the Redis banner, the navigation, the footer."""

from __future__ import annotations

import django
from django.http import HttpRequest

from config.redis import cached_redis_health, redis_config
from lessons.usecases import navigation


def site(request: HttpRequest) -> dict:
    ok, detail = cached_redis_health()
    staff = bool(getattr(getattr(request, "user", None), "is_staff", False))
    return {
        "redis_ok": ok,
        # Addresses and error text are for staff: an anonymous visitor learns only that Redis is down.
        "redis_detail": detail if staff else "",
        "redis_target": redis_config().describe() if staff else "",
        "navigation": navigation(),
        "django_version": django.get_version(),
    }
