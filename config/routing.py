"""WebSocket URL routes of every app, in one list for ``config.asgi``."""

websocket_urlpatterns: list = []

from realtime import routing as realtime_routing  # noqa: E402

websocket_urlpatterns += realtime_routing.websocket_urlpatterns
