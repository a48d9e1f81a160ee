"""``python manage.py lab_sentinel``: SIGKILL a Sentinel-managed master under writes.

Course section 5.1.  Each round builds a fresh topology of private processes:
1 master, 2 replicas, 3 Sentinels (quorum 2, ``down-after-milliseconds``
``--down-after``), and writes numbered keys through **the project's own
Sentinel client**: ``config.redis.build_client`` with a ``RedisConfig`` in
Sentinel mode, the client every part of the site uses when
``REDIS_SENTINELS`` is set (master discovery, retries with backoff,
timeouts).  The writer paces itself at ``--rate`` writes per second and
records which numbers were acknowledged, and when each write failed.

After ``--before`` seconds the master is SIGKILLed.  Measured:

- failover time: kill -> the Sentinels name a new master;
- the client's error window: first to last failed write, and how many writes
  the application saw fail (after the client's own retries);
- acknowledged writes lost: numbers acknowledged but missing on the new master;
- with ``WAIT 1`` (a round of its own): a write counts as acknowledged only
  when ``WAIT 1 <ms>`` says a replica has it;
- the old master restarted: Sentinel turns it into a replica of the new
  master and it resyncs.

A second fault (``--faults freeze``; on by default, off with ``--quick``):
the master is frozen with SIGSTOP (a stalled VM, a long pause, a partition)
until the Sentinels have promoted a replica, then resumed.  It wakes up
believing it is still the master, with the client's connection open, and
takes acknowledged writes until Sentinel demotes it: the zombie master that
``WAIT`` (and ``min-replicas-to-write``) exist for.

The Sentinel timings are the lab's (1 s down-after, 5 s failover timeout),
not the defaults (30 s down-after, 3 min failover timeout).
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

import redis
from django.core.management.base import BaseCommand, CommandError

from config.redis import RedisConfig, build_client
from ops import charts
from ops.labs import LabRun, fmt_int, fmt_ms, raw_call, wait_until
from redis_patterns.servers import RedisServer, SentinelServer

MASTER = "mymaster"


def _info(server: RedisServer, section: str) -> dict[str, str]:
    text = raw_call(server.host, server.port, "INFO", section).decode(errors="replace")
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))


class Topology:
    """1 master, 2 replicas, 3 Sentinels, all tracked by the run."""

    def __init__(self, run: LabRun, down_after_ms: int) -> None:
        self.master = run.server(name="master")
        self.replicas = [run.server(name=f"replica{i}", config={"replicaof": f"{self.master.host} {self.master.port}"})
                         for i in (1, 2)]
        for rep in self.replicas:
            wait_until(lambda rep=rep: _info(rep, "replication").get("master_link_status") == "up", timeout=20,
                       what="replica sync")
        self.sentinels = []
        for _ in range(3):
            s = run.adopt(SentinelServer(self.master, master_name=MASTER, quorum=2, down_after_ms=down_after_ms))
            s.start()
            self.sentinels.append(s)

        def ready() -> bool:
            for s in self.sentinels:
                with redis.Redis(host=s.host, port=s.port, decode_responses=True) as c:
                    # Raw SENTINEL commands: redis-py 7.0.1's sentinel_* helpers fail on a plain client.
                    flat = c.execute_command("SENTINEL", "MASTER", MASTER)
                    m = dict(zip(flat[::2], flat[1::2], strict=True))
                    if int(m["num-slaves"]) < 2 or int(m["num-other-sentinels"]) < 2:
                        return False
            return True

        wait_until(ready, timeout=30, interval=0.2, what="Sentinels to find the replicas and each other")

    def master_ports(self) -> list[int | None]:
        """The master port each Sentinel names now."""
        ports: list[int | None] = []
        for s in self.sentinels:
            try:
                with redis.Redis(host=s.host, port=s.port, socket_timeout=0.5) as c:
                    addr = c.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)
                ports.append(int(addr[1]) if addr else None)
            except redis.RedisError:
                ports.append(None)
        return ports


class Command(BaseCommand):
    help = "Lab: Sentinel failover under writes: failover time, error window, writes lost with/without WAIT 1."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--quick", action="store_true", help="one round per mode")
        parser.add_argument("--rounds", type=int, default=None, help="rounds per mode (default 3; --quick 1)")
        parser.add_argument("--rate", type=int, default=2000, help="writes per second the client attempts")
        parser.add_argument("--before", type=float, default=2.0, help="seconds of writes before the kill")
        parser.add_argument("--after", type=float, default=1.5, help="seconds of writes after the client recovers")
        parser.add_argument("--down-after", type=int, default=1000, help="Sentinel down-after-milliseconds")
        parser.add_argument("--wait-ms", type=int, default=100, help="WAIT timeout in the WAIT 1 mode")
        parser.add_argument("--faults", default=None,
                            help="kill (SIGKILL) and/or freeze (SIGSTOP until the failover, then SIGCONT); "
                                 "default kill,freeze (--quick: kill)")

    def handle(self, *args: Any, **opt: Any) -> None:
        rounds = opt["rounds"] or (1 if opt["quick"] else 3)
        faults = [f.strip() for f in (opt["faults"] or ("kill" if opt["quick"] else "kill,freeze")).split(",")]
        if not faults or set(faults) - {"kill", "freeze"}:
            raise CommandError("--faults: kill, freeze or kill,freeze")
        modes = ["no WAIT", "WAIT 1"]
        # The freeze case is there to show one thing (the zombie master): one round per mode is enough.
        plan = [(f, r) for f in faults for r in range(rounds if f == "kill" else 1)]
        with LabRun("sentinel", quick=opt["quick"], stdout=self.stdout) as run:
            results: list[dict[str, Any]] = []
            with run.progress(len(plan) * len(modes) * 5, "failovers") as bar:
                for fault, r in plan:
                    for mode in (modes if r % 2 == 0 else modes[::-1]):  # alternate the order
                        results.append(self._round(run, fault, mode, opt, bar, r + 1))
            self._report(run, results, opt)

    def _round(self, run: LabRun, fault: str, mode: str, opt: dict[str, Any], bar: Any,
               number: int) -> dict[str, Any]:
        label = f"{fault} round {number} {mode}"
        bar.set_postfix_str(f"{label}: starting 6 processes")
        topo = Topology(run, opt["down_after"])
        old = topo.master
        bar.update(1)
        cfg = RedisConfig(sentinels=[(s.host, s.port) for s in topo.sentinels], sentinel_master=MASTER,
                          client_name="lab-sentinel")
        client = build_client(config=cfg)
        use_wait = mode == "WAIT 1"

        acked: list[int] = []
        unreplicated: list[int] = []   # WAIT said 0 replicas: not counted as acknowledged
        failures: list[tuple[float, int]] = []
        successes: list[float] = []
        stop = threading.Event()
        t0 = time.monotonic()

        def writer() -> None:
            n = 0
            while not stop.is_set():
                due = t0 + n / opt["rate"]
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                try:
                    if use_wait:
                        pipe = client.pipeline(transaction=False)
                        pipe.set(f"s:{n}", n)
                        pipe.execute_command("WAIT", 1, opt["wait_ms"])
                        _, replicas = pipe.execute()
                        (acked if replicas >= 1 else unreplicated).append(n)
                    else:
                        client.set(f"s:{n}", n)
                        acked.append(n)
                    successes.append(time.monotonic())
                except redis.RedisError:
                    failures.append((time.monotonic(), n))
                n += 1

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        bar.set_postfix_str(f"{label}: writing")
        time.sleep(opt["before"])
        repl = _info(old, "replication")
        lag = int(repl.get("master_repl_offset", 0)) - min(
            (int(v.split("offset=")[1].split(",")[0]) for k, v in repl.items() if k.startswith("slave")), default=0)
        bar.update(1)

        bar.set_postfix_str(f"{label}: master {'killed' if fault == 'kill' else 'frozen'}")
        if fault == "kill":
            old.kill()
        else:
            old.pause()  # SIGSTOP: a stalled VM, a long fork, a partition; its connections stay open
        t_kill = time.monotonic()
        t_failover = t_all = None
        deadline = t_kill + 60
        while time.monotonic() < deadline:
            ports = topo.master_ports()
            moved = [p is not None and p != old.port for p in ports]
            if any(moved) and t_failover is None:
                t_failover = time.monotonic()
            if all(moved):
                t_all = time.monotonic()
                break
            time.sleep(0.02)
        new_port = next(p for p in topo.master_ports() if p and p != old.port)
        rejoin_s = None
        if fault == "freeze":
            # The old master wakes up still believing it is the master, with the client's connection
            # open; it serves it until Sentinel demotes it.
            old.resume()
            t_resume = time.monotonic()
            bar.set_postfix_str(f"{label}: resumed, waiting for Sentinel to demote it")
            wait_until(lambda: (_info(old, "replication").get("role") == "slave"
                                and _info(old, "replication").get("master_link_status") == "up"),
                       timeout=60, interval=0.05, what="the old master to be demoted")
            rejoin_s = time.monotonic() - t_resume
        # the client is back when a write after the failover succeeds
        wait_until(lambda: successes and successes[-1] > (t_failover or t_kill), timeout=30,
                   what="the client's first write after the failover")
        # "writes again": the first success after the first failure (a reply already on its way when
        # the kill landed is not a recovery); with no failure at all, the first success after the fault.
        first_failure = next((t for t, _ in failures if t >= t_kill), t_kill)
        t_back = next((t for t in successes if t > first_failure), successes[-1])
        bar.update(1)
        time.sleep(opt["after"])
        stop.set()
        thread.join(10)

        bar.set_postfix_str(f"{label}: counting")
        new = next(s for s in topo.replicas if s.port == new_port)
        with redis.Redis(host=new.host, port=new.port) as c:
            lost = []
            for start in range(0, len(acked), 5000):
                chunk = acked[start:start + 5000]
                pipe = c.pipeline(transaction=False)
                for n in chunk:
                    pipe.exists(f"s:{n}")
                lost += [n for n, e in zip(chunk, pipe.execute(), strict=True) if not e]
        bar.update(1)

        if fault == "kill":
            bar.set_postfix_str(f"{label}: old master rejoining")
            t_restart = time.monotonic()
            old.start()  # comes back as a master with an empty dataset (no persistence)...
            wait_until(lambda: (_info(old, "replication").get("role") == "slave"
                                and _info(old, "replication").get("master_link_status") == "up"),
                       timeout=60, interval=0.05, what="the old master to rejoin as a replica")
            rejoin_s = time.monotonic() - t_restart
        rejoined_master = int(_info(old, "replication").get("master_port", 0))
        # On a loaded machine the Sentinels can fail over a second time while the old master restarts
        # (down-after is 1 s here); what counts is that it follows the master the Sentinels name now.
        named = [p for p in topo.master_ports() if p]
        current_master = max(set(named), key=named.count) if named else new_port
        bar.update(1)
        client.close()
        for proc in (*topo.sentinels, *topo.replicas, old):
            proc.kill()

        errors_after_kill = [t for t, _ in failures if t >= t_kill]
        return {
            "fault": fault, "mode": mode, "round": number,
            "acked": len(acked), "lost": len(lost), "unreplicated": len(unreplicated),
            "failed": len(failures),
            "lag_bytes": lag,
            "failover_s": (t_failover - t_kill) if t_failover else None,
            "all_sentinels_s": (t_all - t_kill) if t_all else None,
            "client_back_s": t_back - t_kill,
            "error_window_s": (errors_after_kill[-1] - errors_after_kill[0]) if errors_after_kill else 0.0,
            "first_error_s": (errors_after_kill[0] - t_kill) if errors_after_kill else None,
            "rejoin_s": rejoin_s, "rejoined_new_master": rejoined_master == current_master,
            "second_failover": current_master != new_port,
            "timeline": self._timeline(t_kill, successes, [t for t, _ in failures]),
        }

    @staticmethod
    def _timeline(t_kill: float, successes: list[float], failures: list[float]) -> dict[str, list]:
        """Writes per 100 ms, ok and failed, from 1 s before the kill to 4 s after."""
        buckets = [round(-1 + i * 0.1, 1) for i in range(51)]

        def count(times: list[float]) -> list[int]:
            out = [0] * len(buckets)
            for t in times:
                i = int((t - t_kill + 1) / 0.1)
                if 0 <= i < len(buckets):
                    out[i] += 1
            return out

        return {"t": buckets, "ok": count(successes), "failed": count(failures)}

    def _report(self, run: LabRun, results: list[dict], opt: dict[str, Any]) -> None:
        rows = []
        for r in sorted(results, key=lambda r: (r["fault"] != "kill", r["mode"], r["round"])):
            rows.append([r["fault"], r["mode"], r["round"], fmt_ms(r["failover_s"]), fmt_ms(r["all_sentinels_s"]),
                         fmt_ms(r["client_back_s"]), fmt_ms(r["error_window_s"]), fmt_int(r["failed"]),
                         fmt_int(r["acked"]), fmt_int(r["lost"]),
                         fmt_int(r["unreplicated"]) if r["mode"] == "WAIT 1" else "-",
                         fmt_ms(r["rejoin_s"]) + ("" if r["rejoined_new_master"] else " (not the named master)")
                         + (" (after a second failover)" if r["second_failover"] else "")])
        run.table(f"The master SIGKILLed (kill) or frozen with SIGSTOP until the failover, then resumed (freeze), "
                  f"under {fmt_int(opt['rate'])} writes/s from the project's Sentinel client (quorum 2 of 3, "
                  f"down-after {opt['down_after']} ms)",
                  ["fault", "mode", "round", "failover", "all 3 Sentinels agree", "client writes again",
                   "error window", "writes failed", "acknowledged", "acknowledged lost", "WAIT said 0 replicas",
                   "old master a replica again"],
                  rows,
                  note="Times from the fault. failover: the first Sentinel names the new master. error window: "
                       "first to last write the application saw fail. old master a replica again: from its "
                       "restart (kill) or its resume (freeze) to role:slave with the replication link up. "
                       "Freeze: the client sees no error while the frozen master sleeps and then acknowledges "
                       "its writes again; its one failure is the READONLY when Sentinel demotes it, and it "
                       "'writes again' (on the new master) right after.")
        failovers = [r["failover_s"] for r in results if r["failover_s"] is not None]
        kills = [r for r in results if r["fault"] == "kill"]
        freezes = [r for r in results if r["fault"] == "freeze"]

        def lost(rounds: list[dict], mode: str) -> int:
            return sum(r["lost"] for r in rounds if r["mode"] == mode)

        run.check("Sentinel promotes a replica and reports the failover time", len(failovers) == len(results),
                  f"median {statistics.median(failovers) * 1000:,.0f} ms over {len(failovers)} failovers"
                  if failovers else "no failover seen")
        run.check("with WAIT 1, no write acknowledged by a replica is lost",
                  lost(results, "WAIT 1") == 0,
                  f"lost {lost(results, 'WAIT 1')} of "
                  f"{fmt_int(sum(r['acked'] for r in results if r['mode'] == 'WAIT 1'))}")
        run.check("the old master rejoins as a replica of the master the Sentinels name",
                  all(r["rejoined_new_master"] for r in results),
                  f"median {statistics.median(r['rejoin_s'] for r in results) * 1000:,.0f} ms")
        run.data.update({
            "failover_s_median": statistics.median(failovers) if failovers else None,
            "lost_without_wait": lost(kills, "no WAIT"),
            "lost_with_wait": lost(kills, "WAIT 1"),
            "freeze_lost_without_wait": lost(freezes, "no WAIT") if freezes else None,
            "freeze_lost_with_wait": lost(freezes, "WAIT 1") if freezes else None,
            "rounds": [{k: v for k, v in r.items() if k != "timeline"} for r in results],
        })
        run.note(f"SIGKILL: {lost(kills, 'no WAIT')} acknowledged writes lost without WAIT over "
                 f"{sum(1 for r in kills if r['mode'] == 'no WAIT')} kill(s). Replication is asynchronous, so "
                 "a write acknowledged by the master and killed with it before the replication stream left "
                 "can be lost; on loopback that window is a fraction of a millisecond (the data has the "
                 "replication lag at the kill, in bytes), so the count is small or zero here and grows with "
                 "network latency and replica lag. WAIT 1 closes the window for the writes it confirms: a "
                 "replica has them, and Sentinel promotes the most up-to-date replica.")
        if freezes:
            run.note(f"Freeze: {lost(freezes, 'no WAIT')} acknowledged writes lost without WAIT, "
                     f"{lost(freezes, 'WAIT 1')} with it. The frozen master wakes up after the failover still "
                     "believing it is the master, and the client's open connection keeps writing to it, "
                     "acknowledged, until Sentinel demotes it; its resync with the new master then throws "
                     "those writes away. With WAIT 1 the same writes come back with 0 replicas (its replicas "
                     "follow the new master now), so the application knows they are not safe. The "
                     "server-side guard is min-replicas-to-write 1 (with min-replicas-max-lag), which makes "
                     "such a master refuse writes instead.")
        else:
            run.note("Run without --quick (or with --faults kill,freeze) for the frozen-master case, where "
                     "writes acknowledged without WAIT are lost by the thousand.")
        run.note("The error window is down-after-milliseconds (failure detection) + the election + the "
                 "promotion + the client's re-discovery. With Sentinel's defaults (down-after 30 s) it is "
                 "about 30 s, the course's 'RTO ~30s typical'. A killed master restarts empty (no persistence "
                 "in this lab): it must never be made master again before it has resynced, which is why "
                 "Sentinel demotes it first. Sentinel waits until the instance has reported itself master "
                 "for 8 s (4 x its 2 s hello period) before it sends REPLICAOF, so that a flapping instance "
                 "is not reconfigured: most of the rejoin time is that wait.")
        first = next((r for r in kills if r["mode"] == "no WAIT"), results[0])
        tl = first["timeline"]
        run.chart(charts.line_chart(
            f"Writes per 100 ms around the {first['fault']} (round {first['round']}, {first['mode']})",
            [("acknowledged", list(zip(tl["t"], tl["ok"], strict=True))),
             ("failed", list(zip(tl["t"], tl["failed"], strict=True)))],
            x_label="seconds from the fault", y_label="writes per 100 ms",
            markers=[(0.0, f"master {'SIGKILLed' if first['fault'] == 'kill' else 'frozen'}")]
            + ([(round(first["failover_s"], 2), "new master named")] if first["failover_s"] else [])
            + [(round(first["client_back_s"], 2), "client writes again")],
            note=f"{opt['rate']} writes/s attempted; Sentinel down-after {opt['down_after']} ms"))
