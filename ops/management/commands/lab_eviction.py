"""``python manage.py lab_eviction``: every maxmemory-policy under the same skewed load.

Course section 3.3.  For each policy a fresh private server gets a small
``maxmemory`` and the same workload, drawn once from a fixed seed:

- ``--durable`` keys without a TTL are written first: data the application
  must not lose (think sessions or carts kept only in Redis);
- then ``--ops`` operations on ``--keys`` cache keys picked with a Zipf
  distribution (a few keys very hot, a long cold tail): 90% reads through the
  cache (``GET``; on a miss ``SET ... EX`` as cache-aside does), 10%
  overwrites (``SET ... EX``).  Cache keys carry a TTL (10-60 min, longer
  than the run) so the ``volatile-*`` policies may evict them.

``maxmemory`` leaves room for the durable keys plus ``--fit`` of the cache
keys.  Reported per policy: hit ratio over the second half of the run (the
cache is warm by then), keys evicted (``INFO stats``), write errors (``OOM``
under ``noeviction``), durable keys still there, and the hit ratio an oracle
keeping the most popular keys that fit would get.
"""

from __future__ import annotations

import random
from typing import Any

import redis
from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import ResponseError

from ops import charts
from ops.labs import LabRun, fmt_int

POLICIES = ["allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-lfu", "volatile-ttl", "allkeys-random",
            "volatile-random", "noeviction"]
BATCH = 200
VALUE_BYTES = 300


class Command(BaseCommand):
    help = "Lab: each maxmemory-policy under the same Zipf cache load: hit ratio, evictions, errors, durable keys lost."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--quick", action="store_true", help="30,000 keys, 120,000 operations per policy")
        parser.add_argument("--keys", type=int, default=None, help="cache keys (default 100,000)")
        parser.add_argument("--ops", type=int, default=None, help="operations per policy (default 400,000)")
        parser.add_argument("--durable", type=int, default=None, help="keys without TTL (default keys/20)")
        parser.add_argument("--fit", type=float, default=0.25, help="share of the cache keys maxmemory leaves room for")
        parser.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent (default 1.0)")
        parser.add_argument("--policies", default=",".join(POLICIES), help="comma-separated subset")
        parser.add_argument("--seed", type=int, default=14)

    def handle(self, *args: Any, **opt: Any) -> None:
        keys = opt["keys"] or (30_000 if opt["quick"] else 100_000)
        ops = opt["ops"] or (120_000 if opt["quick"] else 400_000)
        durable = opt["durable"] if opt["durable"] is not None else keys // 20
        policies = [p.strip() for p in opt["policies"].split(",") if p.strip()]
        unknown = set(policies) - set(POLICIES)
        if unknown or not policies:
            raise CommandError(f"unknown policies {sorted(unknown)}; choose from {', '.join(POLICIES)}")
        if keys < 1000 or ops < 2 * BATCH or not 0 < opt["fit"] < 1:
            raise CommandError("--keys >= 1000, --ops >= 400, 0 < --fit < 1")

        rng = random.Random(opt["seed"])
        order = list(range(keys))
        rng.shuffle(order)  # rank -> key, so the hot keys are not neighbours
        weights = [1 / (rank + 1) ** opt["zipf"] for rank in range(keys)]
        ranks = rng.choices(range(keys), weights=weights, k=ops)
        writes = [rng.random() < 0.10 for _ in range(ops)]
        ttls = [rng.randint(600, 3600) for _ in range(keys)]
        workload = ([order[r] for r in ranks], writes, ttls)

        with LabRun("eviction", quick=opt["quick"], stdout=self.stdout) as run:
            results = []
            with run.progress(len(policies) * ops, "policies", unit="op") as bar:
                for policy in policies:
                    bar.set_postfix_str(policy)
                    results.append(self._one(run, policy, workload, durable, opt["fit"], keys, bar))
            self._report(run, results, keys, ops, durable, opt, ranks)

    def _one(self, run: LabRun, policy: str, workload: tuple, durable: int, fit: float, keys: int,
             bar: Any) -> dict[str, Any]:
        picks, writes, ttls = workload
        server = run.server(name=f"evict-{policy}")
        c = redis.Redis(host=server.host, port=server.port, decode_responses=True)
        value = "x" * VALUE_BYTES
        empty = c.info("memory")["used_memory"]
        pipe = c.pipeline(transaction=False)
        for i in range(durable):
            pipe.set(f"durable:{i}", value)
        pipe.execute()
        with_durable = c.info("memory")["used_memory"]
        per_key = (with_durable - empty) / max(durable, 1) if durable else VALUE_BYTES + 90
        # Cache keys cost a little more than durable ones (the expires entry): ~ +40 bytes each.
        budget = int(with_durable + fit * keys * (per_key + 40))
        c.config_set("maxmemory", budget)
        c.config_set("maxmemory-policy", policy)

        half = len(picks) // 2
        hits = reads = errors = 0
        for start in range(0, len(picks), BATCH):
            stop = min(len(picks), start + BATCH)
            read_idx = [i for i in range(start, stop) if not writes[i]]
            pipe = c.pipeline(transaction=False)
            for i in read_idx:
                pipe.get(f"cache:{picks[i]}")
            replies = pipe.execute(raise_on_error=False)
            pipe = c.pipeline(transaction=False)
            for i, reply in zip(read_idx, replies, strict=True):
                if i >= half:
                    reads += 1
                    hits += reply is not None
                if reply is None:
                    pipe.set(f"cache:{picks[i]}", value, ex=ttls[picks[i]])
            for i in range(start, stop):
                if writes[i]:
                    pipe.set(f"cache:{picks[i]}", value, ex=ttls[picks[i]])
            errors += sum(isinstance(r, ResponseError) for r in pipe.execute(raise_on_error=False))
            bar.update(stop - start)
        stats, memory = c.info("stats"), c.info("memory")
        pipe = c.pipeline(transaction=False)
        for i in range(durable):
            pipe.exists(f"durable:{i}")
        kept = sum(pipe.execute()) if durable else 0
        cached = c.dbsize() - kept
        c.close()
        server.cleanup()
        return {"policy": policy, "hit_ratio": hits / reads if reads else 0.0, "evicted": stats["evicted_keys"],
                "errors": errors, "durable_kept": kept, "cached": cached, "maxmemory": budget,
                "used": memory["used_memory"]}

    def _report(self, run: LabRun, results: list[dict], keys: int, ops: int, durable: int, opt: dict,
                ranks: list[int]) -> None:
        # The oracle: keep the C most popular keys (C = what the cache held under allkeys-lru, else the
        # largest count seen) and count the second half's reads of them.
        capacity = next((r["cached"] for r in results if r["policy"] == "allkeys-lru"),
                        max(r["cached"] for r in results))
        second = ranks[len(ranks) // 2:]
        oracle = sum(1 for r in second if r < capacity) / len(second)
        rows = []
        for r in results:
            rows.append([r["policy"], f"{100 * r['hit_ratio']:.1f}%", fmt_int(r["evicted"]), fmt_int(r["errors"]),
                         f"{fmt_int(r['durable_kept'])} of {fmt_int(durable)}", fmt_int(r["cached"])])
        run.table(f"{fmt_int(ops)} operations (90% cache-aside reads, 10% overwrites) on {fmt_int(keys)} keys, "
                  f"Zipf s={opt['zipf']}; maxmemory {results[0]['maxmemory'] / 2**20:.1f} MB "
                  f"(room for ~{100 * opt['fit']:.0f}% of the keys)",
                  ["policy", "hit ratio (2nd half)", "keys evicted", "write errors", "durable keys kept",
                   "cache keys at end"], rows,
                  note=f"An oracle keeping the {fmt_int(capacity)} most popular keys would hit "
                       f"{100 * oracle:.1f}% of the second half's reads.")
        by = {r["policy"]: r for r in results}
        if "noeviction" in by:
            run.check("noeviction refuses writes once full (OOM errors) and evicts nothing",
                      by["noeviction"]["errors"] > 0 and by["noeviction"]["evicted"] == 0,
                      f"{fmt_int(by['noeviction']['errors'])} OOM errors")
        if "allkeys-lfu" in by and "allkeys-random" in by:
            run.check("on a skewed load LFU keeps more of the hot keys than random eviction",
                      by["allkeys-lfu"]["hit_ratio"] > by["allkeys-random"]["hit_ratio"],
                      f"{100 * by['allkeys-lfu']['hit_ratio']:.1f}% vs {100 * by['allkeys-random']['hit_ratio']:.1f}%")
        vol = [r for r in results if r["policy"].startswith("volatile-")]
        if vol and durable:
            run.check("volatile-* policies never evict keys without a TTL",
                      all(r["durable_kept"] == durable for r in vol),
                      ", ".join(f"{r['policy']} kept {r['durable_kept']}" for r in vol))
        run.data.update({r["policy"]: {k: v for k, v in r.items() if k != "policy"} for r in results})
        run.data["oracle_hit_ratio"] = oracle
        run.note("allkeys-* policies treat every key as cache: the durable keys, never read during the load, "
                 "look cold and go first. That is the course's rule in numbers: a pure cache wants "
                 "allkeys-lfu (or -lru), a mix of cache and data keeps its data without a TTL under "
                 "volatile-*, and a database wants noeviction (errors rather than silent loss).")
        run.note("noeviction's hit ratio can look good on a load like this one: the keys that got in first, "
                 "mostly popular ones, stay for ever. The price is in the write errors: once memory was "
                 "full every SET was refused, overwrites included, so the cached values could no longer "
                 "be updated (a cache serving stale data) and a database would refuse its writes.")
        run.note("volatile-ttl evicts the key closest to expiring; the TTLs here are random, so it behaves "
                 "like random eviction. LRU and LFU are approximations (maxmemory-samples 5).")
        names = [r["policy"] for r in results]
        run.chart(charts.bar_chart(
            "Eviction policies under a Zipf load", names,
            [("hit ratio %", [100 * r["hit_ratio"] for r in results]),
             ("durable keys kept %", [100 * r["durable_kept"] / durable if durable else 0 for r in results]),
             ("keys evicted", [r["evicted"] for r in results]),
             ("write errors", [r["errors"] for r in results])],
            note=f"oracle hit ratio {100 * oracle:.1f}%; each measure scaled to its own maximum"))
