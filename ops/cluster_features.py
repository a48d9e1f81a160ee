"""The site's own features, run once against a Redis Cluster (a helper process of ``lab_cluster``).

    REDIS_CLUSTER_NODES=127.0.0.1:30001,... CHANNEL_REDIS_URL=redis://127.0.0.1:30101/0 \\
        python -m ops.cluster_features

``lab_cluster`` starts this in its own process with the environment a
cluster deployment would have (``REDIS_CLUSTER_NODES`` for the data, a
standalone server for the channel layer, as the settings require), so the
code runs exactly as the site runs it and the lab's own process never
re-points its settings.  Each feature runs inside a command trace; for every
command that names more than one key the slots of those keys are computed.
Prints one JSON list on stdout: per feature, its commands, the multi-key
ones with their keys and slots, and the error if it failed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from typing import Any

#: The commands whose keys the trace lists in full (a script's KEYS); FUNCTION LOAD and the like carry none.
SCRIPT_CALLS = {"FCALL", "FCALL_RO", "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO"}


def _features() -> list[tuple[str, str, Callable[[], Any]]]:
    from config.redis import get_redis
    from leaderboard import selectors as lb_selectors
    from leaderboard import services as lb_services
    from realtime.services import BROADCAST_LEVELS, broadcast_announcement
    from redis_patterns import ratelimit, writebehind
    from shop import caching
    from shop import keys as shop_keys

    now = dt.datetime.now(dt.UTC)

    def leaderboard() -> str:
        for player, points in (("ann", 5), ("bob", 9), ("cat", 7)):
            lb_services.score_submit(board="reaction", player=player, points=points, now=now)
        lb_services.friends_add(board="reaction", player="ann", friend="cat")
        weekly = lb_selectors.board_ref(board="reaction", view="weekly", now=now)
        friends = lb_selectors.board_ref(board="reaction", view="friends", player="ann", now=now)
        top = [e.player for e in lb_selectors.board_top(weekly)]
        mine = [e.player for e in lb_selectors.board_top(friends)]
        return f"weekly top {top}, ann's friends board {mine}"

    def rate_limits() -> str:
        client = get_redis()
        limiters = [cls(client, name="lab", limit=2, period=60) for cls in ratelimit.ALGORITHMS.values()]
        decisions = ratelimit.decide_many(client, [(lim, "visitor-1", 1) for lim in limiters] * 3)
        allowed = sum(1 for d in decisions if getattr(d, "allowed", False))
        return f"{len(limiters)} algorithms x 3 requests at limit 2: {allowed} allowed"

    def product_cache() -> str:
        counters = shop_keys.view_counter_keys()
        policy = caching.product_policy()
        cache = caching.cache()
        states = []
        for _ in range(2):  # a miss (load + fill under a lease), then a hit with the view counter
            lookup = cache.get(shop_keys.product_key(7), shop_keys.product_lease_key(7), lambda: {"id": 7},
                               policy, also=lambda pipe: writebehind.record(pipe, counters, 7))
            states.append(lookup.state.value)
        batch = writebehind.claim(get_redis(), caching.scripts(), counters)
        flushed = writebehind.read(get_redis(), batch) if batch else {}
        if batch:
            writebehind.release(get_redis(), counters, batch)
        return f"product 7: {' then '.join(states)}; view counts claimed for the flush: {flushed}"

    def notifications() -> str:
        event_id = broadcast_announcement(message="hello from the cluster lab", level=BROADCAST_LEVELS[0],
                                          sent_by="lab_cluster")
        return f"event {event_id} stored in the stream and sent to the channel layer"

    return [
        ("leaderboard: score, friends board", "leaderboard/services.py", leaderboard),
        ("rate limiting: 5 algorithms, one pipeline", "redis_patterns/ratelimit.py", rate_limits),
        ("product cache + view counter (write-behind)", "shop/selectors.py", product_cache),
        ("notifications: stream + channel layer", "realtime/services.py", notifications),
    ]


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from config.redis import get_redis
    from redis_patterns.tracing import tracing

    client = get_redis()
    out: list[dict[str, Any]] = []
    for name, code, run in _features():
        row: dict[str, Any] = {"feature": name, "code": code}
        with tracing(name) as trace:
            try:
                row["result"] = run()
                row["error"] = None
            except Exception as exc:  # reported, not hidden: the lab prints it
                row["result"] = None
                row["error"] = f"{type(exc).__name__}: {exc}"
        multi = []
        commands = 0
        for rt in trace.round_trips:
            for cmd in rt.describe():
                commands += 1
                keys = [k for k in cmd["key"].split(" ") if k]
                if cmd["name"] in SCRIPT_CALLS and len(keys) > 1:
                    multi.append({"command": cmd["name"], "keys": keys,
                                  "slots": sorted({client.keyslot(k) for k in keys})})
        row.update({"commands": commands, "multi_key": multi})
        out.append(row)
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main()
