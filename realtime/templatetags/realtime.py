"""``{% online_count %}`` (how many are online now, for the home page) and ``{% current_broadcast %}`` (the banner)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

from config.redis import cached_redis_health
from realtime import selectors

register = template.Library()


@register.simple_tag
def online_count() -> str:
    """A live-updating count; the notifications socket refreshes it on every heartbeat."""
    # With Redis down the page must not wait for retries: the health probe is cached.
    count = selectors.online_count("site") if cached_redis_health()[0] else None
    return format_html('<span class="presence-count" data-presence-online>{}</span>',
                       "?" if count is None else count)


@register.simple_tag
def current_broadcast() -> dict | None:
    """The broadcast the banner shows when the page is rendered (``None``: no banner)."""
    if not cached_redis_health()[0]:
        return None
    return selectors.broadcast_current()
