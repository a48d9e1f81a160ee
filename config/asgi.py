"""ASGI entry point: HTTP through Django, WebSockets through Channels.

    uvicorn config.asgi:application

WebSocket routes are collected from the apps (``realtime.routing``); the
origin of every WebSocket handshake must be the site itself
(``SameOriginValidator``).  HTTP bodies over the limits are refused before
Django reads them (``config.api.BodyLimit``).
"""

import os
from urllib.parse import urlsplit

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import WebsocketDenier  # noqa: E402
from django.conf import settings  # noqa: E402

from config.api import BodyLimit  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402


class SameOriginValidator:
    """Accept a WebSocket handshake only from this site's own pages: ``Origin`` equals the site, port and scheme included.

    Channels' ``AllowedHostsOriginValidator`` compares host names only, so a
    page on ``http://127.0.0.1:9999`` (any local program) or a plain-HTTP page
    of the site's name could open sockets as the visitor.  Here the origin
    must be exactly ``<scheme>://<Host header>``, with the Host in
    ``ALLOWED_HOSTS`` and the scheme the one the browser used (``wss`` ->
    ``https``; behind a TLS proxy, ``SECURE_PROXY_SSL_HEADER`` says so), or be
    listed in ``CSRF_TRUSTED_ORIGINS`` (the same rule Django's CSRF check
    applies to unsafe requests).  Settings are read at each handshake.  A
    refused handshake gets a 403.
    """

    DEFAULT_PORTS = {"http": 80, "https": 443}

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not self.allowed(scope):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)

    @classmethod
    def _origin(cls, value: str) -> tuple[str, str, int] | None:
        parts = urlsplit(value)
        if parts.scheme not in cls.DEFAULT_PORTS or not parts.hostname:
            return None
        try:
            port = parts.port or cls.DEFAULT_PORTS[parts.scheme]
        except ValueError:
            return None
        return parts.scheme, parts.hostname.lower(), port

    def allowed(self, scope) -> bool:
        from django.http.request import split_domain_port, validate_host

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        origin = self._origin(headers.get("origin", ""))
        if origin is None:
            return False
        if any(self._origin(trusted) == origin for trusted in settings.CSRF_TRUSTED_ORIGINS):
            return True
        host = headers.get("host", "")
        hosts = list(settings.ALLOWED_HOSTS) or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
        domain, _port = split_domain_port(host)
        if not domain or not validate_host(domain, hosts):
            return False
        secure = scope.get("scheme") == "wss"
        proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
        if proxy:
            header, value = proxy
            secure = headers.get(header.removeprefix("HTTP_").replace("_", "-").lower()) == value
        return self._origin(f"{'https' if secure else 'http'}://{host}") == origin


application = ProtocolTypeRouter(
    {
        # Oversized bodies are refused before Django spools them (config.api.BodyLimit).
        "http": BodyLimit(django_asgi_app),
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
