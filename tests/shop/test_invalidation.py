"""After an update, no read from any process returns the old value.

Reader processes (real, separate Python processes with their own Redis and
database connections) loop over the cached read path while this process
updates the product.  After each update's invalidation has run, the test
publishes the version in Redis; a reader that saw version ``v`` published
*before* it started a read must get ``v`` or later from that read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.db import connection

from shop import services
from shop.caching import WriteStrategy
from tests.conftest import wait_for
from tests.processes import database_url

pytestmark = pytest.mark.django_db(transaction=True)

READER = r"""
import json, os, sys
import django
django.setup()
import redis
from shop import selectors

pid, version_key, reads_key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
r = redis.Redis.from_url(os.environ["REDIS_TEST_SCAFFOLD_URL"], decode_responses=True)  # test bookkeeping
reads = violations = 0
states = {}
print("ready", flush=True)
while True:
    published = r.get(version_key)          # what the writer has finished, *before* our read
    if published == "stop":
        break
    read = selectors.product_get(pid)
    states[read.state.value] = states.get(read.state.value, 0) + 1
    got = read.value["stock"]
    if published is not None and got < int(published):
        violations += 1
    reads += 1
    r.incr(reads_key)
print(json.dumps({"reads": reads, "violations": violations, "states": states}), flush=True)
"""


def start_reader(pid: int, version_key: str, reads_key: str) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings",
           "DATABASE_URL": database_url(connection.settings_dict)}
    proc = subprocess.Popen([sys.executable, "-c", READER, str(pid), version_key, reads_key],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


@pytest.mark.scratch_keys
@pytest.mark.parametrize("strategy", [WriteStrategy.INVALIDATE, WriteStrategy.WRITE_THROUGH])
def test_no_reader_in_another_process_sees_the_old_value(catalog, raw_redis, strategy):
    pid = catalog[0].pk
    services.product_update(product_id=pid, changes={"stock": 0}, strategy=strategy)
    version_key, reads_key = "t:test:version", "t:test:reads"
    readers = [start_reader(pid, version_key, f"{reads_key}:{i}") for i in range(2)]
    try:
        for version in range(1, 16):
            services.product_update(product_id=pid, changes={"stock": version}, strategy=strategy)
            # product_update returned: committed, and on_commit ran the cache step.
            raw_redis.set(version_key, version)
            marks = [int(raw_redis.get(f"{reads_key}:{i}") or 0) for i in range(2)]
            # Let every reader do a few reads of this version before the next write.
            wait_for(lambda m=marks: all(int(raw_redis.get(f"{reads_key}:{i}") or 0) >= m[i] + 3
                                         for i in range(2)), timeout=30)
        raw_redis.set(version_key, "stop")
        results = []
        for proc in readers:
            out, err = proc.communicate(timeout=30)
            assert proc.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in readers:
            if proc.poll() is None:
                proc.kill()
    for result in results:
        assert result["reads"] >= 45
        assert result["violations"] == 0
        assert result["states"].get("hit", 0) > 0  # the readers really were reading the cache


LOCAL_READER = r"""
import os, sys
import django
django.setup()
import redis
from shop import caching, selectors
from shop.caching import ReadTier

pid, seen_key = int(sys.argv[1]), sys.argv[2]
r = redis.Redis.from_url(os.environ["REDIS_TEST_SCAFFOLD_URL"], decode_responses=True)  # test bookkeeping
selectors.product_get(pid, tier=ReadTier.LOCAL)  # starts the listener
assert caching.invalidation_bus().subscribed.wait(10)
print("ready", flush=True)
while r.get(seen_key) != "stop":
    read = selectors.product_get(pid, tier=ReadTier.LOCAL)
    r.set(seen_key + ":value", read.value["stock"])
    r.set(seen_key + ":tier", read.tier)
"""


@pytest.mark.scratch_keys
def test_a_write_reaches_another_process_in_process_tier_by_pub_sub(catalog, raw_redis):
    """The reader keeps entries for 60 s: only the PUBLISH can make it drop the old value in time."""
    pid = catalog[0].pk
    services.product_update(product_id=pid, changes={"stock": 1})
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "SHOP_LOCAL_TIER_TTL": "60",
           "DATABASE_URL": database_url(connection.settings_dict)}
    seen_key = "t:test:local"
    proc = subprocess.Popen([sys.executable, "-c", LOCAL_READER, str(pid), seen_key],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        wait_for(lambda: raw_redis.get(seen_key + ":tier") == "local" and raw_redis.get(seen_key + ":value") == "1")
        services.product_update(product_id=pid, changes={"stock": 2})
        wait_for(lambda: raw_redis.get(seen_key + ":value") == "2", timeout=5)
        raw_redis.set(seen_key, "stop")
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
