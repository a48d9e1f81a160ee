"""``python manage.py seed_accounts``: a demo staff account and a demo user, idempotent (``make run`` runs it).

Local use only: the passwords are in the README and in ``sessions_app/demo_accounts.py``.
With ``DEBUG`` off the command does nothing unless ``--force`` is given, so a
deployment that runs every ``seed_*`` command (``compose.yaml``) gets no
account with a published password.  An existing account keeps the password it
has unless ``--reset-passwords`` is given; its staff flags are put back.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from sessions_app.demo_accounts import ACCOUNTS


class Command(BaseCommand):
    help = "Create the demo staff account and demo user (local use only; idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="create them even with DEBUG off")
        parser.add_argument("--reset-passwords", action="store_true", help="set the documented passwords again")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            self.stdout.write("seed_accounts: skipped (DEBUG is off; the demo accounts have published passwords). "
                              "Use --force to create them anyway.")
            return
        users = get_user_model()._default_manager
        for username, (password, staff) in ACCOUNTS.items():
            user, created = users.get_or_create(username=username)
            if created or options["reset_passwords"]:
                user.set_password(password)
            user.is_staff = user.is_superuser = staff
            user.is_active = True
            user.save()
            state = "created" if created else ("password reset" if options["reset_passwords"] else "already there")
            self.stdout.write(f"seed_accounts: {username:6} {'staff' if staff else 'user':5} {state}")
        self.stdout.write("seed_accounts: log in at /accounts/login/ as "
                          + ", ".join(f"{u} / {p}" for u, (p, _) in ACCOUNTS.items())
                          + " (passwords as created; local use only)")
