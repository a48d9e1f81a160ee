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
declare("rl:sliding_log:<rule>:{<subject>}", type="zset", ttl="the period after the newest entry (same script)",
        writer="lua/ratelimit_sliding_log.lua", builder=_LIMITER)
declare("rl:sliding_log:<rule>:{<subject>}:seq", type="string", ttl="as the log", writer="lua/ratelimit_sliding_log.lua",
        builder=_LIMITER)
declare("rl:sliding_window:<rule>:{<subject>}", type="hash", ttl="two windows (same script)",
        writer="lua/ratelimit_sliding_window.lua", builder=_LIMITER)
declare("rl:token_bucket:<rule>:{<subject>}", type="hash", ttl="the time to refill (same script)",
        writer="lua/ratelimit_token_bucket.lua", builder=_LIMITER)
declare("rl:gcra:<rule>:{<subject>}", type="hash", ttl="until the theoretical arrival time (same script)",
        writer="lua/ratelimit_gcra.lua", builder=_LIMITER)


@family("demo:heavy:{slots}", type="zset", ttl="until its last lease ends (PEXPIRE, same script)",
        writer="config.demos.heavy_slot (redis_patterns/lua/semaphore_acquire.lua; ZREM when the run ends)")
def heavy_slots_key() -> str:
    """The heavy demo runs in progress, site-wide: member = run id, score = lease end (ms)."""
    return key("demo", "heavy", "{slots}")
