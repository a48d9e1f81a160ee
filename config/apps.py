from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """Plumbing: the system checks that keep the Redis setup honest (settings, URLs and clients live beside it)."""

    name = "config"
    label = "site_config"
    verbose_name = "Site"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks
