"""Settings from the environment, the system checks, and the safety rails."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings
from django.core.checks import run_checks
from django.test import override_settings

from config.checks import check_caches, check_celery_serializers

# W010 is W012 (SESSION_COOKIE_SECURE) as Django words it when the session middleware is not its own class
# (sessions_app.middleware.SessionMiddleware subclasses it).
HTTPS_ONLY_WARNINGS = {"security.W004", "security.W008", "security.W010", "security.W012", "security.W016"}


def _settings_import(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    return subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.DEBUG, s.DATABASES['default']['ENGINE'])"],
        env={**clean, **env}, capture_output=True, text=True, cwd=settings.BASE_DIR,
    )


def test_secret_key_is_required_when_debug_is_off():
    result = _settings_import({})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_debug_runs_without_a_secret_key_and_defaults_to_sqlite():
    result = _settings_import({"DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "django.db.backends.sqlite3"]


def test_database_url_switches_to_postgresql():
    result = _settings_import({"SECRET_KEY": "x" * 60, "DATABASE_URL": "postgres://u@127.0.0.1:5432/test"})
    assert result.stdout.split() == ["False", "django.db.backends.postgresql"]


def test_bad_boolean_is_refused():
    result = _settings_import({"DEBUG": "maybe"})
    assert "is not a boolean" in result.stderr


def test_deploy_checks_are_clean_apart_from_https_settings():
    with override_settings(ALLOWED_HOSTS=["shop.example.com"]):
        messages = run_checks(include_deployment_checks=True)
    ids = {m.id for m in messages}
    assert ids <= HTTPS_ONLY_WARNINGS, [str(m) for m in messages if m.id not in HTTPS_ONLY_WARNINGS]


def test_project_settings_pass_the_redis_checks():
    assert check_caches() == []
    assert check_celery_serializers() == []


def test_a_per_process_cache_is_refused():
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with override_settings(CACHES=caches):
        assert [e.id for e in check_caches()] == ["site_config.E001"]


def test_a_pickle_serializer_is_refused():
    caches = {"default": {**settings.CACHES["default"], "OPTIONS": {
        "SERIALIZER": "django_redis.serializers.pickle.PickleSerializer"}}}
    with override_settings(CACHES=caches):
        assert [e.id for e in check_caches()] == ["site_config.E002"]
    # django-redis's default serializer is pickle: leaving it unset is refused too
    caches = {"default": {**settings.CACHES["default"], "OPTIONS": {}}}
    with override_settings(CACHES=caches):
        assert [e.id for e in check_caches()] == ["site_config.E002"]


def test_celery_pickle_is_refused():
    with override_settings(CELERY_ACCEPT_CONTENT=["json", "pickle"]):
        assert [e.id for e in check_celery_serializers()] == ["site_config.E003"]


def test_every_redis_user_points_at_the_private_server(redis_server):
    """The suite never talks to the Redis on 6379: everything is aimed at ours."""
    from config.celery import app

    urls = {
        "REDIS": settings.REDIS["url"],
        "CELERY": app.conf.broker_url,
        "CHANNELS": settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["address"],
    }
    for name, url in urls.items():
        assert f":{redis_server.port}/" in url, (name, url)
        assert ":6379" not in url, (name, url)
    assert redis_server.port != 6379


def test_the_shared_redis_is_refused_in_every_process_of_the_suite():
    """Any subprocess that lost its REDIS_URL and fell back to 127.0.0.1:6379 fails at once."""
    result = _settings_import({"DEBUG": "1", "REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert result.returncode != 0
    assert "REDIS_FORBIDDEN_ADDRESSES" in result.stderr
    result = _settings_import({"DEBUG": "1", "CELERY_BROKER_URL": "redis://localhost:6379/1"})
    assert "CELERY_BROKER_URL points at localhost:6379" in result.stderr


def test_celery_is_json_only_with_an_explicit_visibility_timeout():
    from config.celery import app

    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.broker_transport_options["visibility_timeout"] == 3600
    assert app.conf.task_acks_late is True
