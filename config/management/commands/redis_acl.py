"""``manage.py redis_acl``: the Redis ACL file of this deployment (see ``config/acl.py``).

    manage.py redis_acl local [--dir var/redis]     # make run: passwords in var/redis/, users.acl beside them
    manage.py redis_acl users --out FILE            # from REDIS_APP_PASSWORD / REDIS_ADMIN_PASSWORD (compose)
    manage.py redis_acl rules                       # print the app user's rules
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config import acl


class Command(BaseCommand):
    help = "Write the Redis ACL file (app user with least privilege, admin, default off) or print the rules."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        local = sub.add_parser("local", help="passwords in DIR (generated at first run) and DIR/users.acl")
        local.add_argument("--dir", default=str(Path(settings.VAR_DIR) / "redis"))
        users = sub.add_parser("users", help="write an ACL file with the passwords from the environment")
        users.add_argument("--out", required=True)
        users.add_argument("--default-user", choices=["on", "off"], default="off")
        users.add_argument("--learn", action="store_true", help="app unrestricted: for REDIS_ACL_LEARN runs")
        sub.add_parser("rules", help="print the app user's rules")

    def handle(self, *args: Any, **options: Any) -> None:
        prefix = settings.REDIS_KEY_PREFIX or ""
        if options["action"] == "rules":
            self.stdout.write(acl.app_rules(prefix))
            return
        if options["action"] == "local":
            directory = Path(options["dir"])
            passwords = acl.local_passwords(directory)
            path = acl.write_users_file(directory / "users.acl", acl.users_file(
                app_password=passwords[acl.APP_USER], admin_password=passwords[acl.ADMIN_USER], prefix=prefix))
            self.stdout.write(str(path))
            return
        app, admin = os.environ.get("REDIS_APP_PASSWORD", ""), os.environ.get("REDIS_ADMIN_PASSWORD", "")
        if not app or not admin:
            raise CommandError("set REDIS_APP_PASSWORD and REDIS_ADMIN_PASSWORD")
        path = acl.write_users_file(Path(options["out"]), acl.users_file(
            app_password=app, admin_password=admin, prefix=prefix, default_user=options["default_user"],
            learn=options["learn"]))
        self.stdout.write(str(path))
