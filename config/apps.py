from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The site shell: home page, health check, tracing panel, system checks."""

    name = "config"
    label = "site_config"
    verbose_name = "Site"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks
