"""``python manage.py lab_memory``: what the same items cost as strings, hashes, listpacks and intsets.

Course labs 1 and 2 (sections 3.1-3.2, 14.2).  Part 1 stores the same N
items (``user:<i>`` -> ``value<i>``, the course's own example) in several
layouts, each on a fresh private server, and reads the cost from ``INFO
memory`` (``used_memory`` after minus before, divided by N):

- one string key per item, without and with a TTL;
- one big hash (N fields: far above ``hash-max-listpack-entries``, so a hashtable);
- small hashes of 100 fields each (``users:<i // 100>``): listpack encoded;
- N integers in one set (a hashtable: above ``set-max-intset-entries``), in
  sets of 500 (intset), and the same numbers as strings in sets of 500.

Part 2 crosses the thresholds one step at a time on one server, reading
``MEMORY USAGE`` per key: fields per hash around ``hash-max-listpack-entries``
(512 in redis.conf's defaults; the course's example sets 128), value length around ``hash-max-listpack-value`` (default 64),
then the entries threshold raised fourfold to show the cliff moves with it, and
what that costs: ``HGET`` CPU time per call (``INFO commandstats``) in a
long listpack (a linear scan) vs a hashtable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import redis
from django.core.management.base import BaseCommand, CommandError

from ops import charts
from ops.labs import LabRun, fmt_int

BATCH = 1000  # items per command (MSET / HSET / SADD with many arguments)
SWEEP_STEPS = 13  # fields-per-hash points, around the server's hash-max-listpack-entries
VALUE_SWEEP = [8, 16, 32, 48, 60, 64, 65, 72, 96, 128]


def entry_sweep(limit: int) -> list[int]:
    """Fields per hash to try: doubling up to the limit, the limit and one past it, then beyond."""
    points = {8, 16, 32, 64, limit // 2, limit - 1, limit, limit + 1, limit + 8, 2 * limit, 4 * limit}
    return sorted(p for p in points if p > 0)


def _layouts(n: int) -> list[tuple[str, str, Callable[[redis.Redis, int, int], None]]]:
    """(name, key pattern, writer(client, start, stop)) for each layout of part 1."""

    def strings(c: redis.Redis, a: int, b: int) -> None:
        c.execute_command("MSET", *[x for i in range(a, b) for x in (f"user:{i}", f"value{i}")])

    def strings_ttl(c: redis.Redis, a: int, b: int) -> None:
        pipe = c.pipeline(transaction=False)
        for i in range(a, b):
            pipe.set(f"user:{i}", f"value{i}", ex=3600)
        pipe.execute()

    def big_hash(c: redis.Redis, a: int, b: int) -> None:
        c.execute_command("HSET", "users", *[x for i in range(a, b) for x in (f"user:{i}", f"value{i}")])

    def buckets(c: redis.Redis, a: int, b: int) -> None:
        pipe = c.pipeline(transaction=False)
        for start in range(a, b, 100):
            stop = min(b, start - start % 100 + 100)
            pipe.execute_command("HSET", f"users:{start // 100}",
                                 *[x for i in range(start, stop) for x in (str(i % 100), f"value{i}")])
        pipe.execute()

    def int_set(c: redis.Redis, a: int, b: int) -> None:
        c.execute_command("SADD", "ids", *range(a, b))

    def int_sets(c: redis.Redis, a: int, b: int) -> None:
        pipe = c.pipeline(transaction=False)
        for start in range(a, b, 500):
            pipe.execute_command("SADD", f"ids:{start // 500}", *range(start, min(b, start - start % 500 + 500)))
        pipe.execute()

    def str_sets(c: redis.Redis, a: int, b: int) -> None:
        pipe = c.pipeline(transaction=False)
        for start in range(a, b, 500):
            pipe.execute_command("SADD", f"ids:{start // 500}",
                                 *[f"id:{i}" for i in range(start, min(b, start - start % 500 + 500))])
        pipe.execute()

    return [
        ("string keys", "SET user:<i> value<i>", strings),
        ("string keys with a TTL", "SET user:<i> value<i> EX 3600", strings_ttl),
        ("one big hash", "HSET users user:<i> value<i>", big_hash),
        ("hashes of 100 fields", "HSET users:<i/100> <i%100> value<i>", buckets),
        (f"one set of {fmt_int(n)} integers", "SADD ids <i>", int_set),
        ("sets of 500 integers", "SADD ids:<i/500> <i>", int_sets),
        ("sets of 500 strings", "SADD ids:<i/500> id:<i>", str_sets),
    ]


def _encodings(c: redis.Redis) -> str:
    """The encodings of a sample of keys (SCAN, then OBJECT ENCODING), most common first."""
    seen: dict[str, int] = {}
    for i, key in enumerate(c.scan_iter(count=100)):
        enc = c.object("encoding", key)
        seen[enc] = seen.get(enc, 0) + 1
        if i >= 200:
            break
    return ", ".join(sorted(seen, key=lambda e: -seen[e]))


def _chunks(n: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, BATCH):
        yield start, min(n, start + BATCH)


class Command(BaseCommand):
    help = "Lab: bytes per item as strings, a big hash, small listpack hashes, intsets; the encoding cliff."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--size", type=int, default=None,
                            help="items per layout (default 1,000,000; --quick 200,000)")
        parser.add_argument("--quick", action="store_true", help="200,000 items, fewer keys per sweep step")

    def handle(self, *args: Any, **opt: Any) -> None:
        n = opt["size"] or (200_000 if opt["quick"] else 1_000_000)
        if n < 1000:
            raise CommandError("--size must be at least 1000")
        per_step = 20 if opt["quick"] else 100  # keys per sweep step (MEMORY USAGE averaged over them)
        layouts = _layouts(n)
        sweep_steps = 11 * 2 + len(VALUE_SWEEP) + 4
        with LabRun("memory", quick=opt["quick"], stdout=self.stdout) as run:
            with run.progress(len(layouts) * n + sweep_steps, "running", unit="item") as bar:
                rows, per_item = self._part1(run, layouts, n, bar)
                entries, values, raised, hget = self._part2(run, per_step, bar)
            self._report(run, n, rows, per_item, entries, values, raised, hget, per_step)

    # -- part 1: layouts ------------------------------------------------------------------------

    def _part1(self, run: LabRun, layouts: list, n: int, bar: Any) -> tuple[list, dict[str, float]]:
        rows, per_item = [], {}
        for name, pattern, writer in layouts:
            bar.set_postfix_str(name)
            server = run.server(name="memory")
            c = redis.Redis(host=server.host, port=server.port, decode_responses=True)
            before = c.info("memory")["used_memory"]
            for a, b in _chunks(n):
                writer(c, a, b)
                bar.update(b - a)
            info = c.info("memory")
            used = info["used_memory"] - before
            keys = c.dbsize()
            rows.append([name, pattern, fmt_int(keys), _encodings(c), f"{used / 2**20:,.1f} MB",
                         f"{used / n:.1f}"])
            per_item[name] = used / n
            c.close()
            server.cleanup()
        base = per_item["string keys"]
        for row, (name, *_rest) in zip(rows, layouts, strict=True):
            row.append(f"{per_item[name] / base:.2f}x")
        return rows, per_item

    # -- part 2: the cliff ----------------------------------------------------------------------

    def _part2(self, run: LabRun, per_step: int, bar: Any) -> tuple[list, list, list, list]:
        server = run.server(name="memory-sweep")
        c = redis.Redis(host=server.host, port=server.port, decode_responses=True)
        defaults = {k: int(v) for k, v in c.config_get("hash-max-listpack-*").items()}
        limit = defaults.get("hash-max-listpack-entries", 128)
        self.raised = raised_limit = 4 * limit
        sweep = entry_sweep(limit)
        entries, values, raised = [], [], []
        bar.set_postfix_str("entries sweep")
        for fields in sweep:
            entries.append((fields, *self._measure(c, "e", fields, 10, per_step)))
            bar.update(1)
        bar.set_postfix_str("value-length sweep")
        for length in VALUE_SWEEP:
            values.append((length, *self._measure(c, "v", 32, length, per_step)))
            bar.update(1)
        c.config_set("hash-max-listpack-entries", raised_limit)
        bar.set_postfix_str(f"entries sweep, threshold {raised_limit}")
        for fields in sweep:
            raised.append((fields, *self._measure(c, "r", fields, 10, per_step)))
            bar.update(1)
        # HGET on a long listpack (a linear scan) vs the same hash as a hashtable.
        hget = []
        for threshold, fields in ((limit, limit), (limit, limit + 1), (raised_limit, raised_limit),
                                  (limit, raised_limit)):
            c.config_set("hash-max-listpack-entries", threshold)
            key = f"hget:{threshold}:{fields}"
            c.execute_command("HSET", key, *[x for j in range(fields) for x in (f"f{j}", "x" * 10)])
            enc = c.object("encoding", key)
            c.config_resetstat()
            pipe = c.pipeline(transaction=False)
            for j in range(20_000):
                pipe.hget(key, f"f{(j * 7919) % fields}")
                if j % 2000 == 1999:
                    pipe.execute()
            usec = float(c.info("commandstats")["cmdstat_hget"]["usec_per_call"])
            hget.append((f"{fields} fields, limit {threshold}", enc, usec))
            bar.update(1)
        c.config_set("hash-max-listpack-entries", limit)
        self.defaults = defaults
        c.close()
        return entries, values, raised, hget

    @staticmethod
    def _measure(c: redis.Redis, tag: str, fields: int, value_len: int, keys: int) -> tuple[str, float]:
        """Make ``keys`` hashes of ``fields`` fields with values of ``value_len`` bytes; (encoding, bytes/field)."""
        pipe = c.pipeline(transaction=False)
        names = [f"sweep:{tag}:{fields}:{value_len}:{k}" for k in range(keys)]
        for name in names:
            pipe.execute_command("HSET", name, *[x for j in range(fields) for x in (f"f{j}", "v" * value_len)])
        pipe.execute()
        enc = c.object("encoding", names[0])
        pipe = c.pipeline(transaction=False)
        for name in names:
            pipe.memory_usage(name, samples=0)
        total = sum(pipe.execute())
        c.delete(*names)
        return enc, total / keys / fields

    # -- report ---------------------------------------------------------------------------------

    def _report(self, run: LabRun, n: int, rows: list, per_item: dict[str, float], entries: list, values: list,
                raised: list, hget: list, per_step: int) -> None:
        entries_default = self.defaults.get("hash-max-listpack-entries", 128)
        value_default = self.defaults.get("hash-max-listpack-value", 64)
        run.table(f"Part 1: {fmt_int(n)} items per layout (used_memory after minus before, fresh server each)",
                  ["layout", "commands", "keys", "encoding", "memory", "bytes/item", "vs string keys"], rows)
        cliff_rows = []
        for (fields, enc, b), (_, enc_r, b_r) in zip(entries, raised, strict=True):
            cliff_rows.append([fields, enc, f"{b:.1f}", enc_r, f"{b_r:.1f}"])
        run.table(f"Part 2a: bytes per field vs fields per hash (10-byte values; MEMORY USAGE over {per_step} keys)",
                  ["fields", f"encoding (entries limit {entries_default})", "bytes/field",
                   f"encoding (limit {self.raised})", "bytes/field "], cliff_rows)
        run.table(f"Part 2b: bytes per field vs value length (32 fields; value limit {value_default})",
                  ["value bytes", "encoding", "bytes/field"], [[v, e, f"{b:.1f}"] for v, e, b in values])
        run.table("Part 2c: what a long listpack costs: HGET, server CPU per call (INFO commandstats)",
                  ["hash", "encoding", "µs per HGET"], [[label, enc, f"{u:.2f}"] for label, enc, u in hget])

        def at(sweep: list, x: int) -> tuple[str, float]:
            return next((e, b) for v, e, b in sweep if v == x)

        below, above = at(entries, entries_default), at(entries, entries_default + 1)
        run.check("small hashes (listpack) cost less per item than string keys",
                  per_item["hashes of 100 fields"] < per_item["string keys"],
                  f"{per_item['hashes of 100 fields']:.1f} vs {per_item['string keys']:.1f} bytes/item")
        run.check(f"a hash converts from listpack to hashtable past {entries_default} entries",
                  below[0] == "listpack" and above[0] == "hashtable",
                  f"{entries_default} fields: {below[0]} {below[1]:.1f} B/field; "
                  f"{entries_default + 1}: {above[0]} {above[1]:.1f} B/field ({above[1] / below[1]:.1f}x)")
        run.check("sets of integers under set-max-intset-entries are intsets",
                  "intset" in rows[5][3], f"encoding {rows[5][3]}, {per_item['sets of 500 integers']:.1f} bytes/item")
        run.data.update({"bytes_per_item": {k: round(v, 1) for k, v in per_item.items()},
                         "cliff": {"below": below, "above": above}})
        run.note("Read bytes/item as the full cost of an item in this server: the value, the key name, the "
                 "main dictionary entry (and the expires dictionary with a TTL), allocator rounding. "
                 "A listpack stores fields and values back to back in one allocation: no per-field "
                 "pointers or dictionary entries, which is where the savings come from; the price is a "
                 "linear scan per lookup (part 2c), which is why the thresholds are small.")
        big, buckets = per_item["one big hash"] / per_item["string keys"], per_item["hashes of 100 fields"] / per_item["string keys"]
        run.note(f"The big hash and the one set of all the integers are hashtables: past the thresholds one key "
                 f"saves little over many (the big hash costs {big:.2f}x the string keys). Bucketing "
                 f"(i // 100) keeps each hash under the threshold: {buckets:.2f}x. That is the trick behind "
                 "the course's 'group related fields in a hash', and why the size of the groups matters.")
        run.chart(charts.stack(
            charts.bar_chart(f"Bytes per item, {fmt_int(n)} items", [r[0] for r in rows],
                             [("bytes/item", [per_item[r[0]] for r in rows])],
                             note="used_memory delta / items; lower is better"),
            charts.line_chart("Bytes per field vs fields per hash (the listpack cliff)",
                              [(f"hash-max-listpack-entries {entries_default}", [(f, b) for f, _, b in entries]),
                               (f"hash-max-listpack-entries {self.raised}", [(f, b) for f, _, b in raised])],
                              x_label="fields per hash (log scale)", y_label="bytes per field", log_x=True,
                              markers=[(entries_default, f"{entries_default}: default limit")],
                              note="MEMORY USAGE per key / fields; 10-byte values"),
        ))
