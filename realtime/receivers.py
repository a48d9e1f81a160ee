"""Signal receivers that turn other apps' domain events into notifications.

``leaderboard.signals.top10_changed`` (sent by the leaderboard app when a
score changes a board view's top 10) becomes a ``leaderboard.changed`` event
for ``leaderboard:<board>``: stored in that board's stream and pushed to every
socket that subscribed to the board.  Pages refetch the top 10 from
``GET /api/leaderboards/<board>/top`` when it arrives.
"""

from __future__ import annotations

import logging
from typing import Any

from realtime import audiences
from realtime.services import publish_event

log = logging.getLogger(__name__)


def on_top10_changed(sender: Any, *, board: str, views: dict[str, str], **kwargs: Any) -> str | None:
    """Publish one ``leaderboard.changed`` for a submission; returns the event id.

    ``views`` maps each view whose top 10 changed to its period.  ``None`` for a
    board name we cannot route.
    """
    audience = f"leaderboard:{board}"
    if not audiences.is_topic(audience):
        log.warning("top10_changed for board %r: not a routable topic, no notification", board)
        return None
    # Errors propagate: the sender uses send_robust and logs them; the score is already recorded.
    changed = [{"view": view, "period": period} for view, period in views.items()]
    return publish_event(audience, "leaderboard.changed", {"board": board, "views": changed})


def connect() -> None:
    """Connect the receivers whose sending apps are installed (called from ``RealtimeConfig.ready``)."""
    try:
        from leaderboard.signals import top10_changed
    except ImportError:  # the leaderboard app is not part of this deployment
        return
    top10_changed.connect(on_top10_changed, dispatch_uid="realtime.on_top10_changed")
