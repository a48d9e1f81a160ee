"""The Celery app: Redis broker, JSON only.

Settings come from Django settings under the ``CELERY_`` namespace (see
``settings.py`` for the chosen ``visibility_timeout`` and why).  Tasks live in
each app's ``tasks.py`` and are found by ``autodiscover_tasks``.

    celery -A config worker -l info
    celery -A config beat -l info
"""

import os
import sys

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
if os.path.basename(sys.argv[0]) == "celery":
    # The `celery` command in a second terminal: the settings `make run` chose (see manage.py).
    from config.env import load_run_env

    load_run_env()

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
