"""Django settings, assembled from the environment (read in ``config.env``).

The README's "Configuration" table lists every variable.  Defaults are safe
for production (``DEBUG`` off, secure cookies/headers where they don't need
HTTPS); ``make run`` turns ``DEBUG`` on for local development.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_hostports, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)  # the SQLite file, the local Redis and logs live here

# --- core ---------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (python -c "
            "'import secrets; print(secrets.token_urlsafe(50))'), or set DEBUG=1 for local development."
        )
    SECRET_KEY = "django-insecure-local-development-only-" + "x" * 20  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
CSRF_FAILURE_VIEW = "config.api.csrf_failure"  # JSON 403 on the API, Django's page elsewhere

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "config.apps.ConfigConfig",
    "shop",
    "leaderboard",
    "sessions_app",
    "realtime",
    "workers",
    "lessons",
    "ops",
]

REDIS_TRACE = env_bool("REDIS_TRACE", True)

MIDDLEWARE = [
    # First, so the trace covers every Redis command the request causes,
    # including those of the session and cache middleware below.
    *(["config.middleware.RedisTraceMiddleware"] if REDIS_TRACE else []),
    # A foreign Host on /api/ is the API's JSON 400, also under DEBUG (config/api.py).
    "config.api.ApiHostMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's, plus sliding expiry, the device for "Your sessions" and a Redis-down policy (sessions_app/).
    "sessions_app.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # /api/ with "Authorization: Bearer <jwt>": the token's user (before the rate limits keyed by user).
    "sessions_app.middleware.TokenAuthenticationMiddleware",
    # After authentication: rules keyed by user need request.user (config/ratelimit.py).
    "config.ratelimit.RateLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],  # the site shell: base.html, pattern.html, shared partials
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "lessons.context_processors.site",
            ],
        },
    },
]

# --- database -----------------------------------------------------------------------
# SQLite under var/ by default; DATABASE_URL=postgres://... switches to PostgreSQL.

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the workers and Celery read while one writes.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # Tests: a file, not the in-memory default, so a second process can share the test database.
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", str(VAR_DIR / "test-db.sqlite3"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis ----------------------------------------------------------------------------
# One settings dict, read by config.redis (the only place that builds clients).

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_KEY_PREFIX = env_str("REDIS_KEY_PREFIX", "")
REDIS = {
    "url": REDIS_URL,
    "sentinels": env_hostports("REDIS_SENTINELS"),
    "sentinel_master": env_str("REDIS_SENTINEL_MASTER", "mymaster"),
    "cluster_nodes": env_hostports("REDIS_CLUSTER_NODES"),
    "username": env_str("REDIS_USERNAME"),
    "password": env_str("REDIS_PASSWORD"),
    "key_prefix": REDIS_KEY_PREFIX,
    "trace": REDIS_TRACE,
    "socket_timeout": float(env_str("REDIS_SOCKET_TIMEOUT", "5")),
    "connect_timeout": float(env_str("REDIS_CONNECT_TIMEOUT", "2")),
    "health_check_interval": env_int("REDIS_HEALTH_CHECK_INTERVAL", 30),
    "client_name": env_str("REDIS_CLIENT_NAME", "django-redis-reference"),
}

# The staff operations pages read SLOWLOG, LATENCY and CONFIG GET, which the app user is never granted:
# they connect as this user (make run and compose: the admin user; unset: as the app, and those parts say so).
REDIS_OPS_USERNAME = env_str("REDIS_OPS_USERNAME")
REDIS_OPS_PASSWORD = env_str("REDIS_OPS_PASSWORD")

# A deployment (or the test suite) may name servers this process must never use.
REDIS_FORBIDDEN_ADDRESSES = set(env_list("REDIS_FORBIDDEN_ADDRESSES"))


def _refuse_forbidden(what: str, url: str | None = None, nodes: list[tuple[str, int]] | None = None) -> None:
    targets = [f"{h}:{p}" for h, p in (nodes or [])]
    if url:
        parts = urlsplit(url)
        targets.append(f"{parts.hostname}:{parts.port or 6379}")
    bad = REDIS_FORBIDDEN_ADDRESSES.intersection(targets)
    if bad:
        raise ImproperlyConfigured(f"{what} points at {', '.join(sorted(bad))}, listed in REDIS_FORBIDDEN_ADDRESSES")


_refuse_forbidden("REDIS_URL", REDIS_URL)
_refuse_forbidden("REDIS_SENTINELS", nodes=REDIS["sentinels"])
_refuse_forbidden("REDIS_CLUSTER_NODES", nodes=REDIS["cluster_nodes"])

CACHE_SERIALIZER = env_str("CACHE_SERIALIZER", "json")
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        # Informational: the client comes from config.redis through the factory below.
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"{REDIS_KEY_PREFIX}:cache" if REDIS_KEY_PREFIX else "cache",
        "TIMEOUT": 300,
        "OPTIONS": {
            "CONNECTION_FACTORY": "config.redis.DjangoRedisConnectionFactory",
            "SERIALIZER": {
                "json": "django_redis.serializers.json.JSONSerializer",
                "msgpack": "django_redis.serializers.msgpack.MSGPackSerializer",
            }.get(CACHE_SERIALIZER, CACHE_SERIALIZER),
            # Cache fails open: with Redis down a cache read is a miss, a write is skipped.
            "IGNORE_EXCEPTIONS": True,
        },
    }
}
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True

# --- sessions (sessions_app/; README "Sessions, accounts and tokens") -------------------------
# SESSION_BACKEND picks the engine: "redis" (sessions_app.store: a hash per session, a per-user list,
# sliding expiry, revocable), or Django's own for comparison: "cache" (django-redis only), "cached_db"
# (django-redis in front of the database) or "db".  /patterns/sessions/ states the trade-offs.

SESSION_ENGINES = {
    "redis": "sessions_app.store",
    "cache": "django.contrib.sessions.backends.cache",
    "cached_db": "django.contrib.sessions.backends.cached_db",
    "db": "django.contrib.sessions.backends.db",
}
SESSION_BACKEND = env_str("SESSION_BACKEND", "redis")
if SESSION_BACKEND not in SESSION_ENGINES:
    raise ImproperlyConfigured(f"SESSION_BACKEND={SESSION_BACKEND!r}: use one of {', '.join(SESSION_ENGINES)}")
SESSION_ENGINE = SESSION_ENGINES[SESSION_BACKEND]
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 14 * 24 * 3600)  # idle time before a session expires
# Django's cache engines go through their own django-redis cache (same client factory, JSON).  For "cache"
# errors are raised, not ignored (a session write that silently failed would log people out at random);
# for "cached_db" they are ignored, because there the database is the truth and Redis only a cache.
SESSION_CACHE_ALIAS = "sessions"
CACHES["sessions"] = {
    **CACHES["default"],
    "KEY_PREFIX": f"{REDIS_KEY_PREFIX}:sessions" if REDIS_KEY_PREFIX else "sessions",
    "TIMEOUT": SESSION_COOKIE_AGE,
    "OPTIONS": {**CACHES["default"]["OPTIONS"], "IGNORE_EXCEPTIONS": SESSION_BACKEND == "cached_db"},
}
# Access tokens for the JSON API (sessions_app/tokens.py): HS256, short-lived, revocable.
JWT_ACCESS_TTL = env_int("JWT_ACCESS_TTL", 300)
JWT_SIGNING_KEY = env_str("JWT_SIGNING_KEY")  # default: derived from SECRET_KEY

# --- Channels ---------------------------------------------------------------------------
# channels-redis uses Lua across several keys, which Redis Cluster does not allow
# across slots: in cluster mode point CHANNEL_REDIS_URL at a standalone server.


if REDIS["sentinels"]:
    _channel_host: dict = {
        "sentinels": REDIS["sentinels"],
        "master_name": REDIS["sentinel_master"],
    }
else:
    _channel_host = {"address": env_str("CHANNEL_REDIS_URL", REDIS_URL)}
    _refuse_forbidden("CHANNEL_REDIS_URL", _channel_host["address"])
if REDIS_TRACE and "address" in _channel_host:
    # Channel-layer traffic shows in the trace of the WebSocket message that caused it.
    from redis_patterns.tracing import AsyncTracingConnection

    _channel_host["connection_class"] = AsyncTracingConnection

# CHANNEL_LAYER=core (default): channels-redis's list-based RedisChannelLayer; its capacity and
# expiry bound what a slow socket can pile up, and a Redis outage fails the consumers' receive
# loop, so sockets close with 1011 and the browsers resume from their last event id
# (realtime.consumers). CHANNEL_LAYER=pubsub: RedisPubSubChannelLayer. A group_send is one PUBLISH
# that each server process receives once and hands to its sockets in memory, where the core layer
# stores one copy per socket and each process pops them one at a time (4 round trips each): a
# broadcast to 1,000 sockets is several times faster (docs/benchmarks/realtime_fanout.md,
# docs/benchmarks/peers.md). Its price here: during a Redis outage the sockets stay open and lose
# what was published, which they fetch from the event streams at their next heartbeat (15 s)
# instead of at once. At-most-once either way: the event streams make delivery reliable.
CHANNEL_LAYER = env_str("CHANNEL_LAYER", "core")
_channel_prefix = f"{REDIS_KEY_PREFIX}:asgi" if REDIS_KEY_PREFIX else "asgi"
if CHANNEL_LAYER == "core":
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis's RedisChannelLayer plus group_send_many: a worker's batch of
            # notifications asks all their groups for members in one round trip (realtime/layers.py)
            "BACKEND": "realtime.layers.CoreChannelLayer",
            # group_expiry: a socket that vanished without its disconnect (a killed process) leaves its
            # group memberships behind until they expire: minutes, not channels-redis's default day.
            # Open sockets re-join on their heartbeats (realtime/consumers.py), well within it.
            "CONFIG": {"hosts": [_channel_host], "prefix": _channel_prefix, "capacity": 1000, "expiry": 60,
                       "group_expiry": 300},
        }
    }
elif CHANNEL_LAYER == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [_channel_host], "prefix": _channel_prefix},
        }
    }
else:
    raise ImproperlyConfigured(f"CHANNEL_LAYER={CHANNEL_LAYER!r}: use pubsub or core")

# WebSockets (realtime/consumers.py): open sockets per client address at once (each a lease in
# Redis renewed by the socket's heartbeats), and how long a socket may stay silent before it is closed.
REALTIME_MAX_SOCKETS_PER_CLIENT = env_int("REALTIME_MAX_SOCKETS_PER_CLIENT", 20)
REALTIME_SOCKET_IDLE_SECONDS = env_int("REALTIME_SOCKET_IDLE_SECONDS", 120)

# --- Celery -------------------------------------------------------------------------------
# JSON only (never pickle), on the Redis broker.  visibility_timeout: a task
# taken but not acknowledged within this many seconds is handed to another
# worker.  It must exceed the longest task run *and* the furthest ETA/countdown
# used, or long tasks run twice (the course's duplicate-execution pitfall).
# Our periodic tasks finish in seconds and we use no ETAs beyond minutes: one
# hour leaves a wide margin while still redelivering a crashed worker's task.

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
_refuse_forbidden("CELERY_BROKER_URL", CELERY_BROKER_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", None)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    "global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:" if REDIS_KEY_PREFIX else "celery:",
}
if REDIS["sentinels"]:
    CELERY_BROKER_URL = ";".join(f"sentinel://{h}:{p}" for h, p in REDIS["sentinels"])
    CELERY_BROKER_TRANSPORT_OPTIONS["master_name"] = REDIS["sentinel_master"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The other half of the visibility_timeout choice: a hard time limit well under
# it, so no task can outlive its visibility window and be handed to a second
# worker while still running (site_config.E004 refuses a limit >= the
# timeout). Tasks also guard their effect (workers.queues.run_once, or a fenced
# write), because a crashed worker's task is redelivered by design.
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600)
CELERY_TASK_SOFT_TIME_LIMIT = int(CELERY_TASK_TIME_LIMIT * 0.9)  # SoftTimeLimitExceeded first, to clean up
# Redlock: independent Redis servers (not replicas of each other), e.g.
# REDLOCK_URLS=redis://10.0.0.1:6379/0,redis://10.0.0.2:6379/0,redis://10.0.0.3:6379/0
REDLOCK_URLS = env_list("REDLOCK_URLS")

# --- security ------------------------------------------------------------------------
# HTTPS itself (redirects, HSTS, secure cookies) is the proxy's job in front of
# this app; turn these on with the variables when it terminates TLS.

# Scripts from this site only (no inline script, no eval): an HTML-injection bug cannot run script.
# Inline style attributes stay allowed (the bars and swatches set CSS variables); the sockets
# connect back to this origin ('self' covers ws:/wss: of the same host in current browsers).
CONTENT_SECURITY_POLICY = env_str("CONTENT_SECURITY_POLICY", "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
    "connect-src 'self'", "object-src 'none'", "base-uri 'self'", "form-action 'self'", "frame-ancestors 'none'",
]))
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- i18n, static ------------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"  # `collectstatic` target, for a deployment that wants one
STATIC_ROOT.mkdir(exist_ok=True)
# Served by WhiteNoise straight from the apps' static/ folders: no CDN, no
# collectstatic step needed to run; the site works offline.
STATICFILES_DIRS = [BASE_DIR / "static"]  # the site shell's stylesheets
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
# WhiteNoise hands Django a file iterator; under ASGI Django reads it in a
# thread and warns each time. The files are small and it works as intended.
warnings.filterwarnings("ignore", message="StreamingHttpResponse must consume synchronous iterators")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

# --- rate limiting (config/ratelimit.py; redis_patterns/ratelimit.py) ----------------------------
# Rules with a "path" are applied by the middleware; the others by @ratelimit("name") on a view
# (the two login rules: on every login path, see config/urls.py and sessions_app/views.py).
# "fail": what a rule does when Redis is down ("open" admits, "closed" answers 503, "local"
# decides with a per-process limiter of the same size). Keys are what a client cannot mint
# for free (its address, its user, the account it tries): never a client-chosen header.

RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
RATELIMIT_TRUSTED_PROXIES = env_int("RATELIMIT_TRUSTED_PROXIES", 0)  # reverse proxies appending X-Forwarded-For
RATELIMIT_RULES = {
    "login-ip": {"key": "ip", "methods": ["POST"], "algorithm": "sliding_window",
                 "limit": env_int("RATELIMIT_LOGIN_IP", 20), "period": 300, "fail": "closed"},
    "login-username": {"key": "username", "methods": ["POST"], "algorithm": "sliding_log",
                       "limit": env_int("RATELIMIT_LOGIN_USERNAME", 5), "period": 300, "fail": "closed"},
    "leaderboard-scores": {"path": r"^/api/leaderboards/[^/]+/scores$", "methods": ["POST"], "key": "user_or_ip",
                           "algorithm": "token_bucket", "limit": env_int("RATELIMIT_SCORES", 10), "period": 60,
                           "fail": "open"},
    "signup": {"key": "ip", "methods": ["POST"], "algorithm": "sliding_window",
               "limit": env_int("RATELIMIT_SIGNUP", 10), "period": 3600, "fail": "closed"},
    "checkout": {"path": r"^/api/orders/?$", "methods": ["POST"], "key": "user_or_ip", "algorithm": "sliding_log",
                 "limit": env_int("RATELIMIT_CHECKOUT", 10), "period": 60, "fail": "local"},
    # Every demo button (a POST on a pattern page) runs real work on the live server: per visitor.
    "demos": {"path": r"^/(patterns/|realtime/pubsub-vs-streams/)", "methods": ["POST"], "key": "user_or_ip",
              "algorithm": "token_bucket", "limit": env_int("RATELIMIT_DEMOS", 20), "period": 60, "fail": "open"},
    "api": {"path": r"^/api/", "key": "ip", "algorithm": "gcra",
            "limit": env_int("RATELIMIT_API", 300), "period": 60, "fail": "open"},
}

# --- live demos (config/demos.py) ------------------------------------------------------------
# Heavy demo runs (stampede, hot keys) at once, site-wide; destructive steps (forgetting the scripts)
# run on a scratch server: this URL, or a private redis-server started on first use.
DEMO_HEAVY_SLOTS = env_int("DEMO_HEAVY_SLOTS", 1)
DEMO_SCRATCH_REDIS_URL = env_str("DEMO_SCRATCH_REDIS_URL", "")
if DEMO_SCRATCH_REDIS_URL:
    _refuse_forbidden("DEMO_SCRATCH_REDIS_URL", DEMO_SCRATCH_REDIS_URL)

# --- shop catalog cache (see shop/caching.py) -------------------------------------

SHOP_CACHE_ENABLED = env_bool("SHOP_CACHE_ENABLED", True)  # off: every read is a bypass (benchmark baseline)
SHOP_CACHE_TTL = env_int("SHOP_CACHE_TTL", 300)  # seconds fresh, before jitter
SHOP_WRITE_STRATEGY = env_str("SHOP_WRITE_STRATEGY", "invalidate")  # or "write_through"
SHOP_XFETCH = env_bool("SHOP_XFETCH", True)  # refresh-ahead of hot product entries
SHOP_VIEW_COUNTING = env_str("SHOP_VIEW_COUNTING", "write_behind")  # or "direct" (an UPDATE per view)
SHOP_VIEW_FLUSH_SECONDS = env_int("SHOP_VIEW_FLUSH_SECONDS", 10)
SHOP_LOCAL_TIER_TTL = float(env_str("SHOP_LOCAL_TIER_TTL", "1.0"))  # seconds, the hot-key in-process tier
SHOP_MODULES = env_bool("SHOP_MODULES", True)  # off: the Redis Stack features use their core fallbacks (shop/stack.py)

# --- periodic tasks (celery beat), all in one table ------------------------------------------------

CELERY_BEAT_SCHEDULE = {
    # shop/: write-behind view counters, and the most viewed products kept warm so a Redis restart
    # or a deploy never meets a cold cache for long
    "shop-flush-view-counts": {"task": "shop.tasks.flush_view_counts", "schedule": float(SHOP_VIEW_FLUSH_SECONDS)},
    "shop-warm-product-cache": {"task": "shop.tasks.warm_product_cache", "schedule": 600.0},
    # ... and the product invalidations Redis missed while it was down (a no-op query otherwise)
    "shop-repair-product-cache": {"task": "shop.tasks.repair_product_cache", "schedule": 5.0},
    # leaderboard/: yesterday's top 10 of every board into the archive, just after midnight UTC
    "leaderboard-archive-daily": {"task": "leaderboard.archive_daily_boards", "schedule": crontab(minute=5, hour=0)},
    # workers/: move due delayed jobs, give dead workers' jobs back, and the singleton
    # snapshot guarded by a lock with a fencing token
    "workers-promote-delayed-jobs": {"task": "workers.tasks.promote_delayed_jobs", "schedule": 5.0},
    "workers-reap-reliable-queue": {"task": "workers.tasks.reap_reliable_queue", "schedule": 10.0},
    "workers-queue-snapshot": {"task": "workers.tasks.snapshot_queue_depths", "schedule": 30.0},
}

# --- metrics (ops/metrics.py; GET /metrics) -----------------------------------------------------------
# prometheus-client's multiprocess mode: every process (uvicorn workers, stream workers and their forked
# children, Celery's prefork children) writes its counters to mmap'd files in this directory and /metrics
# merges them, so one scrape sees the whole site. The library reads the variable when it is first imported,
# so it is set here, before any app module imports it; `make run` empties the directory at start (counters
# restart from zero with the site, as Prometheus expects).
METRICS_DIR = Path(env_str("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "metrics")))
METRICS_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)
# /metrics answers loopback clients (after RATELIMIT_TRUSTED_PROXIES), or anyone with
# "Authorization: Bearer <METRICS_TOKEN>" when the token is set.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")

# --- accounts ---------------------------------------------------------------------------------------

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
