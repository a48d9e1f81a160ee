"""Celery tasks: thin adapters over ``shop.services``.

``flush_view_counts`` runs every ``SHOP_VIEW_FLUSH_SECONDS`` from
``CELERY_BEAT_SCHEDULE``.  Running it twice at once, or killing it half-way,
is safe: see ``redis_patterns.writebehind``.
"""

from __future__ import annotations

from celery import shared_task

from shop import services


@shared_task(name="shop.tasks.flush_view_counts", ignore_result=True)
def flush_view_counts() -> dict[str, int]:
    """Write the view counts buffered in Redis to ``Product.view_count``."""
    report = services.views_flush()
    return {"batches": len(report.batches), "skipped": len(report.skipped), "products": report.products,
            "views": report.views}


@shared_task(name="shop.tasks.warm_product_cache", ignore_result=True)
def warm_product_cache(limit: int = 100) -> dict[str, int]:
    """Cache the most viewed products; idempotent (see ``services.cache_warm``)."""
    report = services.cache_warm(limit=limit)
    return {"cached": report.cached, "loaded": report.loaded, "missing": report.missing}


@shared_task(name="shop.tasks.repair_product_cache", ignore_result=True)
def repair_product_cache() -> int:
    """Drop from Redis the products changed while it was down (see ``services.cache_repair``)."""
    return services.cache_repair()
