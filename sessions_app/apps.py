from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    """Accounts (log in, log out) and, with the sessions issue, Redis sessions and API tokens."""

    name = "sessions_app"
    verbose_name = "Accounts and sessions"
