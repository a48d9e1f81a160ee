"""The order pipeline's tables: the transactional outbox and the handler's side effect.

``OutboxMessage`` is written in the same database transaction as the order it
announces.  A message exists if and only if the order committed; the relay
(``workers.services.outbox_relay_once``) appends unpublished messages to the
Redis stream and marks them published, so a process that dies between its
commit and its ``XADD`` loses nothing.

``Fulfilment`` is what processing an order *does* (think: a shipment
created, a payment captured).  There is deliberately no unique constraint on
``order``: exactly-once effects come from the guarded status transition in
``workers.services.order_process``, and the tests count these rows to prove it.
"""

from __future__ import annotations

from django.db import models

from shop.models import Order


class OutboxMessage(models.Model):
    """A message to publish on a Redis stream once its transaction has committed."""

    topic = models.CharField(max_length=40)  # which stream: "orders"
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    stream_id = models.CharField(max_length=40, blank=True)  # the XADD id, for tracing a message end to end
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["published_at", "id"], name="outbox_unpublished")]

    def __str__(self) -> str:
        return f"outbox {self.pk} ({self.topic}, {'published' if self.published_at else 'unpublished'})"


class Fulfilment(models.Model):
    """The side effect of completing an order: exactly one per completed order."""

    order = models.ForeignKey(Order, related_name="fulfilments", on_delete=models.CASCADE)
    consumer = models.CharField(max_length=100)
    message_id = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"fulfilment of order {self.order_id} by {self.consumer}"


# --- locks and fencing ---


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
