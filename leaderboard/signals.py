"""``top10_changed``: sent when a score changes the top 10 of a board view.

Sent once per submission that changed at least one view's top 10.
Receivers get ``board`` (``"reaction"``) and ``views``: a dict of each changed
view (``"best"``, ``"total"``, ``"daily"``, ``"weekly"``) to its period
(``"2026-11-26"``, ``"2026-W48"`` or ``""``).  One signal, not one per view,
so a receiver that notifies (``realtime.receivers``) sends one event.
"""

from django.dispatch import Signal

top10_changed = Signal()
