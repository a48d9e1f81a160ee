"""``bench/common.py``: the helpers every benchmark's figures go through."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time

import redis

from bench import common


def test_server_label_names_the_real_server(redis_server):
    client = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
    try:
        info = client.info("server")
        label = common.server_label(client)
    finally:
        client.close()
    name = str(info.get("server_name") or "redis")
    assert label == f"{name.capitalize()} {info.get(f'{name}_version') or info['redis_version']}"


def test_raw_get_floor_reads_the_key_it_wrote(redis_server):
    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    try:
        client.set("bench:key", "v")
        floor = common.raw_get_floor_us(redis_server.port, calls=50, warmup=5)
        # the key the floor sends is the whole key: Redis counted hits, not misses
        assert client.info("stats")["keyspace_hits"] >= 55
    finally:
        client.close()
    assert 0 < floor < 1_000_000


def test_percentiles_quartiles_and_spread():
    values = list(range(1, 101))
    assert common.percentile(values, 0.5) == 51 and common.percentile(values, 0.99) == 100
    assert math.isnan(common.percentile([], 0.5))
    assert common.quartiles([3.0]) == (3.0, 3.0, 3.0)
    assert common.spread([1.0]) == "-" and common.spread([1.0, 2.0, 3.0, 4.0]) == "1.25–3.75"


def test_markdown_table():
    lines = common.md_table(["a", "b"], [[1, "x"], [22, "yy"]])
    assert lines[0].startswith("| a") and set(lines[1]) <= set("|-: ") and "22" in lines[3]


def test_targets_say_met_or_not_met_in_both_directions():
    lower = common.Target("b", "ratio", 1.2, 1.25)
    higher = common.Target("b", "speed-up", 1.5, 1.6, higher_is_better=True)
    assert lower.met and lower.verdict == "met" and lower.goal_text == "≤ 1.25x"
    assert not higher.met and higher.verdict == "**not met**" and higher.goal_text == "≥ 1.60x"
    assert not common.Target("b", "nothing measured", math.nan, 1.0).met
    recorded = common.target("b", "µs over", 12.0, 10.0, unit="µs")
    assert common.TARGETS[-1] is recorded and not recorded.met and recorded.fmt(12.0) == "12.0 µs"
    common.TARGETS.remove(recorded)
    assert "| ratio | ≤ 1.25x | 1.20x |" in "\n".join(common.target_table([lower]))


def test_busy_state_runs_one_low_priority_loop_per_core_and_stops_them(monkeypatch):
    import os
    import subprocess

    started = []
    real = subprocess.Popen

    def spy(args, **kwargs):
        proc = real(args, **kwargs)
        started.append((args, proc))
        return proc

    monkeypatch.setattr(common.subprocess, "Popen", spy)
    with common.machine_state("busy") as state:
        assert state.loops == (os.cpu_count() or 1) == len(started)
        assert all(args[:3] == ["nice", "-n", "19"] and proc.poll() is None for args, proc in started)
    assert all(proc.poll() is not None for _, proc in started)
    assert "busy" in state.describe() and state.load_after is not None
    with common.machine_state("idle") as idle:
        assert idle.loops == 0


def test_busy_loops_end_with_a_killed_benchmark(tmp_path):
    """A benchmark killed before its ``finally`` (SIGKILL) leaves no busy loop behind to skew later runs."""
    script = tmp_path / "bench_killed.py"
    script.write_text("import sys, time\nfrom bench.common import machine_state\n"
                      "with machine_state('busy') as s:\n"
                      "    print(' '.join(str(p) for p in s.pids), flush=True)\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, str(script)], cwd=common.ROOT, stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == (os.cpu_count() or 1)
    assert all(_alive(pid) for pid in pids)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"  # a zombie waiting for init is gone too
    except FileNotFoundError:
        return False


def test_compare_reports_the_difference_per_pair():
    result = common.compare(lambda: None, lambda: sum(range(2000)), pairs=3, calls=20)
    assert len(result.differences) == 3 and result.difference_us > 0 and result.ratio > 1
