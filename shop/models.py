"""The shop's tables: the catalog (categories, tags, products), stores, and orders.

The database is the source of truth; Redis sits in front of it (see
``shop/services.py`` and ``shop/selectors.py``).  ``Product.view_count`` is the
write-behind target: views are counted in Redis and flushed here by a
periodic task (``shop/tasks.py``).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q


class Category(models.Model):
    name = models.CharField(max_length=80)
    slug = models.SlugField(unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.SlugField(max_length=40, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="products")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    description = models.TextField()
    price = models.DecimalField(max_digits=10, decimal_places=2)
    stock = models.PositiveIntegerField()
    tags = models.ManyToManyField(Tag, blank=True, related_name="products")
    # Hue (0-359) of the placeholder image: the catalog has no image files.
    image_hue = models.PositiveSmallIntegerField()
    # Write-behind target: counted in Redis per view, flushed here periodically.
    view_count = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["category", "id"], name="product_category_id")]

    def __str__(self) -> str:
        return self.name


class Store(models.Model):
    name = models.CharField(max_length=120)
    city = models.CharField(max_length=80)
    longitude = models.FloatField()
    latitude = models.FloatField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.city})"


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        COMPLETED = "completed"
        FAILED = "failed"

    # "user:<id>" or "session:<session_key>": who may see the order, and the
    # audience of its notifications.
    owner = models.CharField(max_length=64, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    idempotency_key = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - NULL = no key
    request_hash = models.CharField(max_length=64, blank=True)
    failure_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="order_idempotency_per_owner",
            )
        ]

    def __str__(self) -> str:
        return f"order {self.pk} ({self.status})"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, related_name="items", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


class ViewCountFlush(models.Model):
    """A write-behind batch of view counts that has been applied (see ``shop.services.views_flush``).

    Written in the same transaction as the increments it records: the unique
    ``batch`` makes applying one batch twice impossible (two flushes racing,
    or a retry after a flusher died between its commit and its cleanup).
    """

    batch = models.CharField(max_length=100, unique=True)
    products = models.PositiveIntegerField()
    views = models.PositiveBigIntegerField()
    applied_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.batch}: {self.views} views"


class OutboxMessage(models.Model):
    """A message to publish on a Redis stream once its transaction has committed (the transactional outbox).

    Written in the same database transaction as the order it announces: a
    message exists if and only if the order committed.  The relay
    (``shop.checkout.outbox_relay_once``) appends unpublished messages to the
    stream and marks them published, so a process that dies between its
    commit and its ``XADD`` loses nothing.
    """

    ORDERS = "orders"  # the one topic today: the orders stream (shop.keys.orders_stream)

    topic = models.CharField(max_length=40)
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
    """The side effect of completing an order (think: a shipment created): exactly one per completed order.

    There is deliberately no unique constraint on ``order``: exactly-once
    effects come from the guarded status transition in
    ``shop.orders.order_process``, and the tests count these rows to prove it.
    """

    order = models.ForeignKey(Order, related_name="fulfilments", on_delete=models.CASCADE)
    consumer = models.CharField(max_length=100)
    message_id = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"fulfilment of order {self.order_id} by {self.consumer}"


class ProductCacheRepair(models.Model):
    """A product whose Redis copies (cache entry, checkout's stock field) must be dropped: written with the change.

    The transactional outbox again, for cache invalidation: a row is written
    in the same transaction as the product change and deleted once Redis took
    the invalidation.  If Redis was down (or the process died after the
    commit), the row stays and ``shop.services.cache_repair`` applies it when
    Redis is back, so an edit made during an outage cannot leave the old stock
    cached, however often reservations renew the stock hash's TTL.
    """

    product_id = models.PositiveBigIntegerField(db_index=True)  # no foreign key: a deleted product needs it too
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"repair the Redis copies of product {self.product_id}"
