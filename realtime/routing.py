"""WebSocket routes of ``realtime/`` (collected by ``config.routing``)."""

from django.urls import path

from realtime.consumers import NotificationsConsumer

websocket_urlpatterns = [
    path("ws/notifications/", NotificationsConsumer.as_asgi()),
]
