"""Each lab, run as a user runs it (``manage.py lab_<name>`` in its own process), smaller than --quick.

The sizes are cut for CI time; the assertions are the claims each lab makes
(AOF always loses no acknowledged write, RDB only does; a reshard ends with no
error the client did not handle; ...).  Two more tests interrupt a lab with
Ctrl-C (SIGINT) and SIGTERM and check that no process it started survives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ops.labs import tool_binary

# The labs measure core Redis (memory, eviction, AOF/RDB, Sentinel, Cluster). On the Redis Stack run of the
# matrix every server they start would load the modules, whose own AOF and cluster start-up differ from what
# the labs check; they run on Redis 7.0 and Valkey there (make test-servers).
pytestmark = [pytest.mark.slow, pytest.mark.skipif("--loadmodule" in os.environ.get("REDIS_SERVER_ARGS", ""),
                                                   reason="labs run on core Redis and Valkey, not Redis Stack")]

ROOT = Path(__file__).resolve().parents[2]


def run_lab(name: str, *args: str, var_dir: Path, timeout: float = 300) -> tuple[dict, str]:
    env = {**os.environ, "VAR_DIR": str(var_dir)}
    done = subprocess.run([sys.executable, "manage.py", f"lab_{name}", "--quick", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((var_dir / "labs" / f"{name}.json").read_text())
    svg = (var_dir / "labs" / f"{name}.svg").read_text()
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert result["quick"] is True and result["tables"]
    for table in result["tables"]:  # every table is printed
        assert "| " + " | ".join(c for c in table["columns"][:1]) in done.stdout
    failed = [c for c in result["checks"] if not c["ok"]]
    assert not failed, failed
    return result, done.stdout


def test_lab_memory(tmp_path):
    result, out = run_lab("memory", "--size", "20000", var_dir=tmp_path)
    per_item = result["data"]["bytes_per_item"]
    assert per_item["hashes of 100 fields"] < per_item["string keys"] / 2
    below, above = result["data"]["cliff"]["below"], result["data"]["cliff"]["above"]
    assert (below[0], above[0]) == ("listpack", "hashtable") and above[1] > 2 * below[1]
    assert "intset" in out


def test_lab_eviction(tmp_path):
    result, _ = run_lab("eviction", "--keys", "5000", "--ops", "40000", var_dir=tmp_path)
    data = result["data"]
    assert data["noeviction"]["errors"] > 0 and data["noeviction"]["evicted"] == 0
    assert data["allkeys-lru"]["evicted"] > 0 and data["allkeys-lru"]["errors"] == 0
    durable = 5000 // 20
    assert all(data[p]["durable_kept"] == durable for p in data if p.startswith("volatile-"))
    assert data["allkeys-lru"]["durable_kept"] < durable  # allkeys-* treat data as cache


def test_lab_persistence(tmp_path):
    result, out = run_lab("persistence", "--base", "5000", "--duration", "1.5", "--backup-keys", "2000",
                          var_dir=tmp_path)
    crashes = {c["name"]: c for c in result["data"]["crashes"]}
    assert crashes["AOF always"]["acked"] > 0 and crashes["AOF always"]["lost"] == 0
    assert crashes["RDB only (save 2 100)"]["lost"] > 0
    assert crashes["none"]["lost"] == crashes["none"]["acked"]
    torn = result["data"]["torn_aof"]
    assert torn["refused"] and torn["fix_rc"] == 0 and torn["fixed_keys"] == 999
    backup = result["data"]["backup"]
    assert backup["same"] == backup["compared"] == 2000 and backup["extra"] == 0
    assert Path(tool_binary("check-aof")).name in out


def test_lab_sentinel(tmp_path):
    result, _ = run_lab("sentinel", "--before", "1", "--after", "0.5", var_dir=tmp_path)
    rounds = result["data"]["rounds"]
    assert {r["mode"] for r in rounds} == {"no WAIT", "WAIT 1"}
    for r in rounds:
        assert r["failover_s"] is not None and 0 < r["failover_s"] < 30
        assert r["acked"] > 0 and r["rejoined_new_master"]
    assert result["data"]["lost_with_wait"] == 0
    assert isinstance(result["data"]["lost_without_wait"], int)


def test_lab_cluster(tmp_path):
    result, _ = run_lab("cluster", "--keys", "3000", "--slots", "200", var_dir=tmp_path)
    reshard = result["data"]["reshard"]
    assert reshard["errors"] == 0 and reshard["incr_mismatch"] == 0
    assert reshard["source_slots"][0] - reshard["source_slots"][1] == 200
    assert reshard["MOVED"] + reshard["ASK"] > 0  # the client was redirected, and coped
    assert result["data"]["failover"]["promoted_s"] > 0
    assert all(not f["error"] for f in result["data"]["features"])


def test_lab_stampede(tmp_path):
    # A naive cache sends about (request rate x load time) loads per expiry, the protected one 1. With a 50 ms
    # load, a CI run got 4 naive loads against 5 protected (XFetch refreshes early): most likely the machine was
    # so starved (the other test worker busy) that it served too few requests per second for the naive side to
    # make more than 1 load per expiry. A 300 ms load keeps the naive side several loads per expiry even at 20
    # requests/s; with 12 busy loops at nice 0 on 2 cores it measured 70-78 naive loads against 9-10 protected
    # (66-155 against 3 on an unloaded machine).
    result, _ = run_lab("stampede", "--users", "100", "--requests", "600", "--workers", "2", "--fresh", "1",
                        "--load-ms", "300", var_dir=tmp_path)
    runs = result["data"]["runs"]
    protected = next(r for r in runs if r["protect"])
    naive = next(r for r in runs if not r["protect"])
    assert protected["errors"] == naive["errors"] == 0
    assert naive["loads"] > protected["loads"]


# --- interrupted labs leave nothing behind ---------------------------------------------------


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rfind(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2] != "Z"


def _names(pids: set[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            out.append(Path(f"/proc/{pid}/comm").read_text().strip())
        except OSError:
            pass
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
@pytest.mark.parametrize(("lab", "sig", "servers"), [("cluster", signal.SIGINT, 6), ("sentinel", signal.SIGTERM, 6)])
def test_an_interrupted_lab_stops_every_process_it_started(tmp_path, lab, sig, servers):
    env = {**os.environ, "VAR_DIR": str(tmp_path)}
    out, err_path = (tmp_path / "stdout").open("w"), tmp_path / "stderr"
    # Files, not pipes: nobody reads a pipe while the test waits, and a full one would block the lab.
    proc = subprocess.Popen([sys.executable, "manage.py", f"lab_{lab}", "--quick"], cwd=ROOT, env=env,
                            stdout=out, stderr=err_path.open("w"), text=True)
    seen: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen |= _descendants(proc.pid)
        if sum(1 for n in _names(_descendants(proc.pid)) if "redis" in n or "valkey" in n) >= servers:
            break
        assert proc.poll() is None, err_path.read_text()[-2000:]
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"lab_{lab} never had {servers} servers running")
    seen |= _descendants(proc.pid)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    err = err_path.read_text()
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted: stopped" in err
    left = {pid for pid in seen if _alive(pid)}
    assert not left, f"still running after lab_{lab} exited: {_names(left)}"
    assert not (tmp_path / "labs" / f"{lab}.json").exists()  # an interrupted run writes no result
