"""What's new in the server: the features newer than the course's Redis that this project uses.

Data only (no Django, no Redis), so the "what's new" page, the course map and
the README can all read the same list.  An entry says which Redis and Valkey
releases have the feature, where the project uses it, how it finds out at run
time, and what runs on a server without it.  Add an entry when the project
starts using a newer feature; the page's live column comes from
``lessons.services.whats_new_status``.

``BASELINE`` is the oldest server the project supports (README "Servers").
``since_baseline=False`` entries are older than the baseline and run on every
supported server; they are listed because the course does not cover them.
"""

from __future__ import annotations

from dataclasses import dataclass

BASELINE = "Redis 7.0"


@dataclass(frozen=True)
class Use:
    """One place the project uses a feature."""

    what: str
    url_name: str | None  # the page that shows it (Django URL name), if any
    code: str


@dataclass(frozen=True)
class ServerFeature:
    key: str                     # stable id: the page's anchors, the status lookup
    name: str
    commands: tuple[str, ...]
    redis: str                   # first Redis release with it
    valkey: str                  # first Valkey release with it
    summary: str
    uses: tuple[Use, ...]
    detection: str               # how the project finds out on the server it runs on
    fallback: str                # what runs where the server lacks it
    docs: str
    since_baseline: bool = True  # newer than BASELINE


FEATURES: tuple[ServerFeature, ...] = (
    ServerFeature(
        key="hash-field-ttl",
        name="Hash-field expiry",
        commands=("HEXPIRE", "HPEXPIRE", "HTTL", "HPERSIST"),
        redis="7.4",
        valkey="9.0",
        summary="Each field of a hash gets its own TTL; an expired field disappears from HGET/HGETALL/HLEN "
                "and the hash goes with its last field. Replaces a key per field or a sorted set of deadlines "
                "with a sweeper.",
        uses=(
            Use("Cart lines: each line expires 7 days after its own last change, so an untouched line leaves "
                "an active cart", "shop:checkout", "shop/lua/cart_add.lua, shop/checkout.py (cart_add)"),
            Use("Caching switches: each flipped switch reverts to its setting 10 minutes after it was flipped, "
                "on its own clock", "shop:caching", "shop/services.py (switches_set)"),
        ),
        detection="Tried once per process: HTTL on the key about to be written (read-only; an older server "
                  "answers \"unknown command\"). Not by version: Valkey's INFO says redis_version 7.2.4.",
        fallback="The whole-key TTL, set on every server anyway as the outer bound: every line (every switch) "
                 "lives as long as the cart (the switches hash), 7 days (10 minutes) after its last change.",
        docs="https://redis.io/docs/latest/commands/hexpire/",
    ),
    ServerFeature(
        key="zrank-withscore",
        name="A member's rank and score in one command",
        commands=("ZREVRANK … WITHSCORE", "ZRANK … WITHSCORE"),
        redis="7.2",
        valkey="7.2",
        summary="ZRANK and ZREVRANK answer [rank, score] (nil when the member is absent), read from one state of "
                "the set. Replaces ZREVRANK + ZSCORE: two commands, and a write can land between them.",
        uses=(
            Use("Leaderboard: a player's rank and points (GET /api/leaderboards/<board>/players/<player>, "
                "around=0)", "leaderboard:game", "redis_patterns/zrank.py, leaderboard/selectors.py (board_player)"),
        ),
        detection="Tried on each client's first rank read: an older server answers \"wrong number of "
                  "arguments\", and the client is remembered as one without it.",
        fallback="ZREVRANK and ZSCORE pipelined: the same answer in the same one round trip, two commands.",
        docs="https://redis.io/docs/latest/commands/zrevrank/",
    ),
    ServerFeature(
        key="client-tracking",
        name="Server-assisted client-side caching",
        commands=("CLIENT TRACKING", "HELLO 3"),
        redis="6.0",
        valkey="7.2",
        summary="The server remembers which keys a client read (or which prefixes it follows, BCAST) and "
                "pushes an invalidation when one changes: an in-process copy with no TTL and no hand-made "
                "invalidation channel.",
        uses=(
            Use("Hot keys: product copies in each process, default tracking and BCAST on the product prefix, "
                "beside the pub/sub tier and key replicas", "shop:hotkeys",
                "redis_patterns/tracking.py, shop/selectors.py (_product_from_tracking)"),
        ),
        detection="None needed: every supported server has it. redis-py 7.0.1's own cache (cache_config=, "
                  "protocol=3) would need Redis 7.4+ and refuses Valkey, hence the project's own layer.",
        fallback="On a Redis Cluster the tracking tiers read Redis directly (one listener per node would be "
                 "needed); the pub/sub tier and replicas work there.",
        docs="https://redis.io/docs/latest/develop/reference/client-side-caching/",
        since_baseline=False,
    ),
)


def newer_than_baseline() -> list[ServerFeature]:
    """The features a server older than the newest releases may lack (the page's main table)."""
    return [f for f in FEATURES if f.since_baseline]


def by_key(key: str) -> ServerFeature:
    return next(f for f in FEATURES if f.key == key)
