"""System checks that keep the Redis setup honest.

- ``site_config.E001``: a cache backend that is not shared between processes
  (local memory, file, dummy).  Rate limits, locks, single-flight and
  invalidation only work when every web and worker process sees the same
  cache; a per-process cache silently breaks them.
- ``site_config.E002``: a pickle serializer.  Unpickling what comes back from
  Redis runs code chosen by whoever can write to that Redis.
- ``site_config.E003``: a Celery serializer other than JSON, for the same reason.
- ``site_config.E004``: a Celery hard time limit not below the broker's
  ``visibility_timeout``: a task could outlive it and run twice.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register

SHARED_BACKENDS = {"django_redis.cache.RedisCache"}
PICKLE_SERIALIZERS = {"django_redis.serializers.pickle.PickleSerializer"}


@register(Tags.caches)
def check_caches(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    for alias, conf in settings.CACHES.items():
        backend = conf.get("BACKEND", "")
        if backend not in SHARED_BACKENDS:
            errors.append(Error(
                f"CACHES[{alias!r}] uses {backend}, which is not shared between processes.",
                hint="Use django_redis.cache.RedisCache: rate limits, locks and invalidation need one shared cache.",
                id="site_config.E001",
            ))
            continue
        serializer = conf.get("OPTIONS", {}).get("SERIALIZER", "django_redis.serializers.pickle.PickleSerializer")
        if serializer in PICKLE_SERIALIZERS or "pickle" in serializer.lower():
            errors.append(Error(
                f"CACHES[{alias!r}] uses the pickle serializer ({serializer}).",
                hint="Set OPTIONS['SERIALIZER'] to the JSON or msgpack serializer: "
                     "unpickling data from Redis can run arbitrary code.",
                id="site_config.E002",
            ))
    return errors


@register()
def check_celery_serializers(app_configs=None, **kwargs) -> list[Error]:
    accept = set(getattr(settings, "CELERY_ACCEPT_CONTENT", ["json"]))
    used = {getattr(settings, "CELERY_TASK_SERIALIZER", "json"), getattr(settings, "CELERY_RESULT_SERIALIZER", "json")}
    bad = sorted((accept | used) - {"json", "application/json"})
    if bad:
        return [Error(
            f"Celery accepts or sends {', '.join(bad)}.",
            hint="Use JSON only (CELERY_ACCEPT_CONTENT = ['json']).",
            id="site_config.E003",
        )]
    return []


@register()
def check_celery_visibility_timeout(app_configs=None, **kwargs) -> list[Error]:
    timeout = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}).get("visibility_timeout", 3600)
    limit = getattr(settings, "CELERY_TASK_TIME_LIMIT", None)
    if limit is None or limit >= timeout:
        return [Error(
            f"CELERY_TASK_TIME_LIMIT ({limit}) is not below the broker visibility_timeout ({timeout}s).",
            hint="A task still running when the visibility timeout passes is delivered again and runs "
                 "twice. Set a hard time limit below the timeout (and keep tasks idempotent).",
            id="site_config.E004",
        )]
    return []


from config import ratelimit as _ratelimit  # noqa: E402,F401 - registers site_config.E010 (rate-limit rules)
