"""Accounts, sessions and tokens: sign up, log in and out; Redis sessions, active sessions per user, revoke;
JWT access tokens with a denylist (course 8.5)."""
from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    """Accounts, the Redis session engine (``sessions_app.store``), "Your sessions" and API tokens."""

    name = "sessions_app"
    verbose_name = "Accounts and sessions"

    def ready(self) -> None:
        from sessions_app import checks  # noqa: F401 - registers sessions_app.E001
