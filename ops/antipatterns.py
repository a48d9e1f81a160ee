"""The course's anti-patterns (section 11), each measured against its fix on a scratch server.

What is measured
    Redis runs one command at a time, so an anti-pattern's real cost is
    what it does to *everyone else*.  A probe process (its own connection,
    its own process so the driver's Python work cannot delay it) sends
    ``GET probe`` on a fixed schedule, one every millisecond, like visitors
    who keep arriving whether or not Redis is stuck, and records for each
    GET the time from when it was *due* to when its reply came
    (``time.perf_counter_ns``, the same monotonic clock in both processes).
    When the server is blocked for 300 ms, the GETs due during that time
    go out together as soon as the probe is free (one pipeline: visitors
    arriving meanwhile would each have had their own connection) and each
    counts what it waited: 300 ms, 299 ms, ... (timing from the send instead
    would record one slow GET and hide the rest: "coordinated omission", as
    wrk2 and HdrHistogram call it).
    Each case runs the anti-pattern, then its fix, and notes the window each
    ran in; a row reports the p99 (and the worst) of the GETs due in each.

The cases (sizes: ``size``, 1,000,000 by default)
    - ``KEYS *`` vs ``SCAN`` with ``COUNT 1000`` over ``size`` keys;
    - a 10 MB value read by many clients at once vs the value split in 100 KB
      chunks, each client reading the one chunk it needs;
    - ``LRANGE 0 -1`` on a ``size``-element list vs pages of 100;
    - ``HGETALL`` on a ``size``-field hash vs ``HSCAN`` ``COUNT 1000``;
    - ``size`` small string keys vs the same items bucketed in hashes of 100
      fields (listpack-encoded): here the cost is memory, reported per item;
    - ``DEL`` of a ``size``-member set vs ``UNLINK`` (freed by a background
      thread, ``lazyfree``);
    - cache entries written without a TTL vs with one: found by the no-TTL
      report (``ops.audit``, the one the ops pages use, reading the real key
      registry), and the memory still held once the TTL would have passed.

Everything runs on a ``redis-server`` the lab starts (``REDIS_SERVER_BIN``),
never the app's; data is built with ``DEBUG POPULATE`` (the scratch server
enables it) or a Lua loop, outside the measured windows.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis

PROBE_KEY = "probe"
PROBE_INTERVAL_NS = 1_000_000  # one GET due every millisecond
#: Quiet time before and after each measured window, so a probe GET stuck behind something else (building
#: the data, the other window) is never counted in it.
GAP_S = 0.5
#: redis.conf for the scratch server: DEBUG POPULATE allowed (local connections), no persistence.
SERVER_CONFIG = {"enable-debug-command": "local", "save": "", "appendonly": "no", "lazyfree-lazy-user-del": "no"}


def _probe_loop(host: str, port: int, stop: Any, out: Any) -> None:
    """The other client: a ``GET probe`` due every ``PROBE_INTERVAL_NS``; sends back ``[(due_ns, done_ns), ...]``."""
    raise_priority()
    client = redis.Redis(host=host, port=port, socket_timeout=60)
    samples: list[tuple[int, int]] = []
    clock = time.perf_counter_ns
    due = clock()
    while not stop.is_set():
        now = clock()
        if now < due:
            time.sleep((due - now) / 1e9)
            now = clock()
        # Every GET due by now goes at once, in one pipeline: visitors who arrived while Redis was busy
        # each have their own connection and are served together, not one per gap between busy spells.
        late = min(1000, 1 + (now - due) // PROBE_INTERVAL_NS)
        pipe = client.pipeline(transaction=False)
        for _ in range(late):
            pipe.get(PROBE_KEY)
        try:
            pipe.execute()
        except redis.RedisError:
            pass  # e.g. BUSY while a long script runs: the client waited all the same, so it counts
        done = clock()
        for i in range(late):
            samples.append((due + i * PROBE_INTERVAL_NS, done))
        due += late * PROBE_INTERVAL_NS
    client.close()
    out.send(samples)
    out.close()


def raise_priority(pid: int = 0, niceness: int = -10) -> bool:
    """Run ``pid`` (0: this process) ahead of the machine's other work, where allowed (root).

    The probe measures how long *Redis* keeps it waiting; on a busy machine a
    probe or server that is not scheduled waits too, and that is noise here.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, pid, niceness)
    except OSError:
        return False
    return True


class Probe:
    """A process timing its own GETs against the server while the lab runs."""

    def __init__(self, host: str, port: int) -> None:
        ctx = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited threads or sockets
        self._stop = ctx.Event()
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_probe_loop, args=(host, port, self._stop, send), daemon=True,
                                 name="antipatterns-probe")
        self.samples: list[tuple[int, int]] = []

    def start(self, client: redis.Redis) -> Probe:
        client.set(PROBE_KEY, "x" * 16)
        self._proc.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and client.client_list(_type="normal").__len__() < 2:
            time.sleep(0.05)
        time.sleep(0.3)  # let it warm up
        return self

    def stop(self) -> list[tuple[int, int]]:
        self._stop.set()
        if self._recv.poll(60):
            self.samples = self._recv.recv()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
        return self.samples

    def latencies_ms(self, window: tuple[int, int]) -> list[float]:
        """Latencies (ms, from due time to reply) of the probe GETs due within ``window`` (ns).

        A window shorter than the probe's interval (an ``UNLINK`` that returns
        at once) may hold none: then the first GET due after it opened stands
        for it, which is what a client arriving then would have seen.
        """
        lo, hi = window
        found = [(done - due) / 1e6 for due, done in self.samples if lo <= due < hi]
        if not found:
            found = [(done - due) / 1e6 for due, done in self.samples if due >= lo][:1]
        return found


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


@dataclass
class Case:
    """One anti-pattern and its fix: the windows they ran in and what else they measured."""

    name: str
    anti: str
    fix: str
    windows: dict[str, tuple[int, int]] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @contextmanager
    def window(self, which: str) -> Iterator[None]:
        time.sleep(GAP_S)  # a probe GET stuck behind the data being built answers before the window opens
        t0 = time.perf_counter_ns()
        try:
            yield
        finally:
            self.windows[which] = (t0, time.perf_counter_ns())
            time.sleep(GAP_S)

    def duration_ms(self, which: str) -> float:
        lo, hi = self.windows[which]
        return (hi - lo) / 1e6


#: Items per building script: short enough to stay far below lua-time-limit (5 s) on a slow machine.
FILL_CHUNK = 20_000


def _fill_list(client: redis.Redis, key: str, n: int, kind: str) -> None:
    """Build a big list/hash/set with Lua loops of ``FILL_CHUNK`` (outside any measured window)."""
    script = {
        "list": "for i = ARGV[1], ARGV[2] do redis.call('RPUSH', KEYS[1], 'item:' .. i) end",
        "hash": "for i = ARGV[1], ARGV[2] do redis.call('HSET', KEYS[1], 'field:' .. i, 'value:' .. i) end",
        "set": "for i = ARGV[1], ARGV[2] do redis.call('SADD', KEYS[1], 'member:' .. i) end",
    }[kind]
    for lo in range(1, n + 1, FILL_CHUNK):
        client.eval(script, 1, key, lo, min(n, lo + FILL_CHUNK - 1))


def keys_vs_scan(client: redis.Redis, size: int) -> Case:
    case = Case("KEYS vs SCAN", f"KEYS * over {size:,} keys", "SCAN 0 … COUNT 1000 to the end")
    client.execute_command("DEBUG", "POPULATE", size, "key")
    with case.window("anti"):
        found = len(client.keys("*"))
    with case.window("fix"):
        seen = sum(1 for _ in client.scan_iter(count=1000))
    case.extra = {"anti": f"{found:,} keys in one reply", "fix": f"{seen:,} keys, {case.duration_ms('fix'):,.0f} ms "
                  "in total, the server free between steps"}
    reset(client)
    return case


def big_value(client: redis.Redis, size_mb: int = 10, readers: int = 8, reads: int = 3) -> Case:
    chunk = 100 * 1024
    case = Case("Big value read by many", f"{readers} clients × {reads} GETs of one {size_mb} MB value",
                f"the value in {chunk // 1024} KB chunks (HSET), each read is HGET of one chunk")
    blob = b"x" * (size_mb * 1024 * 1024)
    client.set("big:value", blob)
    chunks = {str(i): blob[i * chunk:(i + 1) * chunk] for i in range(len(blob) // chunk)}
    client.hset("big:chunks", mapping=chunks)
    pool = redis.ConnectionPool(**client.connection_pool.connection_kwargs, max_connections=readers)

    def run(read: Callable[[redis.Redis, int], int]) -> int:
        moved = [0] * readers

        def worker(i: int) -> None:
            c = redis.Redis(connection_pool=pool)
            for r in range(reads):
                moved[i] += read(c, i * reads + r)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(readers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(moved)

    with case.window("anti"):
        anti_bytes = run(lambda c, n: len(c.get("big:value") or b""))
    with case.window("fix"):
        fix_bytes = run(lambda c, n: len(c.hget("big:chunks", str(n % len(chunks))) or b""))
    pool.disconnect()
    case.extra = {"anti": f"{anti_bytes / 1e6:,.0f} MB sent", "fix": f"{fix_bytes / 1e6:,.1f} MB sent"}
    client.delete("big:value", "big:chunks")
    return case


def lrange_vs_paging(client: redis.Redis, size: int, page: int = 100) -> Case:
    case = Case("LRANGE 0 -1", f"LRANGE 0 -1 on a {size:,}-element list", f"LRANGE in pages of {page}")
    _fill_list(client, "big:list", size, "list")
    with case.window("anti"):
        n_anti = len(client.lrange("big:list", 0, -1))
    with case.window("fix"):
        n_fix = 0
        for start in range(0, size, page):
            n_fix += len(client.lrange("big:list", start, start + page - 1))
    case.extra = {"anti": f"{n_anti:,} elements in one reply", "fix": f"{n_fix:,} elements in {size // page:,} pages"}
    client.delete("big:list")
    return case


def hgetall_vs_hscan(client: redis.Redis, size: int) -> Case:
    case = Case("HGETALL on a huge hash", f"HGETALL on a {size:,}-field hash", "HSCAN … COUNT 1000 to the end")
    _fill_list(client, "big:hash", size, "hash")
    with case.window("anti"):
        n_anti = len(client.hgetall("big:hash"))
    with case.window("fix"):
        n_fix = sum(1 for _ in client.hscan_iter("big:hash", count=1000))
    case.extra = {"anti": f"{n_anti:,} fields in one reply", "fix": f"{n_fix:,} fields, a batch per call"}
    client.delete("big:hash")
    return case


def strings_vs_hashes(client: redis.Redis, size: int, bucket: int = 100) -> Case:
    case = Case("Many small keys", f"{size:,} string keys (SET item:N)",
                f"the same items in hashes of {bucket} fields (HSET bucket:N//{bucket} N%{bucket})")
    strings_script = "for i = ARGV[1], ARGV[2] do redis.call('SET', 'item:' .. i, 'value:' .. i) end"
    hashes_script = ("for i = ARGV[1], ARGV[2] do redis.call('HSET', 'bucket:' .. math.floor(i / ARGV[3]), "
                     "i % ARGV[3], 'value:' .. i) end")

    def write(script: str) -> int:
        base = client.info("memory")["used_memory"]
        for lo in range(0, size, FILL_CHUNK):
            client.eval(script, 0, lo, min(size, lo + FILL_CHUNK) - 1, bucket)
        return client.info("memory")["used_memory"] - base

    with case.window("anti"):
        strings = write(strings_script)
    reset(client)
    with case.window("fix"):
        hashes = write(hashes_script)
    encoding = client.object("encoding", "bucket:0")
    encoding = encoding.decode() if isinstance(encoding, bytes) else encoding
    case.extra = {"anti": f"{strings / size:,.0f} B/item", "fix": f"{hashes / size:,.0f} B/item ({encoding})"}
    case.note = (f"the cost here is memory: bytes per item from INFO memory, both written the same way "
                 f"(scripts of {FILL_CHUNK:,} writes)")
    reset(client)
    return case


def del_vs_unlink(client: redis.Redis, size: int) -> Case:
    case = Case("DEL of a big key", f"DEL of a {size:,}-member set", "UNLINK (freed by a background thread)")
    _fill_list(client, "big:set", size, "set")
    with case.window("anti"):
        client.delete("big:set")
    _fill_list(client, "big:set", size, "set")
    with case.window("fix"):
        client.unlink("big:set")
    case.extra = {"anti": f"replied after {case.duration_ms('anti'):,.0f} ms",
                  "fix": f"replied after {case.duration_ms('fix'):,.1f} ms"}
    return case


def missing_ttl(client: redis.Redis, count: int, ttl_s: int = 1) -> Case:
    """Cache entries named like the shop's (``shop.keys.product_key``) without and with a TTL."""
    from ops import audit
    from shop.keys import product_key

    case = Case("No TTL on cache keys", f"{count:,} cache entries written with SET", f"SET … EX {ttl_s}")
    payload = "x" * 200
    with case.window("anti"):
        pipe = client.pipeline(transaction=False)
        for i in range(count):
            pipe.set(product_key(i), payload)
        pipe.execute()
    found_anti = len(audit.sample_keyspace(count * 2, client=client).no_ttl)
    reset(client)
    with case.window("fix"):
        pipe = client.pipeline(transaction=False)
        for i in range(count):
            pipe.set(product_key(i), payload, ex=ttl_s)
        pipe.execute()
    found_fix = len(audit.sample_keyspace(count * 2, client=client).no_ttl)
    time.sleep(ttl_s + 1.5)  # the TTL has passed: expired keys are reclaimed (lazily and by the active cycle)
    left = client.dbsize() - 1
    case.extra = {"anti": f"no-TTL report: {found_anti:,} keys; all {count:,} stay forever",
                  "fix": f"no-TTL report: {found_fix:,} keys; {left:,} left {ttl_s + 1.5:g} s later"}
    case.note = "the cost is memory that only grows; the report is ops.audit (manage.py keys --no-ttl)"
    reset(client)
    return case


def reset(client: redis.Redis) -> None:
    """Empty the scratch server between cases (the lab's own server: FLUSHALL is fine here, never on the app's)."""
    client.flushall()
    client.set(PROBE_KEY, "x" * 16)


#: The cases in the order the lab runs them, with the size each takes (``size`` or a fixed one).
CASES: list[tuple[str, Callable[[redis.Redis, int], Case]]] = [
    ("keys", keys_vs_scan),
    ("big_value", lambda c, size: big_value(c)),
    ("lrange", lrange_vs_paging),
    ("hgetall", hgetall_vs_hscan),
    ("small_keys", strings_vs_hashes),
    ("del", del_vs_unlink),
    ("ttl", lambda c, size: missing_ttl(c, min(size, 20_000))),
]
