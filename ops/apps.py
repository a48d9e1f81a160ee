from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Staff pages about the running Redis, ``/metrics``, and the labs that start their own servers."""

    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from ops import metrics

        metrics.install()  # the tracer's latency histogram and Celery's task counters
