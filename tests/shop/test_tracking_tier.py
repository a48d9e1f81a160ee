"""The shop's tracking tiers: a product copy in each process, invalidated by the server.

Reader processes are real, separate Python processes (their own Redis and
database connections, their own tracking listener).  The contrast with the
pub/sub tier: a writer that changes the cache without publishing still
reaches every tracking copy, because the server itself sends the message.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from django.db import connection

from shop import caching, demos, keys, selectors, services
from shop.caching import ReadTier, WriteStrategy
from shop.models import Product
from tests.conftest import wait_for

# The reader processes report through keys of their own (t:test:...): outside the key registry.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.scratch_keys]

TRACKING_TIERS = [ReadTier.TRACKING, ReadTier.TRACKING_BCAST]

READER = r"""
import json, os, sys, time
import django
django.setup()
import redis
from shop import selectors
from shop.caching import ReadTier

pid, version_key, reads_key, tier = int(sys.argv[1]), sys.argv[2], sys.argv[3], ReadTier(sys.argv[4])
r = redis.Redis.from_url(os.environ["REDIS_TEST_SCAFFOLD_URL"], decode_responses=True)  # test bookkeeping
reads = violations = 0
max_lag = 0.0
tiers = {}
selectors.product_get(pid, tier=tier)
print("ready", flush=True)
while True:
    published = r.get(version_key)          # "<version> <monotonic time the write returned>", before our read
    if published == "stop":
        break
    started = time.monotonic()              # one clock for every process of the machine
    read = selectors.product_get(pid, tier=tier)
    tiers[read.tier] = tiers.get(read.tier, 0) + 1
    got = read.value["stock"]
    if published is not None and got < int(published.split()[0]):
        violations += 1                     # older than a write that had returned before this read began
        max_lag = max(max_lag, started - float(published.split()[1]))
    reads += 1
    r.incr(reads_key)
time.sleep(0.2)
final = selectors.product_get(pid, tier=tier).value["stock"]
print(json.dumps({"reads": reads, "violations": violations, "max_lag": max_lag, "tiers": tiers,
                  "final": final}), flush=True)
"""


def start_reader(pid: int, version_key: str, reads_key: str, tier: ReadTier) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings",
           "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}"}
    proc = subprocess.Popen([sys.executable, "-c", READER, str(pid), version_key, reads_key, tier.value],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


def finish(readers: list[subprocess.Popen]) -> list[dict]:
    results = []
    for proc in readers:
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


@pytest.mark.parametrize(("tier", "strategy"), [(ReadTier.TRACKING, WriteStrategy.INVALIDATE),
                                                (ReadTier.TRACKING_BCAST, WriteStrategy.WRITE_THROUGH)])
def test_other_processes_copies_follow_every_write_within_the_delivery_window(catalog, raw_redis, tier, strategy):
    """Bounded staleness, no TTL: a read that began after a write returned may get the old value only
    while the server's message is on its way (sub-millisecond; 250 ms allowed for a loaded machine),
    and every copy ends at the last write.  (The plain Redis tier is strict: tests/shop/test_invalidation.py.)"""
    pid = catalog[0].pk
    services.product_update(product_id=pid, changes={"stock": 0}, strategy=strategy)
    version_key, reads_key = "t:test:version", "t:test:reads"
    readers = [start_reader(pid, version_key, f"{reads_key}:{i}", tier) for i in range(2)]
    try:
        for version in range(1, 13):
            services.product_update(product_id=pid, changes={"stock": version}, strategy=strategy)
            raw_redis.set(version_key, f"{version} {time.monotonic()}")
            marks = [int(raw_redis.get(f"{reads_key}:{i}") or 0) for i in range(2)]
            wait_for(lambda m=marks: all(int(raw_redis.get(f"{reads_key}:{i}") or 0) >= m[i] + 3
                                         for i in range(2)), timeout=30)
        raw_redis.set(version_key, "stop")
        results = finish(readers)
    finally:
        for proc in readers:
            if proc.poll() is None:
                proc.kill()
    for result in results:
        assert result["reads"] >= 36
        assert result["final"] == 12
        assert result["max_lag"] < 0.25, result
        assert result["tiers"].get(tier.value, 0) > 0  # reads were served by the process's own copy


LOCAL_OR_TRACKING_READER = r"""
import os, sys
import django
django.setup()
import redis
from shop import selectors
from shop.caching import ReadTier

pid, seen_key, tier = int(sys.argv[1]), sys.argv[2], ReadTier(sys.argv[3])
r = redis.Redis.from_url(os.environ["REDIS_TEST_SCAFFOLD_URL"], decode_responses=True)  # test bookkeeping
print("ready", flush=True)
while r.get(seen_key) != "stop":
    read = selectors.product_get(pid, tier=tier)
    r.set(seen_key + ":value", read.value["stock"])
    r.set(seen_key + ":tier", read.tier)
"""


@pytest.mark.parametrize("tier", [ReadTier.LOCAL, *TRACKING_TIERS])
def test_a_writer_that_does_not_publish_reaches_only_the_tracking_copies(catalog, raw_redis, tier):
    """A plain ``DEL`` of the product key (no PUBLISH): the server tells tracking copies; a pub/sub tier never hears."""
    pid = catalog[0].pk
    services.product_update(product_id=pid, changes={"stock": 1})
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "SHOP_LOCAL_TIER_TTL": "60",
           "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}"}
    seen_key = "t:test:seen"
    proc = subprocess.Popen([sys.executable, "-c", LOCAL_OR_TRACKING_READER, str(pid), seen_key, tier.value],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        wait_for(lambda: raw_redis.get(seen_key + ":tier") == tier.value and raw_redis.get(seen_key + ":value") == "1",
                 timeout=15)
        Product.objects.filter(pk=pid).update(stock=2)  # the database changes...
        raw_redis.delete(keys.product_key(pid))         # ...and the cache entry goes, with no PUBLISH
        if tier == ReadTier.LOCAL:
            with pytest.raises(AssertionError):         # 60 s TTL, no message: the old value stays
                wait_for(lambda: raw_redis.get(seen_key + ":value") == "2", timeout=2)
        else:
            wait_for(lambda: raw_redis.get(seen_key + ":value") == "2", timeout=5)
        raw_redis.set(seen_key, "stop")
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("tier", TRACKING_TIERS)
def test_tracking_tier_reads_redis_once_then_again_only_after_a_write(catalog, tier, django_capture_on_commit_callbacks):
    pid = catalog[0].pk
    reads = [selectors.product_get(pid, tier=tier) for _ in range(20)]
    assert reads[-1].tier == tier.value and reads[-1].value["id"] == pid
    tracker = caching.tracking_cache(tier)
    assert tracker is not None and tracker.stats.fetches <= 3 and len(tracker) == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.product_update(product_id=pid, changes={"price": "7.77"})
    wait_for(lambda: tracker.stats.dropped >= 1, timeout=5)
    fresh = selectors.product_get(pid, tier=tier)
    assert fresh.value["price"] == "7.77" and fresh.tier != tier.value


def test_hot_key_page_compares_every_tier(client, catalog):
    response = client.post("/patterns/hot-keys/", {"product": catalog[0].pk})
    page = response.content.decode()
    assert response.status_code == 200 and 'id="hotkey-compare"' in page
    reads = {tier: int(n) for tier, n in re.findall(r'data-tier="(\w+)" data-redis-reads="(\d+)"', page)}
    assert set(reads) == {tier.value for tier in ReadTier}
    assert reads["redis"] == 200
    assert reads["tracking"] <= 3 and reads["tracking_bcast"] <= 3  # then only local copies
    assert "BCAST prefixes" in page and 'id="tracking-state"' in page


@pytest.mark.parametrize("tier", list(ReadTier))
def test_staleness_run_sees_every_write_in_every_reader(tier):
    result = demos.staleness_run(tier=tier, readers=2, writes=4)
    assert result.missed == 0 and len(result.delays_ms) == 4
    if tier in (ReadTier.LOCAL, *TRACKING_TIERS):
        assert result.memory_bytes > 0  # a local copy; plain and replica readers hold none
    else:
        assert result.memory_bytes == 0
