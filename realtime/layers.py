"""The channel layer: channels-redis's core layer, plus one send to many groups.

``CoreChannelLayer`` is ``channels_redis.core.RedisChannelLayer`` (the
settings' ``CHANNEL_LAYER=core``) with one method added, ``group_send_many``,
for a caller with a message for each of many groups: a stream worker telling
the visitors of a batch of orders that their orders moved on.

Why: channels-redis's ``group_send`` costs two round trips before it knows
whether anyone is listening (``ZREMRANGEBYSCORE`` then ``ZRANGE`` of the
group's members), and most visitors have no tab open when their order is
fulfilled.  For a batch of 10 orders that was 20 of the worker's 23 Redis round
trips per batch (``bench streams``, section 3).  ``group_send_many`` asks
every group how many live members it has in **one pipelined round trip** per
Redis host (``ZCOUNT`` of the members that joined within ``group_expiry``,
read-only), then hands the groups that have some to channels-redis's own
``group_send``, concurrently: delivery, capacity and expiry stay exactly
channels-redis's.  One group alone goes straight to ``group_send`` (the
count would be a round trip more).

Round trips: 1 per Redis host for the counts, plus ``group_send``'s for each
group with a live member.  Stale members are left for ``group_send`` (the
next send to that group removes them) and for the group key's own TTL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from channels_redis.core import RedisChannelLayer


class CoreChannelLayer(RedisChannelLayer):
    """channels-redis's list-based layer with ``group_send_many``."""

    async def group_send_many(self, messages: Mapping[str, dict[str, Any]]) -> dict[str, BaseException]:
        """Send ``messages[group]`` to each group; returns the groups whose send failed, with the error.

        Raises what the member count met (``redis.RedisError``): nothing was
        sent then.  A bad group name raises before anything is sent.
        """
        groups = list(messages)
        for group in groups:
            assert self.require_valid_group_name(group), "Group name not valid"
        if len(groups) == 1:
            listened = groups
        else:
            listened = await self._groups_with_members(groups)
        outcomes = await asyncio.gather(*(self.group_send(group, messages[group]) for group in listened),
                                        return_exceptions=True)
        return {group: outcome for group, outcome in zip(listened, outcomes, strict=True)
                if isinstance(outcome, BaseException)}

    async def _groups_with_members(self, groups: list[str]) -> list[str]:
        """The groups with at least one member that joined within ``group_expiry``: one round trip per host."""
        by_host: dict[int, list[str]] = {}
        for group in groups:
            by_host.setdefault(self.consistent_hash(group), []).append(group)
        # group_send drops members scored at or before this (group_add scores them with time.time())
        cutoff = int(time.time()) - self.group_expiry
        listened: list[str] = []
        for index, hosted in by_host.items():
            pipe = self.connection(index).pipeline(transaction=False)
            for group in hosted:
                pipe.zcount(self._group_key(group), f"({cutoff}", "+inf")
            counts = await pipe.execute()
            listened += [group for group, count in zip(hosted, counts, strict=True) if count]
        return listened
