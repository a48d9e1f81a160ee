"""``top10_changed``: sent when a score changes the top 10 of a board view.

Receivers get ``board`` (``"reaction"``), ``view`` (``"best"``, ``"total"``,
``"daily"``, ``"weekly"``) and ``period`` (``"2026-11-26"``, ``"2026-W48"`` or
``""``).  The leaderboard page polls today; the realtime app can connect a
receiver here to push ``leaderboard.changed`` events over WebSockets.
"""

from django.dispatch import Signal

top10_changed = Signal()
