"""``lab_antipatterns`` at a small size (the full run and --quick are timed by hand; see the README).

Asserts what does not depend on the machine's speed: every case ran and has its row, the no-TTL report
found exactly the keys written without a TTL and none of those with one, hashes of 100 fields take less
memory per item than string keys, the result is kept for the page, and the app's own Redis saw nothing.
"""

from __future__ import annotations

import io
import json
import os

import pytest
from django.core.management import call_command

from ops import antipatterns

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

SIZE = 5000


def test_lab_runs_every_case_on_a_scratch_server_and_keeps_its_result(raw_redis, settings, staff_client):
    out = io.StringIO()
    call_command("lab_antipatterns", size=SIZE, stdout=out)
    text = out.getvalue()
    names = ["KEYS vs SCAN", "Big value read by many", "LRANGE 0 -1", "HGETALL on a huge hash", "Many small keys",
             "DEL of a big key", "No TTL on cache keys"]
    for name in names:
        assert f"| {name}" in text
    assert raw_redis.dbsize() == 0 and raw_redis.slowlog_len() == 0  # the app's Redis was never used

    from pathlib import Path

    result = json.loads((Path(settings.VAR_DIR) / "labs" / "antipatterns.json").read_text())
    cases = result["data"]["cases"]
    assert list(cases) == names
    assert all(c["probe_gets_anti"] >= 1 and c["probe_gets_fix"] >= 1 for c in cases.values())
    ttl = cases["No TTL on cache keys"]["extra"]
    assert ttl["anti"].startswith(f"no-TTL report: {SIZE:,} keys") and ttl["fix"].startswith("no-TTL report: 0 keys")
    per_item = {side: int(cases["Many small keys"]["extra"][side].split(" B/item")[0].replace(",", ""))
                for side in ("anti", "fix")}
    assert per_item["fix"] < per_item["anti"] / 2, per_item
    assert "listpack" in cases["Many small keys"]["extra"]["fix"]

    page = staff_client.get("/ops/antipatterns/", follow=True)
    assert page.redirect_chain == [("/ops/labs/antipatterns/", 302)]
    assert page.status_code == 200 and b"KEYS vs SCAN" in page.content


def test_percentile_and_window_attribution():
    assert antipatterns.percentile([], 99) == 0
    assert antipatterns.percentile([1.0] * 99 + [50.0], 99) == 1.0
    assert antipatterns.percentile([1.0] * 98 + [50.0, 60.0], 99) == 50.0
    probe = antipatterns.Probe.__new__(antipatterns.Probe)
    probe.samples = [(0, 10), (100, 300), (150, 300), (400, 410)]
    assert probe.latencies_ms((100, 200)) == [200 / 1e6, 150 / 1e6]  # the GETs due in the window, from when due
    assert probe.latencies_ms((350, 360)) == [10 / 1e6]  # none due: the next one stands for it


def test_the_reaper_spares_multiprocessings_resource_tracker():
    """A lab's first ``spawn`` process (the antipatterns probe) starts multiprocessing's resource tracker, a
    child of this process that serves it for good; the end-of-run reaper of stray children killed it, and the
    next ``multiprocessing`` user in the process warned "resource_tracker: process died unexpectedly"."""
    import multiprocessing
    import subprocess
    import warnings
    from multiprocessing import resource_tracker

    from ops import labs

    multiprocessing.get_context("spawn").Lock()  # a named semaphore: the tracker runs from here on
    tracker = resource_tracker._resource_tracker._pid
    assert tracker in labs._children()
    stray = subprocess.Popen(["sleep", "30"])
    try:
        # as if both had started during a lab run
        assert labs._reap_children(keep=labs._children() - {tracker, stray.pid}) == 1
        assert not os.path.exists(f"/proc/{stray.pid}")
        os.kill(tracker, 0)  # still there
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            resource_tracker.ensure_running()  # no "died unexpectedly" warning
    finally:
        if stray.poll() is None:
            stray.kill()
