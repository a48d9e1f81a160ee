"""``python manage.py lab_persistence``: crash a server under load per persistence config, count what was lost.

Course lab 3 (sections 4 and 14.3).  For each configuration (none, RDB only,
AOF ``everysec``, AOF ``always``, RDB + AOF) a fresh private server:

1. gets a base dataset (``--base`` keys), so that restart time means something;
2. takes numbered writes (``SET w:<n> <n>``) from ``--writers`` threads, each
   sending one write at a time and recording the numbers the server
   acknowledged (redis-py with retries off: each number is sent once);
3. is SIGKILLed while the writers run (a crash: nothing flushed, nothing saved);
4. is restarted on the same directory; the time until it has loaded its data
   is the restart time;
5. is asked which acknowledged numbers it still has.

Then two operations every deployment needs:

- a truncated AOF (the torn tail a crash mid-write leaves): with the default
  ``aof-load-truncated yes`` the server trims it itself and says so in the log;
  with ``no`` it refuses to start, ``redis-check-aof --fix`` repairs it
  (``valkey-check-aof`` for Valkey; the tool next to the server binary is used);
- a backup: ``BGSAVE``, copy ``dump.rdb`` away, start a new server from the
  copy, and compare every key (type, value, TTL) with the source.

What a SIGKILL is not: a power cut.  The kernel keeps what the process had
``write()``-n to the AOF even though it was not yet ``fsync``-ed, so AOF
``everysec`` loses no acknowledged write here; after a power cut it can lose
about the last second.  RDB loses everything since its last snapshot either way.
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import redis
from django.core.management.base import BaseCommand
from redis.backoff import NoBackoff
from redis.retry import Retry

from ops import charts
from ops.labs import LabRun, fmt_int, raw_call, tool_binary, wait_until
from redis_patterns.servers import RedisServer, RedisServerError

CONFIGS: list[tuple[str, dict[str, str]]] = [
    ("none", {"save": "", "appendonly": "no"}),
    ("RDB only (save 2 100)", {"save": "2 100", "appendonly": "no"}),
    ("AOF everysec", {"save": "", "appendonly": "yes", "appendfsync": "everysec"}),
    ("AOF always", {"save": "", "appendonly": "yes", "appendfsync": "always"}),
    ("RDB + AOF everysec", {"save": "2 100", "appendonly": "yes", "appendfsync": "everysec"}),
]


def _client(server: RedisServer, **kwargs: Any) -> redis.Redis:
    # Retries off: a write is sent once, and either acknowledged or not.
    return redis.Redis(host=server.host, port=server.port, socket_timeout=5, socket_connect_timeout=2,
                       retry=Retry(NoBackoff(), 0), decode_responses=True, **kwargs)


def bgsave(c: redis.Redis, timeout: float = 120) -> float:
    """``BGSAVE`` and wait for it to finish; its duration in seconds."""
    def saves() -> int:
        info = c.info("persistence")
        # rdb_saves (Redis 7+, Valkey) counts snapshots; LASTSAVE has 1 s resolution.
        return -1 if info["rdb_bgsave_in_progress"] else int(info.get("rdb_saves", 0))

    before = wait_until(lambda: saves() + 1, timeout=timeout, what="a running BGSAVE") - 1
    t0 = time.monotonic()
    c.bgsave()
    wait_until(lambda: saves() > before or (before == 0 and saves() == 0 and
                                            c.info("persistence")["rdb_changes_since_last_save"] == 0),
               timeout=timeout, interval=0.01, what="BGSAVE")
    return time.monotonic() - t0


def _loaded(server: RedisServer) -> bool:
    """PONG, not -LOADING (INFO can say loading:0 in the moment before loading starts)."""
    return raw_call(server.host, server.port, "PING").startswith(b"+PONG")


class Command(BaseCommand):
    help = "Lab: SIGKILL a server under writes for each persistence config; count acknowledged writes lost."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--quick", action="store_true", help="a smaller base, 3 s of writes per config")
        parser.add_argument("--base", type=int, default=None, help="base dataset keys (default 300,000)")
        parser.add_argument("--duration", type=float, default=None, help="seconds of writes before the kill (6)")
        parser.add_argument("--writers", type=int, default=4, help="writer threads (default 4)")
        parser.add_argument("--backup-keys", type=int, default=None, help="keys in the backup check (50,000)")

    def handle(self, *args: Any, **opt: Any) -> None:
        quick = opt["quick"]
        base = opt["base"] if opt["base"] is not None else (50_000 if quick else 300_000)
        duration = opt["duration"] or (3.0 if quick else 6.0)
        backup_keys = opt["backup_keys"] or (10_000 if quick else 50_000)
        check_aof = tool_binary("check-aof")
        steps = len(CONFIGS) * 4 + 2 + 4
        with LabRun("persistence", quick=quick, stdout=self.stdout) as run:
            with run.progress(steps, "crashing servers") as bar:
                crashes = []
                for name, config in CONFIGS:
                    crashes.append(self._crash(run, name, config, base, duration, opt["writers"], bar))
                bar.set_postfix_str("truncated AOF")
                torn = self._truncated_aof(run, check_aof)
                bar.update(2)
                bar.set_postfix_str("backup and restore")
                backup = self._backup(run, backup_keys, bar)
            self._report(run, crashes, torn, backup, base, duration, opt["writers"], check_aof)

    # -- the crash ---------------------------------------------------------------------------

    def _crash(self, run: LabRun, name: str, config: dict[str, str], base: int, duration: float, writers: int,
               bar: Any) -> dict[str, Any]:
        bar.set_postfix_str(f"{name}: loading {fmt_int(base)} keys")
        server = run.server(name="persist", config=config)
        c = _client(server)
        for start in range(0, base, 1000):
            c.execute_command("MSET", *[x for i in range(start, min(base, start + 1000))
                                        for x in (f"base:{i}", f"{i:08d}-payload")])
        if config.get("save"):  # let the first snapshot hold the base, as it would in a server up for a while
            bgsave(c)
        bar.update(1)

        bar.set_postfix_str(f"{name}: writing")
        counter, stop = itertools.count(), threading.Event()
        acked: list[list[int]] = [[] for _ in range(writers)]
        failed: list[list[int]] = [[] for _ in range(writers)]

        def writer(k: int) -> None:
            w = _client(server)
            while not stop.is_set():
                n = next(counter)
                try:
                    w.set(f"w:{n}", n)
                except redis.RedisError:
                    failed[k].append(n)  # sent, not acknowledged: the kill came first
                    break
                acked[k].append(n)
            w.close()

        threads = [threading.Thread(target=writer, args=(k,), daemon=True) for k in range(writers)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(duration)
        server.kill()  # SIGKILL, with the writers still writing
        elapsed = time.monotonic() - t0
        stop.set()
        for t in threads:
            t.join(10)
        bar.update(1)

        bar.set_postfix_str(f"{name}: restarting")
        t_restart = time.monotonic()
        server.start(timeout=120)
        wait_until(lambda: _loaded(server), timeout=120, interval=0.005, what="the restarted server to load")
        restart_s = time.monotonic() - t_restart
        bar.update(1)

        bar.set_postfix_str(f"{name}: counting")
        c = _client(server)
        ok = sorted(n for lst in acked for n in lst)
        lost = [n for n, present in zip(ok, self._exists(c, ok), strict=True) if not present]
        inflight = sorted(n for lst in failed for n in lst)
        survived_inflight = sum(self._exists(c, inflight))
        base_after = int(c.dbsize()) - (len(ok) - len(lost)) - survived_inflight
        c.close()
        server.cleanup()
        bar.update(1)
        return {"name": name, "acked": len(ok), "lost": len(lost), "first_lost": lost[0] if lost else None,
                "inflight": len(inflight), "inflight_survived": survived_inflight, "rate": len(ok) / elapsed,
                "restart_s": restart_s, "base_after": base_after}

    @staticmethod
    def _exists(c: redis.Redis, numbers: list[int]) -> list[bool]:
        out: list[bool] = []
        for start in range(0, len(numbers), 5000):
            pipe = c.pipeline(transaction=False)
            for n in numbers[start:start + 5000]:
                pipe.exists(f"w:{n}")
            out += [bool(x) for x in pipe.execute()]
        return out

    # -- truncated AOF ----------------------------------------------------------------------

    def _truncated_aof(self, run: LabRun, check_aof: str) -> dict[str, Any]:
        """Write 1,000 keys under AOF always, SIGKILL, tear the AOF's last command, and recover."""
        config = {"appendonly": "yes", "appendfsync": "always", "save": ""}
        server = run.server(name="aof-torn", config=config)
        c = _client(server)
        for n in range(1000):
            c.set(f"w:{n}", n)
        c.close()
        server.kill()
        aof = self._incr_aof(server.dir)
        size = aof.stat().st_size
        with aof.open("r+b") as f:
            f.truncate(size - 5)  # the last SET loses its tail: a torn write
        pristine = server.dir.parent / "aof-torn-copy"
        shutil.copytree(server.dir, pristine)

        # Default (aof-load-truncated yes): the server trims the tail itself.
        server.start()
        wait_until(lambda: _loaded(server), timeout=30, what="load")
        c = _client(server)
        default_keys = c.dbsize()
        c.close()
        server.stop()
        trimmed_log = "loaded anyway because aof-load-truncated" in server.logfile.read_text()

        # Strict (aof-load-truncated no): refused, then repaired with redis-check-aof.
        strict = RedisServer(name="aof-strict", directory=pristine,
                             config={**config, "aof-load-truncated": "no"})
        run.adopt(strict)
        strict.logfile.write_text("")
        refused, reason = False, ""
        try:
            strict.start()  # returns at the first -LOADING: the refusal may come a moment later
            wait_until(lambda: not strict.running or _loaded(strict), timeout=60, what="load or refusal")
            refused = not strict.running
            if not refused:
                strict.stop()  # it loaded the torn file: the check below reports that
        except RedisServerError:
            refused = True
        if refused:
            reason = next((line.split("#", 1)[-1].strip().split(". You can")[0]
                           for line in strict.logfile.read_text().splitlines()
                           if "Bad file format" in line or "Unexpected end of file" in line), "exited")
        target = self._manifest(pristine) or self._incr_aof(pristine)
        fix = run.run_tool([check_aof, "--fix", str(target)], input="y\n", timeout=60)
        fixed_on = target.name
        if fix.returncode != 0 and target != self._incr_aof(pristine):
            # Valkey 9.1's check-aof reads a manifest's RDB base (magic "VALKEY...") as RESP and gives
            # up; the torn tail is always in the last INCR file, so repair that file directly.
            target = self._incr_aof(pristine)
            fix = run.run_tool([check_aof, "--fix", str(target)], input="y\n", timeout=60)
            fixed_on = f"{target.name} (the manifest was refused)"
        lines = [line.strip() for line in (fix.stdout + fix.stderr).splitlines() if line.strip()]
        fix_line = next((line[line.index("Successfully"):] for line in lines if "Successfully truncated" in line),
                        lines[-1] if lines else "")
        strict.start()
        wait_until(lambda: _loaded(strict), timeout=30, what="load after the fix")
        c = _client(strict)
        fixed_keys = c.dbsize()
        last_present = c.exists("w:998") == 1 and c.exists("w:999") == 0
        c.close()
        strict.stop()
        return {"written": 1000, "cut_bytes": 5, "default_keys": default_keys, "trimmed_log": trimmed_log,
                "refused": refused, "reason": reason, "fix_rc": fix.returncode,
                "fix_line": fix_line, "fixed_on": fixed_on,
                "fixed_keys": fixed_keys, "last_present": last_present}

    @staticmethod
    def _incr_aof(directory: Path) -> Path:
        """The file the writes went to: the INCR part of a Redis 7 multi-part AOF, or the single AOF."""
        incr = sorted((directory / "appendonlydir").glob("*.incr.aof")) if (directory / "appendonlydir").is_dir() else []
        if incr:
            return incr[-1]
        return directory / "appendonly.aof"

    @staticmethod
    def _manifest(directory: Path) -> Path | None:
        found = sorted((directory / "appendonlydir").glob("*.manifest")) if (directory / "appendonlydir").is_dir() else []
        return found[0] if found else None

    # -- backup -------------------------------------------------------------------------------

    def _backup(self, run: LabRun, n: int, bar: Any) -> dict[str, Any]:
        source = run.server(name="backup-source")
        c = _client(source)
        kinds = ("string", "hash", "set", "zset", "list")
        pipe = c.pipeline(transaction=False)
        for i in range(n):
            kind = kinds[i % len(kinds)]
            key = f"{kind}:{i}"
            if kind == "string":
                pipe.set(key, f"v{i}", ex=3600 if i % 10 == 0 else None)
            elif kind == "hash":
                pipe.hset(key, mapping={"name": f"item {i}", "qty": i % 7, "price": f"{i % 100}.99"})
            elif kind == "set":
                pipe.sadd(key, *[f"m{j}" for j in range(i % 5 + 1)])
            elif kind == "zset":
                pipe.zadd(key, {f"p{j}": (i * j) % 1000 for j in range(i % 5 + 1)})
            else:
                pipe.rpush(key, *[f"e{j}" for j in range(i % 4 + 1)])
            if i % 2000 == 1999:
                pipe.execute()
        pipe.execute()
        bar.update(1)

        bgsave_s = bgsave(c)
        ok = c.info("persistence")["rdb_last_bgsave_status"] == "ok"
        backup_dir = run.tmp / "backup"
        backup_dir.mkdir()
        copy = backup_dir / "dump.rdb"
        shutil.copy2(source.dir / "dump.rdb", copy)
        digest = hashlib.sha256(copy.read_bytes()).hexdigest()[:12]
        size = copy.stat().st_size
        bar.update(1)

        restore_dir = run.tmp / "restore"
        restore_dir.mkdir()
        shutil.copy2(copy, restore_dir / "dump.rdb")
        t0 = time.monotonic()
        restored = run.server(name="restored", directory=restore_dir)
        wait_until(lambda: _loaded(restored), timeout=120, what="restore load")
        restore_s = time.monotonic() - t0
        r = _client(restored)
        compared = same = 0
        mismatched: list[str] = []
        for batch in self._scan_batches(c):
            for key, a, b in zip(batch, self._values(c, batch), self._values(r, batch), strict=True):
                compared += 1
                if a == b:
                    same += 1
                elif len(mismatched) < 5:
                    mismatched.append(key)
        extra = int(r.dbsize()) - compared
        c.close()
        r.close()
        bar.update(2)
        return {"keys": n, "bgsave_ok": ok, "bgsave_s": bgsave_s, "size": size, "sha": digest,
                "restore_s": restore_s, "compared": compared, "same": same, "mismatched": mismatched,
                "extra": extra}

    @staticmethod
    def _scan_batches(c: redis.Redis) -> Any:
        batch: list[str] = []
        for key in c.scan_iter(count=1000):
            batch.append(key)
            if len(batch) == 1000:
                yield batch
                batch = []
        if batch:
            yield batch

    @staticmethod
    def _values(c: redis.Redis, keys: list[str]) -> list[tuple]:
        """(type, value, has TTL) per key, in two pipelined round trips."""
        pipe = c.pipeline(transaction=False)
        for k in keys:
            pipe.type(k)
            pipe.pttl(k)
        meta = pipe.execute()
        types = meta[0::2]
        pipe = c.pipeline(transaction=False)
        for k, t in zip(keys, types, strict=True):
            {"string": lambda k=k: pipe.get(k), "hash": lambda k=k: pipe.hgetall(k),
             "set": lambda k=k: pipe.smembers(k), "zset": lambda k=k: pipe.zrange(k, 0, -1, withscores=True),
             "list": lambda k=k: pipe.lrange(k, 0, -1)}.get(t, lambda k=k: pipe.exists(k))()
        values = pipe.execute()
        return [(t, v, ttl > 0) for t, v, ttl in zip(types, values, meta[1::2], strict=True)]

    # -- report ---------------------------------------------------------------------------------

    def _report(self, run: LabRun, crashes: list[dict], torn: dict, backup: dict, base: int, duration: float,
                writers: int, check_aof: str) -> None:
        rows = [[x["name"], fmt_int(x["acked"]), fmt_int(x["lost"]),
                 f"{100 * x['lost'] / x['acked']:.1f}%" if x["acked"] else "-",
                 f"{x['inflight_survived']} of {x['inflight']}", f"{fmt_int(x['rate'])}/s",
                 f"{x['restart_s'] * 1000:,.0f} ms", f"{fmt_int(x['base_after'])} of {fmt_int(base)}"]
                for x in crashes]
        run.table(f"SIGKILL under load: {writers} writers, one write at a time each, {duration:.0f} s, "
                  f"then kill -9 and restart ({fmt_int(base)} base keys)",
                  ["config", "writes acknowledged", "acknowledged lost", "lost %", "in-flight kept",
                   "writes/s", "restart", "base keys back"], rows,
                  note="in-flight: writes sent when the kill came, never acknowledged; the server may or may "
                       "not have applied them. restart: process start until INFO says loading:0.")
        tool = Path(check_aof).name
        run.table("A torn AOF tail (last 5 bytes of 1,000 SETs under AOF always cut off)",
                  ["step", "result"],
                  [["start with aof-load-truncated yes (default)",
                    f"started, {torn['default_keys']} keys"
                    + (", log: '... loaded anyway because aof-load-truncated is enabled'" if torn["trimmed_log"] else "")],
                   ["start with aof-load-truncated no", "refused: " + torn["reason"] if torn["refused"] else "started (!)"],
                   [f"{tool} --fix {torn['fixed_on']}", f"exit {torn['fix_rc']}: {torn['fix_line']}"],
                   ["start after the fix", f"started, {torn['fixed_keys']} of {torn['written']} keys"
                    + (" (w:999, the torn one, gone)" if torn["last_present"] else "")]])
        run.table(f"Backup: BGSAVE, copy dump.rdb, restore on a new server, compare every key "
                  f"({fmt_int(backup['keys'])} keys: strings, hashes, sets, sorted sets, lists; 10% of the "
                  "strings with a TTL)",
                  ["step", "result"],
                  [["BGSAVE", f"{'ok' if backup['bgsave_ok'] else 'FAILED'} in {backup['bgsave_s'] * 1000:,.0f} ms, "
                              f"{backup['size'] / 2**20:.1f} MB (sha256 {backup['sha']}...)"],
                   ["restore (start on the copy, until loaded)", f"{backup['restore_s'] * 1000:,.0f} ms"],
                   ["keys compared (type, value, TTL set)", f"{fmt_int(backup['same'])} identical of "
                                                            f"{fmt_int(backup['compared'])}"],
                   ["keys in the restore only", fmt_int(backup["extra"])]])

        by = {x["name"]: x for x in crashes}
        always, rdb = by["AOF always"], by["RDB only (save 2 100)"]
        run.check("AOF always loses 0 acknowledged writes", always["lost"] == 0 and always["acked"] > 0,
                  f"{fmt_int(always['acked'])} acknowledged, {always['lost']} lost")
        run.check("RDB only loses the writes since its last snapshot", rdb["lost"] > 0,
                  f"{fmt_int(rdb['lost'])} of {fmt_int(rdb['acked'])} acknowledged writes lost")
        run.check("a truncated AOF is refused under aof-load-truncated no and loads after redis-check-aof --fix",
                  torn["refused"] and torn["fix_rc"] == 0 and torn["fixed_keys"] == torn["written"] - 1,
                  f"{torn['fixed_keys']} of {torn['written']} keys after the fix")
        run.check("the restored backup matches the source key by key",
                  backup["bgsave_ok"] and backup["same"] == backup["compared"] == backup["keys"] and not backup["extra"],
                  f"{fmt_int(backup['same'])}/{fmt_int(backup['keys'])} identical"
                  + (f"; first mismatches {backup['mismatched']}" if backup["mismatched"] else ""))
        run.data.update({"crashes": crashes, "torn_aof": torn, "backup": backup})
        run.note("SIGKILL kills the process, not the machine: whatever Redis had write()-n to the AOF is in the "
                 "kernel's page cache and reaches the disk anyway. That is why AOF everysec loses nothing here; "
                 "after a power cut or a kernel panic it can lose about the last second of writes (the fsync "
                 "runs once a second), and AOF always loses none. RDB loses everything since its last "
                 "snapshot in both cases; 'none' loses everything.")
        none = by["none"]["rate"] or 1
        run.note(f"Throughput, against no persistence in this run: AOF everysec "
                 f"{by['AOF everysec']['rate'] / none:.2f}x, AOF always {always['rate'] / none:.2f}x, RDB only "
                 f"{rdb['rate'] / none:.2f}x. AOF always waits for an fsync before it answers (writes that "
                 "arrive in the same event-loop turn share one); everysec pays for a write() per turn and "
                 "fsyncs in the background. Each figure is one run on a shared 2-core machine: read the "
                 "order, not the last digit. Restart: an RDB file loads faster than an AOF replays its "
                 "commands; Redis 7's multi-part AOF with an RDB preamble narrows the gap after a rewrite.")
        names = [x["name"] for x in crashes]
        run.chart(charts.bar_chart(
            "Persistence: SIGKILL under load", names,
            [("acknowledged writes lost", [x["lost"] for x in crashes]),
             ("writes/s", [x["rate"] for x in crashes]),
             ("restart ms", [x["restart_s"] * 1000 for x in crashes])],
            note=f"{writers} writers for {duration:.0f} s, then kill -9; {fmt_int(base)} base keys"))
