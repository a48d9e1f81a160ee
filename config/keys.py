"""Key families written by the plumbing: the rate limiter's state (built by ``redis_patterns.ratelimit``)
and the demo guard's slots (``config.demos``).

The limiter names its own keys from the rule and the subject
(``rl:<algorithm>:<rule>:{<subject>}``; a subject that is not plain text is
hashed), so there is no builder here: the families are declared for the
registry, beside the settings that create the rules (``RATELIMIT_RULES``).
Every limiter key expires with its window, in the same script that writes it.
"""

from __future__ import annotations

from config.keyspace import declare, family
from config.redis import key

_LIMITER = "redis_patterns.ratelimit.RateLimiter.keys"

declare("rl:fixed_window:<rule>:{<subject>}", type="hash", ttl="the window (PEXPIRE in the script)",
        writer="lua/ratelimit_fixed_window.lua", builder=_LIMITER)
declare("rl:fixed_window_plain:<rule>:{<subject>}:<window>", type="string",
        ttl="the rest of the window + one period (SET ... PX ... NX, pipelined before the INCRBY)",
        writer="redis_patterns.ratelimit.PlainFixedWindow", builder="redis_patterns.ratelimit.PlainFixedWindow.keys")
declare("rl:sliding_log:<rule>:{<subject>}", type="zset", ttl="the period after the newest entry (same script)",
        writer="lua/ratelimit_sliding_log.lua", builder=_LIMITER)
declare("rl:sliding_window:<rule>:{<subject>}", type="hash", ttl="two windows (same script)",
        writer="lua/ratelimit_sliding_window.lua", builder=_LIMITER)
declare("rl:token_bucket:<rule>:{<subject>}", type="hash", ttl="the time to refill (same script)",
        writer="lua/ratelimit_token_bucket.lua", builder=_LIMITER)
declare("rl:gcra:<rule>:{<subject>}", type="hash", ttl="until the theoretical arrival time (same script)",
        writer="lua/ratelimit_gcra.lua", builder=_LIMITER)


# --- names the frameworks build (each under the prefix the settings give it) ---------------------------------
# Declared so the registry covers every key in the app's Redis: the no-TTL report and the test that refuses
# undeclared keys (tests/conftest.py) see these too.  The prefixes come from config/settings.py:
# CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"], CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
# CACHES["default"]["KEY_PREFIX"].

_KOMBU = "kombu.transport.redis.Channel"
declare("celery:<queue>", type="list", expires=False,
        ttl="permanent by design: the broker's task queue (emptied by the workers; a TTL would drop tasks)",
        writer="Celery producers (LPUSH), workers (BRPOP)", builder=_KOMBU)
declare("celery:unacked", type="hash", expires=False,
        ttl="permanent by design: tasks delivered and not yet acknowledged (acks_late), removed on ack",
        writer="kombu (visibility_timeout bookkeeping)", builder=_KOMBU)
declare("celery:unacked_index", type="zset", expires=False, ttl="permanent by design: as unacked, scored by time",
        writer="kombu", builder=_KOMBU)
declare("celery:unacked_mutex", type="string", ttl="unacked_mutex_expire (300 s)",
        writer="kombu (restore_visible, one restorer at a time)", builder=_KOMBU)
declare("celery:_kombu.binding.<exchange>", type="set", expires=False,
        ttl="permanent by design: the exchange's routing table (swept by kombu when its deadline passes)",
        writer="kombu (queue_bind)", builder=_KOMBU)
declare("celery:_kombu.binding_deadlines", type="zset", expires=False,
        ttl="permanent by design: when each routing table may be swept", writer="kombu", builder=_KOMBU)
declare("celery:_kombu.binding_permanent.<exchange>", type="set", expires=False,
        ttl="permanent by design: queues bound without x-expires", writer="kombu", builder=_KOMBU)
declare("celery:<id>.reply.celery.pidbox", type="list", ttl="the reply queue's x-expires (kombu)",
        writer="celery inspect / control (remote-control replies)", builder=_KOMBU)

_CHANNELS = "channels_redis.core.RedisChannelLayer"
declare("asgi<channel>", type="zset", ttl="CHANNEL_LAYERS expiry (60 s), set with each message",
        writer="channels-redis (send: ZADD + EXPIRE)", builder=_CHANNELS)
declare("asgi<channel>$inflight", type="zset", ttl="deleted by the next receive (channels-redis's backup queue)",
        writer="channels-redis (receive)", builder=_CHANNELS)
declare("asgi:group:<group>", type="zset", ttl="group_expiry (300 s in the settings), refreshed by each group_add",
        writer="channels-redis (group_add: ZADD + EXPIRE); read by realtime.layers.group_send_many (ZCOUNT)",
        builder=_CHANNELS)

declare("cache:<version>:<key>", type="string", ttl="CACHES TIMEOUT (300 s) or the caller's timeout",
        writer="django-redis (django.core.cache)", builder="django_redis.cache.RedisCache.make_key")


@family("demo:heavy:{slots}", type="zset", ttl="until its last lease ends (PEXPIRE, same script)",
        writer="config.demos.heavy_slot (redis_patterns/lua/semaphore_acquire.lua; ZREM when the run ends)")
def heavy_slots_key() -> str:
    """The heavy demo runs in progress, site-wide: member = run id, score = lease end (ms)."""
    return key("demo", "heavy", "{slots}")
