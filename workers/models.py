"""The locks' tables: a row guarded by fencing tokens, and the audit trail of writes to it."""

from __future__ import annotations

from django.db import models


class FencedResource(models.Model):
    """A row only the current lock holder may write: it keeps the highest fencing token it accepted.

    Written only through ``workers.locks.fenced_write``:
    ``UPDATE ... SET value=..., fence=:token WHERE name=:name AND fence < :token``.
    """

    name = models.CharField(max_length=64, unique=True)
    value = models.JSONField(default=dict)
    fence = models.BigIntegerField(default=0, help_text="highest fencing token accepted so far")
    writer = models.CharField(max_length=100, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} (fence {self.fence})"


class FencedWriteAttempt(models.Model):
    """One write attempt through the fence, accepted or rejected: the audit trail the demo page shows."""

    resource = models.CharField(max_length=64, db_index=True)
    fence = models.BigIntegerField()
    writer = models.CharField(max_length=100)
    accepted = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        verdict = "accepted" if self.accepted else "rejected"
        return f"{self.writer} fence {self.fence} on {self.resource}: {verdict}"
