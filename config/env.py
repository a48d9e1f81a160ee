"""The one module that reads the environment.

Every setting that differs between a laptop, CI and production comes from an
environment variable read here; ``settings.py`` only combines the values.
"""

from __future__ import annotations

import os

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
