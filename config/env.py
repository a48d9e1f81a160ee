"""The one module that reads the environment.

Every setting that differs between a laptop, CI and production comes from an
environment variable read here; ``settings.py`` only combines the values.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    value = value.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false)")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from exc


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """A comma-separated list, e.g. ``ALLOWED_HOSTS=example.com,www.example.com``."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_hostports(name: str) -> list[tuple[str, int]]:
    """``host:port`` pairs, e.g. ``REDIS_SENTINELS=10.0.0.1:26379,10.0.0.2:26379``."""
    pairs = []
    for item in env_list(name):
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit():
            raise ImproperlyConfigured(f"{name}: {item!r} is not host:port")
        pairs.append((host.strip("[]"), int(port)))
    return pairs


# --- the settings `make run` chose, for a second terminal ------------------------------------

RUN_ENV_NAME = "run.env"


def run_env_path() -> Path:
    """``$VAR_DIR/run.env`` (``var/run.env`` by default): written by ``scripts/run.sh``."""
    base = Path(__file__).resolve().parent.parent
    return Path(os.environ.get("VAR_DIR") or base / "var") / RUN_ENV_NAME


def load_run_env(path: Path | None = None) -> dict[str, str]:
    """Take the settings a running ``make run`` chose, for every variable the environment does not set.

    ``scripts/run.sh`` writes them (``KEY=value`` lines: ``DEBUG``, ``REDIS_URL``,
    ``VAR_DIR``, ...) so that ``manage.py publish_event ...`` typed in a second
    terminal reaches the same Redis and database with no extra environment.
    A variable set in the environment always wins.  Called by ``manage.py``
    and by the ``celery`` command (``config/celery.py``), never by the web
    server or the tests, which get their whole environment from whoever starts
    them.  Returns the variables it set.
    """
    path = path or run_env_path()
    try:
        text = path.read_text()
    except OSError:
        return {}
    applied: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name or name.startswith("#") or not name.replace("_", "").isalnum():
            continue
        if name not in os.environ:
            os.environ[name] = value
            applied[name] = value
    return applied
