"""ASGI entry point: HTTP through Django, WebSockets through Channels.

    uvicorn config.asgi:application

WebSocket routes are collected from the apps (``realtime.routing``) once they
exist; the origin of every WebSocket handshake is checked against
``ALLOWED_HOSTS``.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from config.api import BodyLimit  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402


class AllowedHostsOriginValidator(OriginValidator):
    """Channels' check of the WebSocket ``Origin`` against ``ALLOWED_HOSTS``,
    reading the setting at each handshake rather than once at import (a
    settings change, as tests make, then applies to WebSockets too)."""

    def __init__(self, application) -> None:
        super().__init__(application, [])

    @property
    def allowed_origins(self) -> list[str]:
        hosts = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not hosts:
            hosts = ["localhost", "127.0.0.1", "[::1]"]
        return hosts

    @allowed_origins.setter
    def allowed_origins(self, value: list[str]) -> None:
        pass  # always derived from settings

application = ProtocolTypeRouter(
    {
        # Oversized bodies are refused before Django spools them (config.api.BodyLimit).
        "http": BodyLimit(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
