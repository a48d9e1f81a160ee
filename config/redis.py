"""The one place that builds Redis clients.

Everything in the project that talks to Redis gets its client from here: the
app's own code (``get_redis()`` / ``get_async_redis()``), the django-redis
cache (``DjangoRedisConnectionFactory``), the channel layer and Celery (their
settings are derived from the same ``REDIS`` settings in ``settings.py``).

Modes, chosen by settings (see the README's configuration table):

- standalone: ``REDIS_URL``
- Sentinel: ``REDIS_SENTINELS`` + ``REDIS_SENTINEL_MASTER`` (the master is
  discovered, and re-discovered after a failover, by redis-py)
- Cluster: ``REDIS_CLUSTER_NODES`` (startup nodes; the slot map is read from them)

Every client gets: connect and socket timeouts, retries with exponential
backoff and jitter on connection errors and timeouts, a
``health_check_interval`` (an idle pooled connection is PINGed before reuse
instead of failing the first command after a server restart), and, when
``REDIS_TRACE`` is on, connection classes that feed the command trace.

Nothing here connects at import time: clients are built on first use and
cached per process (sync) or per event loop (async).  redis-py's pools notice
a ``fork()`` and open fresh connections in the child, so worker processes can
inherit a cached client safely.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel
from django.conf import settings
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.maint_notifications import MaintNotificationsConfig
from redis.retry import Retry

from redis_patterns import tracing

RedisClient = redis.Redis | redis.cluster.RedisCluster
AsyncRedisClient = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster

RETRY_ERRORS = [RedisConnectionError, RedisTimeoutError]


@dataclass(frozen=True)
class RedisConfig:
    """The ``REDIS`` settings dict, typed."""

    url: str = "redis://127.0.0.1:6379/0"
    sentinels: list[tuple[str, int]] = field(default_factory=list)
    sentinel_master: str = "mymaster"
    cluster_nodes: list[tuple[str, int]] = field(default_factory=list)
    username: str | None = None
    password: str | None = None
    key_prefix: str = ""
    trace: bool = True
    socket_timeout: float = 5.0
    connect_timeout: float = 2.0
    retries: int = 3
    health_check_interval: int = 30
    client_name: str = "django-redis-reference"

    @property
    def mode(self) -> str:
        if self.cluster_nodes:
            return "cluster"
        if self.sentinels:
            return "sentinel"
        return "standalone"

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "rediss"

    def describe(self) -> str:
        """A display string without credentials."""
        if self.mode == "cluster":
            return "cluster " + ",".join(f"{h}:{p}" for h, p in self.cluster_nodes)
        if self.mode == "sentinel":
            nodes = ",".join(f"{h}:{p}" for h, p in self.sentinels)
            return f"sentinel {self.sentinel_master}@{nodes}"
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"


_config_cache: tuple[object, RedisConfig] | None = None


def redis_config() -> RedisConfig:
    """``settings.REDIS`` as a ``RedisConfig``, built once per settings dict.

    Every key name goes through ``key()`` below, on every request: building
    the dataclass each time cost microseconds on hot paths.  The cache is
    keyed on the dict's identity, so ``override_settings(REDIS=...)`` (a new
    dict) is seen at once.
    """
    global _config_cache
    source = getattr(settings, "REDIS", {})
    cached = _config_cache
    if cached is not None and cached[0] is source:
        return cached[1]
    config = RedisConfig(**source)
    _config_cache = (source, config)
    return config


def _common_kwargs(cfg: RedisConfig, *, decode_responses: bool, socket_timeout: float | None,
                   is_async: bool, protocol: int = 2) -> dict[str, Any]:
    backoff = ExponentialWithJitterBackoff(base=0.008, cap=0.5)
    retry = (AsyncRetry if is_async else Retry)(backoff, cfg.retries)
    kwargs: dict[str, Any] = {
        "decode_responses": decode_responses,
        "socket_connect_timeout": cfg.connect_timeout,
        "socket_timeout": cfg.socket_timeout if socket_timeout is None else socket_timeout,
        "socket_keepalive": True,
        "retry": retry,
        "retry_on_error": RETRY_ERRORS,
        "health_check_interval": cfg.health_check_interval,
        "client_name": cfg.client_name,
    }
    if protocol == 3:
        kwargs["protocol"] = 3
        if not is_async:
            # redis-py 7 would try CLIENT MAINT_NOTIFICATIONS (a Redis Enterprise command) on every
            # RESP3 connection to a Redis server and log a warning each time it is refused.
            kwargs["maint_notifications_config"] = MaintNotificationsConfig(enabled=False)
    if cfg.username:
        kwargs["username"] = cfg.username
    if cfg.password:
        kwargs["password"] = cfg.password
    return kwargs


def _connection_class(cfg: RedisConfig, *, is_async: bool, sentinel: bool = False) -> type | None:
    if not cfg.trace:
        return None
    if sentinel:
        return tracing.AsyncTracingSentinelManagedConnection if is_async else tracing.TracingSentinelManagedConnection
    if cfg.tls:
        return tracing.AsyncTracingSSLConnection if is_async else tracing.TracingSSLConnection
    return tracing.AsyncTracingConnection if is_async else tracing.TracingConnection


def build_client(
    *,
    decode_responses: bool = True,
    socket_timeout: float | None = None,
    is_async: bool = False,
    config: RedisConfig | None = None,
    protocol: int = 2,
) -> Any:
    """Build a new client for the configured mode.

    Most code wants the cached ``get_redis()`` instead.  Build your own when it
    needs different socket settings, e.g. a stream worker blocking in
    ``XREADGROUP ... BLOCK`` passes a ``socket_timeout`` longer than its block,
    or RESP3 (``protocol=3``) for push messages.
    """
    cfg = config or redis_config()
    kwargs = _common_kwargs(cfg, decode_responses=decode_responses, socket_timeout=socket_timeout,
                            is_async=is_async, protocol=protocol)
    mode = cfg.mode
    if mode == "cluster":
        conn_cls = _connection_class(cfg, is_async=is_async)
        if conn_cls is not None:
            kwargs["connection_class"] = conn_cls
        kwargs.pop("retry_on_error")  # cluster clients retry on their own error set
        if is_async:
            from redis.asyncio.cluster import ClusterNode as AsyncClusterNode

            nodes = [AsyncClusterNode(h, p) for h, p in cfg.cluster_nodes]
            kwargs.pop("health_check_interval")
            return redis.asyncio.cluster.RedisCluster(startup_nodes=nodes, **kwargs)
        nodes = [redis.cluster.ClusterNode(h, p) for h, p in cfg.cluster_nodes]
        # Given a url, RedisCluster builds node pools with connection_pool_class
        # (which takes connection_class); without one it passes our kwargs
        # straight to Redis(), which refuses connection_class.
        host, port = cfg.cluster_nodes[0]
        return redis.cluster.RedisCluster(url=f"redis://{host}:{port}", startup_nodes=nodes, **kwargs)

    if mode == "sentinel":
        conn_cls = _connection_class(cfg, is_async=is_async, sentinel=True)
        if conn_cls is not None:
            kwargs["connection_class"] = conn_cls
        sentinel_kwargs = {"socket_timeout": cfg.connect_timeout, "socket_connect_timeout": cfg.connect_timeout}
        if is_async:
            sentinel = redis.asyncio.sentinel.Sentinel(cfg.sentinels, sentinel_kwargs=sentinel_kwargs)
            return sentinel.master_for(cfg.sentinel_master, redis_class=redis.asyncio.Redis, **kwargs)
        sentinel = redis.sentinel.Sentinel(cfg.sentinels, sentinel_kwargs=sentinel_kwargs)
        return sentinel.master_for(cfg.sentinel_master, redis_class=redis.Redis, **kwargs)

    conn_cls = _connection_class(cfg, is_async=is_async)
    if conn_cls is not None:
        kwargs["connection_class"] = conn_cls
    if is_async:
        return redis.asyncio.Redis.from_url(cfg.url, **kwargs)
    return redis.Redis.from_url(cfg.url, **kwargs)


def build_connection(*, protocol: int = 2, socket_timeout: float | None = None) -> Any:
    """A single connection of its own (not pooled, not connected yet), for standalone or Sentinel.

    For code that holds one connection for a long time and reads it itself,
    e.g. the invalidation listener of ``redis_patterns.tracking`` (RESP3).  It
    gets the same address, credentials, timeouts, retries and tracing as every
    other client.  A Cluster has no single connection: ``ValueError``.
    """
    cfg = redis_config()
    if cfg.mode == "cluster":
        raise ValueError("a Redis Cluster has one connection per node, not one")
    client = build_client(protocol=protocol, socket_timeout=socket_timeout, config=cfg)
    return client.connection_pool.make_connection()


_lock = threading.Lock()
_sync_clients: dict[bool | str, Any] = {}
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bool, Any]] = weakref.WeakKeyDictionary()


def get_redis(*, decode_responses: bool = True) -> RedisClient:
    """The process-wide client (thread-safe; its pool is shared by all threads).

    ``decode_responses=True`` (the default) returns ``str``; the django-redis
    cache uses the ``bytes`` variant because its serializer works on bytes.
    """
    client = _sync_clients.get(decode_responses)
    if client is None:
        with _lock:
            client = _sync_clients.get(decode_responses)
            if client is None:
                client = _sync_clients[decode_responses] = build_client(decode_responses=decode_responses)
    return client


def get_ops_redis() -> RedisClient:
    """The client of the staff operations pages: ``REDIS_OPS_USERNAME``'s rights, or the app's when unset.

    ``SLOWLOG``, ``LATENCY`` and ``CONFIG GET`` are admin commands; the app
    user (least privilege) never gets them, so the ops pages (staff only)
    read as the user the settings name, over a pool of their own.
    """
    username = getattr(settings, "REDIS_OPS_USERNAME", None)
    if not username:
        return get_redis()
    client = _sync_clients.get("ops")
    if client is None:
        base = redis_config()
        # A URL's own credentials would win over these (redis-py lets the URL override): drop them.
        parts = urlsplit(base.url)
        url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        cfg = dataclasses.replace(base, url=url, username=username,
                                  password=getattr(settings, "REDIS_OPS_PASSWORD", None))
        with _lock:
            client = _sync_clients.setdefault("ops", build_client(config=cfg))
    return client


def get_async_redis(*, decode_responses: bool = True) -> AsyncRedisClient:
    """The ``redis.asyncio`` client for the running event loop.

    An asyncio connection belongs to the loop that opened it, so there is one
    client per loop (an ASGI server has one; ``async_to_sync`` makes others).
    """
    loop = asyncio.get_running_loop()
    per_loop = _async_clients.setdefault(loop, {})
    client = per_loop.get(decode_responses)
    if client is None:
        client = per_loop[decode_responses] = build_client(decode_responses=decode_responses, is_async=True)
    return client


def reset_clients() -> None:
    """Forget cached clients (after a settings change in tests or benchmarks)."""
    with _lock:
        for client in _sync_clients.values():
            try:
                client.close()
            except Exception:  # noqa: S110 - closing a broken client must not raise
                pass
        _sync_clients.clear()
        _async_clients.clear()


def key(*parts: object) -> str:
    """A key name under ``REDIS_KEY_PREFIX``: ``key("product", 42)`` -> ``"demo:product:42"``.

    Apps' ``keys.py`` modules build every key through this, so one deployment
    can share a Redis with another by giving each its own prefix.
    """
    prefix = redis_config().key_prefix
    body = ":".join(str(p) for p in parts)
    return f"{prefix}:{body}" if prefix else body


_HEALTH_TTL = 2.0
_health_cache: dict[str, tuple[float, bool, str]] = {}


def cached_redis_health() -> tuple[bool, str]:
    """``redis_health``, probed at most once every two seconds per process.

    Every page shows a banner when Redis is down, and demo views skip their
    Redis work; probing on every request would add a PING to every page's
    trace for no benefit.
    """
    now = time.monotonic()
    hit = _health_cache.get("redis")
    if hit and now - hit[0] < _HEALTH_TTL:
        return hit[1], hit[2]
    ok, detail = redis_health(timeout=0.5)
    _health_cache["redis"] = (now, ok, detail)
    return ok, detail


def forget_redis_health() -> None:
    """Probe again on the next ``cached_redis_health`` (tests, after restarting a server)."""
    _health_cache.clear()


def redis_health(timeout: float = 1.0) -> tuple[bool, str]:
    """``(True, "ok")`` or ``(False, reason)`` from one PING.

    Uses its own client with no retries and a short timeout, so a health probe
    answers quickly when the server is unreachable instead of backing off.
    """
    client = _sync_clients.get("health")
    if client is None:
        cfg = dataclasses.replace(redis_config(), retries=0, connect_timeout=timeout, socket_timeout=timeout)
        with _lock:
            client = _sync_clients.setdefault("health", build_client(config=cfg))
    try:
        client.ping()
    except redis.RedisError as exc:
        return False, f"{type(exc).__name__}: {exc}"[:200]
    return True, "ok"


# --- django-redis -------------------------------------------------------------------

from django_redis.pool import ConnectionFactory  # noqa: E402


class DjangoRedisConnectionFactory(ConnectionFactory):
    """django-redis asks this factory for its client; we hand it ours.

    The cache then shares the configured mode (standalone / Sentinel / Cluster),
    timeouts, retries and tracing with the rest of the app, and ``LOCATION`` in
    ``CACHES`` is informational only.
    """

    def connect(self, url: str) -> Any:
        return get_redis(decode_responses=False)

    def disconnect(self, connection: Any) -> None:
        # The pool is shared with the rest of the process: leave it open.
        return None
