"""``python manage.py lab_cluster``: a 6-node Redis Cluster, hash tags, a reshard under load, a failover.

Course lab 4 (sections 5.2-5.4 and 14.4).  Steps:

1. six private ``redis-server`` processes with ``cluster-enabled yes``, made a
   cluster of 3 masters and 3 replicas by ``redis-cli --cluster create
   --cluster-replicas 1`` (``valkey-cli`` for Valkey), exactly as the course does;
2. the site's own features run against it in a process configured like a
   cluster deployment (``ops/cluster_features.py``): every multi-key command
   they send has its keys in one slot, thanks to the ``{hash tag}`` in each
   key name;
3. a ``CROSSSLOT`` error provoked (``MSET`` of two untagged keys on a node),
   the client-side refusal of the same in redis-py, and the tagged fix;
4. ``redis-cli --cluster reshard`` moves slots from one master to another
   while load threads, each with the project's cluster client
   (``config.redis.build_client``), run ``GET``/``INCR`` and a tagged
   two-key ``MSET``.  Redirections the client followed are read from each
   node's ``INFO errorstats`` (``MOVED``, ``ASK``, ``TRYAGAIN``); errors the
   application saw are counted by the load threads: it must be 0, and every
   acknowledged ``INCR`` must be there afterwards;
5. a master is SIGKILLed under the same load: time until its replica is
   promoted and the cluster is ``ok`` again, errors during the window, and
   the old master restarted, rejoining as a replica.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import redis
import redis.cluster
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from redis.crc import key_slot

from config.redis import RedisConfig, build_client
from ops import charts
from ops.labs import LabRun, fmt_int, fmt_ms, raw_call, tool_binary, wait_until
from redis_patterns.servers import RedisServer, free_cluster_port

NODE_TIMEOUT_MS = 2000


def _info(node: RedisServer, section: str) -> dict[str, str]:
    text = raw_call(node.host, node.port, "INFO", section).decode(errors="replace")
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))


def _nodes(node: RedisServer) -> list[dict[str, Any]]:
    """``CLUSTER NODES`` parsed: id, port, flags, master id, slot ranges."""
    text = raw_call(node.host, node.port, "CLUSTER", "NODES").decode(errors="replace")
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8 or not parts[0].isalnum():
            continue
        ranges = [p for p in parts[8:] if not p.startswith("[")]
        slots = sum(int(r.split("-")[1]) - int(r.split("-")[0]) + 1 if "-" in r else 1 for r in ranges)
        out.append({"id": parts[0], "port": int(parts[1].split(":")[1].split("@")[0]), "flags": parts[2],
                    "master": parts[3], "ranges": ranges, "slots": slots})
    return out


def _expand(slot_range: str) -> range:
    first, _, last = slot_range.partition("-")
    return range(int(first), int(last or first) + 1)


def _errorstats(nodes: list[RedisServer]) -> Counter[str]:
    total: Counter[str] = Counter()
    for node in nodes:
        if not node.running:
            continue
        try:
            for key, value in _info(node, "errorstats").items():
                total[key.replace("errorstat_", "")] += int(value.split("count=")[1].split(",")[0])
        except OSError:
            pass
    return total


class Load:
    """Load threads on the project's cluster client; count what they did and the errors they saw."""

    def __init__(self, startup: list[tuple[str, int]], threads: int, keys: int, focus: list[int] | None = None) -> None:
        self.startup, self.keys, self.focus = startup, keys, focus or []
        self.stop = threading.Event()
        self.ops = 0
        self.errors: list[tuple[float, str]] = []
        self.incr: Counter[int] = Counter()
        self.ok_times: list[float] = []
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def start(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def _run(self, seed: int) -> None:
        client = build_client(config=RedisConfig(cluster_nodes=self.startup, client_name="lab-cluster-load",
                                                 socket_timeout=2.0, connect_timeout=1.0))
        rng = random.Random(seed)
        while not self.stop.is_set():
            # Index i's keys all share the tag {i}, so one slot; half the load aims at the focus.
            i = rng.choice(self.focus) if self.focus and rng.random() < 0.5 else rng.randrange(self.keys)
            kind = rng.random()
            try:
                if kind < 0.5:
                    value = client.get(f"load:{{{i}}}")
                    if value != f"v{i}":
                        raise AssertionError(f"load:{{{i}}} read {value!r}")
                elif kind < 0.8:
                    client.incr(f"ctr:{{{i}}}")
                    with self._lock:
                        self.incr[i] += 1
                else:
                    client.mset({f"pair:{{{i}}}:a": i, f"pair:{{{i}}}:b": i})  # a multi-key command: one slot
                with self._lock:
                    self.ops += 1
                    self.ok_times.append(time.monotonic())
            except Exception as exc:  # counted, and the load goes on: this is what the app would see
                with self._lock:
                    self.errors.append((time.monotonic(), type(exc).__name__))
                time.sleep(0.01)
        client.close()


class Command(BaseCommand):
    help = "Lab: 6-node cluster via redis-cli, hash tags and CROSSSLOT, reshard under load, master failover."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--quick", action="store_true", help="fewer keys and slots to move")
        parser.add_argument("--keys", type=int, default=None, help="keys loaded before the reshard (50,000)")
        parser.add_argument("--slots", type=int, default=None, help="slots to move (default 2,000; --quick 500)")
        parser.add_argument("--threads", type=int, default=2, help="load threads")

    def handle(self, *args: Any, **opt: Any) -> None:
        keys = opt["keys"] or (10_000 if opt["quick"] else 50_000)
        slots = opt["slots"] or (500 if opt["quick"] else 2000)
        if not 1 <= slots <= 5000:
            raise CommandError("--slots between 1 and 5000")
        cli = tool_binary("cli")
        with LabRun("cluster", quick=opt["quick"], stdout=self.stdout) as run:
            with run.progress(7, "cluster") as bar:
                bar.set_postfix_str("6 nodes, redis-cli --cluster create")
                nodes, create_s = self._create(run, cli)
                bar.update(1)
                bar.set_postfix_str("the site's features")
                features = self._features(run, nodes)
                bar.update(1)
                crossslot = self._crossslot(nodes)
                bar.update(1)
                bar.set_postfix_str(f"loading {fmt_int(keys)} keys")
                startup = [(n.host, n.port) for n in nodes]
                loader = build_client(config=RedisConfig(cluster_nodes=startup, client_name="lab-cluster"))
                for start in range(0, keys, 1000):
                    pipe = loader.pipeline()
                    for i in range(start, min(keys, start + 1000)):
                        pipe.set(f"load:{{{i}}}", f"v{i}")
                    pipe.execute()
                bar.update(1)
                bar.set_postfix_str(f"resharding {slots} slots under load")
                reshard = self._reshard(run, cli, nodes, startup, keys, slots, opt["threads"], loader)
                bar.update(1)
                bar.set_postfix_str("SIGKILL a master under load")
                failover = self._failover(run, nodes, startup, keys, opt["threads"])
                bar.update(2)
                loader.close()
            self._report(run, nodes, create_s, features, crossslot, reshard, failover, keys, slots, opt)

    # -- 1. create -----------------------------------------------------------------------------

    def _create(self, run: LabRun, cli: str) -> tuple[list[RedisServer], float]:
        nodes = [run.server(name=f"node{i}", port=free_cluster_port(),
                            config={"cluster-enabled": "yes", "cluster-node-timeout": str(NODE_TIMEOUT_MS)})
                 for i in range(1, 7)]
        t0 = time.monotonic()
        out = run.run_tool([cli, "--cluster", "create", *[f"{n.host}:{n.port}" for n in nodes],
                            "--cluster-replicas", "1", "--cluster-yes"], timeout=120)
        if out.returncode != 0:
            raise CommandError(f"redis-cli --cluster create failed:\n{out.stdout}\n{out.stderr}")

        def settled() -> bool:
            if any("cluster_state:ok" not in raw_call(n.host, n.port, "CLUSTER", "INFO").decode() for n in nodes):
                return False
            table = _nodes(nodes[0])
            replicas = [t for t in table if "slave" in t["flags"]]
            links = [_info(n, "replication").get("master_link_status") for n in nodes
                     if any(r["port"] == n.port for r in replicas)]
            return len(table) == 6 and len(replicas) == 3 and all(x == "up" for x in links)

        wait_until(settled, timeout=60, interval=0.1, what="the cluster to settle (state ok, replicas synced)")
        return nodes, time.monotonic() - t0

    # -- 2. the site's features ----------------------------------------------------------------

    def _features(self, run: LabRun, nodes: list[RedisServer]) -> list[dict[str, Any]]:
        # A cluster deployment puts the channel layer on a standalone server (settings.py says why).
        channels = run.server(name="channels")
        env = {**os.environ, "REDIS_CLUSTER_NODES": ",".join(f"{n.host}:{n.port}" for n in nodes),
               "REDIS_URL": channels.url, "CHANNEL_REDIS_URL": channels.url, "REDIS_KEY_PREFIX": "lab",
               "VAR_DIR": str(run.tmp / "site"), "DJANGO_SETTINGS_MODULE": "config.settings",
               "REDIS_SENTINELS": "", "LOG_LEVEL": "WARNING"}
        env.setdefault("SECRET_KEY", "lab-cluster-" + "k" * 50)
        out = run.run_tool([sys.executable, "-m", "ops.cluster_features"], env=env, timeout=120,
                           cwd=Path(settings.BASE_DIR))
        if out.returncode != 0:
            raise CommandError(f"ops.cluster_features failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout)

    # -- 3. CROSSSLOT ---------------------------------------------------------------------------

    def _crossslot(self, nodes: list[RedisServer]) -> list[list[str]]:
        plain = redis.Redis(host=nodes[0].host, port=nodes[0].port, decode_responses=True)
        cluster = redis.cluster.RedisCluster(host=nodes[0].host, port=nodes[0].port, decode_responses=True)
        rows = []
        a, b = "user:42:name", "user:43:name"
        slots = f"{cluster.keyslot(a)}, {cluster.keyslot(b)}"
        try:
            plain.execute_command("MSET", a, "Ann", b, "Bob")
            result = "accepted (?)"
        except redis.ResponseError as exc:  # redis-py drops the error code from the message: put it back
            result = f"server error: {'CROSSSLOT ' if 'same slot' in str(exc) else ''}{exc}"
        rows.append([f"MSET {a} Ann {b} Bob (sent to one node)", slots, result])
        try:
            cluster.execute_command("MSET", a, "Ann", b, "Bob")
            result = "accepted (?)"
        except (redis.RedisError, redis.cluster.RedisClusterException) as exc:
            result = f"client refused before sending: {exc}"
        rows.append([f"MSET {a} Ann {b} Bob (redis-py cluster client)", slots, result])
        ta, tb = "user:{42}:name", "user:{42}:email"
        cluster.mset({ta: "Ann", tb: "ann@example.com"})
        rows.append([f"MSET {ta} Ann {tb} ann@...", f"{cluster.keyslot(ta)}, {cluster.keyslot(tb)}",
                     f"OK; MGET -> {cluster.mget(ta, tb)}"])
        plain.close()
        cluster.close()
        return rows

    # -- 4. reshard under load -----------------------------------------------------------------

    def _reshard(self, run: LabRun, cli: str, nodes: list[RedisServer], startup: list[tuple[str, int]],
                 keys: int, slots: int, threads: int, checker: Any) -> dict[str, Any]:
        table = _nodes(nodes[0])
        masters = sorted((t for t in table if "master" in t["flags"]), key=lambda t: t["port"])
        source, target = masters[0], masters[1]
        # redis-cli takes a source's slots lowest first: aim half the load at the keys in those slots.
        owned = sorted(s for r in source["ranges"] for s in _expand(r))
        moving = set(owned[:slots])
        focus = [i for i in range(keys) if key_slot(str(i).encode()) in moving]
        before = _errorstats(nodes)
        load = Load(startup, threads, keys, focus).start()
        time.sleep(1.0)  # steady load first
        t0 = time.monotonic()
        out = run.run_tool([cli, "--cluster", "reshard", f"{nodes[0].host}:{nodes[0].port}",
                            "--cluster-from", source["id"], "--cluster-to", target["id"],
                            "--cluster-slots", str(slots), "--cluster-yes", "--cluster-pipeline", "100"],
                           timeout=600)
        reshard_s = time.monotonic() - t0
        time.sleep(1.0)  # and after
        load.finish()
        if out.returncode != 0:
            raise CommandError(f"redis-cli --cluster reshard failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
        after = _errorstats(nodes)
        moved_keys = sum(1 for line in out.stdout.splitlines() if line.startswith("Moving slot"))
        # every acknowledged INCR is there
        missing = 0
        items = list(load.incr.items())
        for start in range(0, len(items), 1000):
            chunk = items[start:start + 1000]
            values = checker.mget_nonatomic([f"ctr:{{{i}}}" for i, _ in chunk])
            missing += sum(1 for (_, n), v in zip(chunk, values, strict=True) if int(v or 0) != n)
        table_after = {t["id"]: t["slots"] for t in _nodes(nodes[0])}
        delta = {k: after[k] - before.get(k, 0) for k in ("MOVED", "ASK", "TRYAGAIN")}
        return {"seconds": reshard_s, "slots": slots, "focus_keys": len(focus), "slot_moves_logged": moved_keys, "ops": load.ops,
                "errors": len(load.errors), "error_kinds": dict(Counter(k for _, k in load.errors)),
                "incr_keys": len(items), "incr_mismatch": missing, **delta,
                "source_slots": (source["slots"], table_after.get(source["id"])),
                "target_slots": (target["slots"], table_after.get(target["id"]))}

    # -- 5. failover -----------------------------------------------------------------------------

    def _failover(self, run: LabRun, nodes: list[RedisServer], startup: list[tuple[str, int]], keys: int,
                  threads: int) -> dict[str, Any]:
        table = _nodes(nodes[0])
        victim_row = max((t for t in table if "master" in t["flags"]), key=lambda t: t["port"])
        victim = next(n for n in nodes if n.port == victim_row["port"])
        replica_row = next(t for t in table if t["master"] == victim_row["id"])
        replica = next(n for n in nodes if n.port == replica_row["port"])
        survivors = [n for n in nodes if n is not victim]
        load = Load(startup, threads, keys).start()
        time.sleep(1.0)
        victim.kill()
        t_kill = time.monotonic()
        wait_until(lambda: _info(replica, "replication").get("role") == "master", timeout=60, interval=0.02,
                   what="the replica to be promoted")
        promoted_s = time.monotonic() - t_kill
        wait_until(lambda: all("cluster_state:ok" in raw_call(n.host, n.port, "CLUSTER", "INFO").decode()
                               for n in survivors), timeout=60, interval=0.02, what="cluster_state:ok")
        ok_s = time.monotonic() - t_kill
        wait_until(lambda: any(t > t_kill + ok_s for t in load.ok_times[-50:]), timeout=30,
                   what="the load to succeed again")
        back = next(t for t in load.ok_times if t > t_kill + promoted_s - 0.001) - t_kill \
            if any(t > t_kill for t in load.ok_times) else None
        time.sleep(2.0)
        load.finish()
        errs = [(t - t_kill, k) for t, k in load.errors if t >= t_kill]
        t_restart = time.monotonic()
        victim.start()
        wait_until(lambda: (_info(victim, "replication").get("role") == "slave"
                            and _info(victim, "replication").get("master_link_status") == "up"),
                   timeout=60, interval=0.05, what="the old master to rejoin as a replica")
        rejoin_s = time.monotonic() - t_restart
        return {"victim": victim.port, "replica": replica.port, "promoted_s": promoted_s, "cluster_ok_s": ok_s,
                "load_back_s": back, "errors": len(errs), "error_kinds": dict(Counter(k for _, k in errs)),
                "error_window_s": (errs[-1][0] - errs[0][0]) if errs else 0.0, "ops": load.ops,
                "rejoin_s": rejoin_s, "errors_at": [round(t, 2) for t, _ in errs],
                "ok_at": [round(t - t_kill, 2) for t in load.ok_times if -1.0 <= t - t_kill <= promoted_s + 2.0]}

    # -- report ---------------------------------------------------------------------------------

    def _report(self, run: LabRun, nodes: list[RedisServer], create_s: float, features: list[dict],
                crossslot: list[list[str]], reshard: dict, failover: dict, keys: int, slots: int,
                opt: dict) -> None:
        rows = []
        for f in features:
            multi = f["multi_key"]
            example = multi[0] if multi else None
            one_slot = all(len(m["slots"]) == 1 for m in multi)
            rows.append([f["feature"], f["commands"], len(multi),
                         f"{example['command']} {' '.join(example['keys'][:3])}{' ...' if len(example['keys']) > 3 else ''}"
                         if example else "-",
                         ", ".join(str(s) for s in sorted({s for m in multi for s in m["slots"]})) or "-",
                         "yes" if one_slot else "NO",
                         f["error"] or f["result"]])
        run.table("The site's features on the cluster (a process configured with REDIS_CLUSTER_NODES)",
                  ["feature", "commands", "multi-key commands", "example (keys)", "slots", "each in one slot",
                   "result"], rows)
        run.table("CROSSSLOT, provoked and fixed", ["command", "slots", "result"], crossslot,
                  note="Each key maps to slot CRC16(key) mod 16384, computed on the {hash tag} when the "
                       "name has one: keys that share a tag share a slot, hence a node, so one command "
                       "or script may use them together.")
        r = reshard
        run.table(f"Reshard: redis-cli --cluster reshard moves {fmt_int(slots)} slots while {opt['threads']} "
                  f"load threads run ({fmt_int(keys)} keys; half the operations on the {fmt_int(r['focus_keys'])} in "
                  "the slots being moved)",
                  ["measure", "value"],
                  [["time to move the slots", fmt_ms(r["seconds"])],
                   ["slots, source master before -> after", f"{r['source_slots'][0]:,} -> {r['source_slots'][1]:,}"],
                   ["slots, target master before -> after", f"{r['target_slots'][0]:,} -> {r['target_slots'][1]:,}"],
                   ["operations done by the load", fmt_int(r["ops"])],
                   ["MOVED redirections followed by the client", fmt_int(r["MOVED"])],
                   ["ASK redirections followed by the client", fmt_int(r["ASK"])],
                   ["TRYAGAIN (multi-key during migration) retried", fmt_int(r["TRYAGAIN"])],
                   ["errors the application saw", fmt_int(r["errors"])
                    + (f" {r['error_kinds']}" if r["error_kinds"] else "")],
                   ["acknowledged INCRs missing afterwards", f"{r['incr_mismatch']} of {fmt_int(r['incr_keys'])} keys"]],
                  note="MOVED/ASK/TRYAGAIN: the delta of INFO errorstats summed over the nodes during the "
                       "reshard, i.e. replies the client received and handled without the application seeing them.")
        f = failover
        run.table("Failover: SIGKILL a master under the same load", ["measure", "value"],
                  [["replica promoted to master after", fmt_ms(f["promoted_s"])],
                   ["cluster_state:ok on every survivor after", fmt_ms(f["cluster_ok_s"])],
                   ["errors the application saw (window)", f"{fmt_int(f['errors'])} ({fmt_ms(f['error_window_s'])})"
                    + (f" {f['error_kinds']}" if f["error_kinds"] else "")],
                   ["operations done by the load", fmt_int(f["ops"])],
                   ["old master restarted, a replica again after", fmt_ms(f["rejoin_s"])]],
                  note=f"cluster-node-timeout {NODE_TIMEOUT_MS} ms: the master is flagged failing after it, then "
                       "its replica wins an election among the masters. Keys in the dead master's slots fail "
                       "until then: the window is the node timeout plus the election, not zero. The load threads "
                       "are synchronous, so each stalls on its next key in those slots (connection refused, "
                       "retries, slot map refresh): the whole load slows, not only a third of it (the chart).")
        run.check("every multi-key command of the site's features stays in one slot",
                  all(row[5] == "yes" for row in rows) and not any(fe["error"] for fe in features),
                  f"{sum(len(fe['multi_key']) for fe in features)} multi-key commands")
        run.check("CROSSSLOT is refused for untagged keys and the tagged version works",
                  "CROSSSLOT" in crossslot[0][2] and crossslot[2][2].startswith("OK"), crossslot[0][2][:80])
        run.check("the reshard finishes with 0 errors the client did not handle",
                  r["errors"] == 0 and r["incr_mismatch"] == 0 and r["source_slots"][1] == r["source_slots"][0] - slots,
                  f"{fmt_int(r['MOVED'])} MOVED + {fmt_int(r['ASK'])} ASK handled, {r['errors']} errors")
        run.check("a killed master's replica is promoted and the cluster is ok again", f["cluster_ok_s"] > 0,
                  f"promoted after {fmt_ms(f['promoted_s'])}")
        run.data.update({"create_s": create_s, "features": features, "reshard": reshard,
                         "failover": {k: v for k, v in f.items() if k not in ("errors_at", "ok_at")}})
        run.note(f"redis-cli --cluster create put 3 masters and 3 replicas on 6 loopback ports in "
                 f"{create_s:.1f} s (it warns that replicas share a host with their masters: on one machine "
                 "they must).")

        def per_100ms(times: list[float]) -> list[tuple[float, float]]:
            counts = Counter(int((t + 1) * 10) for t in times)
            return [(round(i / 10 - 1, 1), counts.get(i, 0)) for i in range(int((f["promoted_s"] + 3) * 10))]

        run.chart(charts.line_chart(
            "Cluster failover: operations per 100 ms around the kill",
            [("ok", per_100ms(f["ok_at"])), ("errors", per_100ms(f["errors_at"]))],
            x_label="seconds from SIGKILL of a master", y_label="operations per 100 ms",
            markers=[(0.0, "master killed"), (round(f["promoted_s"], 2), "replica promoted")],
            note=f"reshard of {slots} slots under load: {fmt_int(r['MOVED'])} MOVED, {fmt_int(r['ASK'])} ASK "
                 f"handled, {r['errors']} errors"))
