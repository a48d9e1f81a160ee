"""Project configuration: settings from the environment, URLs, ASGI routing,
the Celery app and the one place that builds Redis clients (``config.redis``)."""

from .celery import app as celery_app

__all__ = ["celery_app"]
