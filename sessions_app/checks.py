"""System checks for sessions: ``sessions_app.E001`` refuses a pickle ``SESSION_SERIALIZER``.

This app's Redis engine always stores JSON, and Django's cache engines go
through django-redis's serializer (``site_config.E002``); the ``db`` and
``cached_db`` engines use ``SESSION_SERIALIZER``, which must not unpickle what
it reads: whoever can write the session table or Redis would run code.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security)
def check_session_serializer(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    serializer = str(getattr(settings, "SESSION_SERIALIZER", ""))
    if "pickle" in serializer.lower():
        return [Error(f"SESSION_SERIALIZER is {serializer}.",
                      hint="Use django.contrib.sessions.serializers.JSONSerializer: unpickling a session runs "
                           "code chosen by whoever can write the session store.", id="sessions_app.E001")]
    return []
