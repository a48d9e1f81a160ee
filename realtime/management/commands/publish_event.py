"""``manage.py publish_event <audience> <type> '<json data>'``: publish from the command line.

    python manage.py publish_event public broadcast '{"message": "Flash sale!", "level": "sale"}'
    python manage.py publish_event session:<key> order.status '{"order_id": 7, "status": "completed"}'

Prints the event id.  The same ``publish_event`` a stream worker or Celery task calls.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from realtime.services import publish_event


class Command(BaseCommand):
    help = "Publish a notification event (stored in the audience's stream, then pushed live)."

    def add_arguments(self, parser):
        parser.add_argument("audience", help="user:<id>, session:<key>, public or leaderboard:<board>")
        parser.add_argument("type", help="order.status, leaderboard.changed or broadcast")
        parser.add_argument("data", help="event data as a JSON object")

    def handle(self, *args, **options):
        try:
            data = json.loads(options["data"])
        except ValueError as exc:
            raise CommandError(f"data is not JSON: {exc}") from None
        try:
            event_id = publish_event(options["audience"], options["type"], data)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        except RedisError as exc:
            raise CommandError(f"Redis is unavailable: {exc}") from None
        self.stdout.write(event_id)
