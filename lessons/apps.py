from django.apps import AppConfig


class LessonsConfig(AppConfig):
    """Round trips, scripts, check-and-set, the rate-limit chart; later the course map and self-check."""

    name = "lessons"
    verbose_name = "Lessons"
