from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    """WebSocket notifications with missed-event replay, presence, and the pub/sub vs streams demo."""

    name = "realtime"
