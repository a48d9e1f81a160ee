"""Every Redis key of the lesson pages, one function each (all scratch data with short TTLs)."""

from __future__ import annotations

from config.keyspace import family
from config.redis import key

ROUND_TRIP_KEYS = 20


@family("{rt}:item:<n>", type="string", ttl="1 hour (SET EX in the same pipeline)",
        writer="lessons.services.round_trips_compare")
def round_trip_items() -> list[str]:
    """The 20 keys the pipelining page reads three ways; one ``{hash tag}`` so ``MGET`` works on a Cluster."""
    return [key("{rt}", "item", i) for i in range(ROUND_TRIP_KEYS)]


@family("demo:high-score", type="string", ttl="10 minutes (set by the script)",
        writer="lessons.services.scripts_run (redis_patterns/lua/set_if_higher.lua)")
def high_score() -> str:
    """The scripts page's demo value: kept only if higher than the one stored."""
    return key("demo", "high-score")


@family("demo:{wallet}:<approach>", type="string", ttl="10 minutes", writer="lessons.services.check_and_set_race")
def wallet(approach: str) -> str:
    """The check-and-set page's balance for one approach (lua, watch, naive)."""
    return key("demo", "{wallet}", approach)
