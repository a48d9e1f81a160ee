"""Write-behind view counters: concurrent views, two flushes racing, flushers dying half-way."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from redis_patterns import writebehind
from shop import caching, keys, services, tasks
from shop.models import Product, ViewCountFlush

pytestmark = pytest.mark.django_db(transaction=True)


def run_threads(targets):
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # surface thread failures in the test
                errors.append(exc)
            finally:
                connection.close()
        return run

    threads = [threading.Thread(target=wrap(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def test_concurrent_views_and_two_racing_flushes_count_every_view_once(catalog):
    products = [p.pk for p in catalog[:3]]
    viewers, views_each = 6, 40
    n = viewers * views_each
    views_done = threading.Event()
    flush_runs = []

    def viewer(offset):
        def run():
            for i in range(views_each):
                read = services.product_view(products[(offset + i) % len(products)])
                assert read.value is not None
        return run

    def flusher():
        # Flush over and over while views are coming in, racing the other flusher.
        while not views_done.is_set():
            flush_runs.append(tasks.flush_view_counts())
        flush_runs.append(tasks.flush_view_counts())

    def viewers_then_signal():
        run_threads([viewer(k) for k in range(viewers)])
        views_done.set()

    run_threads([viewers_then_signal, flusher, flusher])
    tasks.flush_view_counts()  # whatever the last race left pending
    counts = dict(Product.objects.filter(pk__in=products).values_list("pk", "view_count"))
    assert sum(counts.values()) == n
    expected = {pid: 0 for pid in products}
    for k in range(viewers):
        for i in range(views_each):
            expected[products[(k + i) % len(products)]] += 1
    assert counts == expected
    assert len(flush_runs) >= 2
    assert sum(ViewCountFlush.objects.values_list("views", flat=True)) == n


def test_a_flusher_that_died_after_claiming_loses_nothing(catalog, r):
    pid = catalog[0].pk
    counters = keys.view_counter_keys()
    for _ in range(5):
        writebehind.record(r, counters, pid)
    now_ms = int(time.time() * 1000)
    orphan = writebehind.claim(r, caching.scripts(), counters, now_ms=now_ms)  # ...and then the flusher died
    assert orphan is not None
    writebehind.record(r, counters, pid)  # a view after the claim lands in the new pending hash
    soon = services.views_flush(now_ms=now_ms + 1000)  # within the lease: the orphan is left alone
    assert soon.views == 1 and orphan not in soon.batches
    later = services.views_flush(now_ms=now_ms + 61_000)  # lease over: recovered
    assert later.batches == [orphan] and later.views == 5
    assert Product.objects.get(pk=pid).view_count == 6
    assert r.zcard(counters.batches) == 0 and not r.exists(orphan)


def test_a_flusher_that_died_after_its_commit_is_not_counted_twice(catalog, r):
    pid = catalog[0].pk
    counters = keys.view_counter_keys()
    for _ in range(7):
        writebehind.record(r, counters, pid)
    now_ms = int(time.time() * 1000)
    batch = writebehind.claim(r, caching.scripts(), counters, now_ms=now_ms)
    assert services.views_apply_batch(batch_key=batch, counts=writebehind.read(r, batch))
    # ...died before releasing the batch. The recovery finds it and must not apply it again.
    report = services.views_flush(now_ms=now_ms + 61_000)
    assert report.skipped == [batch] and report.views == 0
    assert Product.objects.get(pk=pid).view_count == 7
    assert not r.exists(batch)


def test_views_are_written_to_the_database_when_redis_is_down(catalog, redis_server):
    pid = catalog[0].pk
    redis_server.stop()
    read = services.product_view(pid)
    assert read.state.value == "bypass"
    assert Product.objects.get(pk=pid).view_count == 1
