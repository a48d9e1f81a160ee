"""``python manage.py lab_streams``: kill a stream worker mid-batch and watch nothing get lost.

Lab day 7 of the course.  The lab:

1. creates N orders in the database (one lab product; the lab measures the
   workers, not checkout) and a private stream ``{orders}:lab:<run>:stream``;
2. starts K ``run_stream_worker`` processes on it (group ``lab``);
3. produces the orders to the stream (plus a few poison messages) while the
   workers consume;
4. when a share of the orders is done, SIGKILLs a worker that holds pending
   entries: it dies in the middle of a batch, taken and not acknowledged;
5. waits until the survivors have claimed (``XAUTOCLAIM``) and finished the
   victim's entries and every order is done, then prints what happened:
   produced / completed / duplicates / dead-lettered / recovery time.

It uses the configured Redis and database (``make run``'s, by default), its
own stream and group, and removes its orders, product and keys afterwards
(``--keep`` to look at them on the streams page and in the admin).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from tqdm import tqdm

from config.redis import get_redis
from shop.models import Category, Fulfilment, Order, OrderItem, Product
from workers import keys

GROUP = "lab"


class Command(BaseCommand):
    help = "Lab: K stream workers, N orders, SIGKILL one mid-batch, count what was lost (nothing)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--workers", type=int, default=3, help="worker processes (K, default 3)")
        parser.add_argument("--orders", type=int, default=2000, help="orders to produce (N, default 2000)")
        parser.add_argument("--count", type=int, default=20, help="XREADGROUP COUNT per worker (default 20)")
        parser.add_argument("--claim-idle-ms", type=int, default=2000,
                            help="survivors claim entries idle this long (default 2000)")
        parser.add_argument("--kill-at", type=float, default=0.3,
                            help="kill a worker when this share of orders is done (default 0.3)")
        parser.add_argument("--poison", type=int, default=2, help="poison messages to mix in (default 2)")
        parser.add_argument("--max-deliveries", type=int, default=3, help="dead-letter after this many (default 3)")
        parser.add_argument("--timeout", type=float, default=300, help="give up after this many seconds")
        parser.add_argument("--keep", action="store_true", help="keep the lab's orders, product and streams")

    def handle(self, *args: Any, **opt: Any) -> None:
        if opt["workers"] < 2:
            raise CommandError("--workers must be at least 2: one dies, the others recover")
        if opt["orders"] < 10:
            raise CommandError("--orders must be at least 10")
        run = secrets.token_hex(3)
        client = get_redis()
        stream, dead = keys.orders_stream_for(run), keys.orders_dead_letter(run)
        stats_key = keys.orders_stats(GROUP, run)
        owner = f"lab:{run}"
        log_dir = Path(settings.VAR_DIR) / "lab_streams" / run
        log_dir.mkdir(parents=True, exist_ok=True)
        out = self.stdout.write
        out(f"lab_streams run {run}: {opt['workers']} workers, {opt['orders']} orders, "
            f"{opt['poison']} poison messages; stream {stream}; worker logs in {log_dir}")

        product = self._product(run, opt["orders"])
        order_ids = self._orders(owner, product, opt["orders"])
        procs = self._start_workers(run, opt, log_dir)
        result: dict[str, Any] = {}
        try:
            self._wait_for_consumers(client, stream, procs, opt)
            result = self._run(client, stream, dead, stats_key, owner, order_ids, procs, opt)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs.values():
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            if not opt["keep"]:
                client.delete(stream, dead, stats_key)
                Order.objects.filter(owner=owner).delete()
                product.delete()
        if result:
            self._report(result, opt)

    # -- setup ----------------------------------------------------------------------------

    def _product(self, run: str, stock: int) -> Product:
        category, _ = Category.objects.get_or_create(slug="lab", defaults={"name": "Lab"})
        return Product.objects.create(category=category, name=f"Lab widget {run}", slug=f"lab-widget-{run}",
                                      description="Created by manage.py lab_streams.", price=Decimal("1.00"),
                                      stock=stock, image_hue=200)

    def _orders(self, owner: str, product: Product, n: int) -> list[int]:
        ids: list[int] = []
        with tqdm(total=n, desc="creating orders", unit="order", file=sys.stderr) as bar:
            for start in range(0, n, 500):
                size = min(500, n - start)
                orders = Order.objects.bulk_create([Order(owner=owner, total=Decimal("1.00")) for _ in range(size)])
                OrderItem.objects.bulk_create([OrderItem(order=o, product=product, quantity=1,
                                                         unit_price=Decimal("1.00")) for o in orders])
                ids += [o.pk for o in orders]
                bar.update(size)
        return ids

    def _start_workers(self, run: str, opt: dict[str, Any], log_dir: Path) -> dict[str, subprocess.Popen]:
        procs = {}
        for i in range(1, opt["workers"] + 1):
            name = f"lab-w{i}"
            cmd = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "run_stream_worker", "orders",
                   "--lab", run, "--group", GROUP, "--consumer", name, "--no-relay", "--count", str(opt["count"]),
                   "--block-ms", "500", "--claim-idle-ms", str(opt["claim_idle_ms"]), "--claim-every", "0.5",
                   "--max-deliveries", str(opt["max_deliveries"])]
            with open(log_dir / f"{name}.log", "wb") as log:
                procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        return procs

    def _wait_for_consumers(self, client: Any, stream: str, procs: dict[str, subprocess.Popen],
                            opt: dict[str, Any]) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            dead = [n for n, p in procs.items() if p.poll() is not None]
            if dead:
                raise CommandError(f"worker {dead[0]} exited at start; see its log")
            try:
                if len(client.xinfo_consumers(stream, GROUP)) == len(procs):
                    return
            except Exception:  # noqa: S110 - the group does not exist until the first worker starts
                pass
            time.sleep(0.1)
        raise CommandError("the workers did not join the group within 60s; see their logs")

    # -- the run ------------------------------------------------------------------------------

    def _run(self, client: Any, stream: str, dead: str, stats_key: str, owner: str, order_ids: list[int],
             procs: dict[str, subprocess.Popen], opt: dict[str, Any]) -> dict[str, Any]:
        n = len(order_ids)
        poison_every = max(1, n // (opt["poison"] + 1)) if opt["poison"] else 0
        t0 = time.monotonic()
        produced = poison_sent = 0
        pipe = client.pipeline(transaction=False)
        for i, oid in enumerate(order_ids, 1):
            pipe.xadd(stream, {"order_id": str(oid)})
            if poison_every and i % poison_every == 0 and poison_sent < opt["poison"]:
                pipe.xadd(stream, {"order_id": f"poison-{poison_sent}"})
                poison_sent += 1
            if i % 200 == 0 or i == n:
                pipe.expire(stream, 24 * 3600)  # a lab stream never outlives a day, even if the lab is killed
                pipe.execute()
                pipe = client.pipeline(transaction=False)
        produced = n
        lab_orders = Order.objects.filter(owner=owner)
        victim = victim_pending = kill_at = recovered_at = None
        deadline = t0 + opt["timeout"]
        with tqdm(total=n, desc="orders done", unit="order", file=sys.stderr) as bar:
            while True:
                done = lab_orders.filter(status__in=[Order.Status.COMPLETED, Order.Status.FAILED]).count()
                bar.update(done - bar.n)
                now = time.monotonic()
                if victim is None and done >= opt["kill_at"] * n:
                    victim, victim_pending = self._kill_one(client, stream, procs)
                    kill_at = now
                    bar.write(f"SIGKILL {victim} with {victim_pending} entries taken and not acknowledged "
                              f"({done}/{n} orders done)")
                if victim is not None and recovered_at is None and self._pending_of(client, stream, victim) == 0:
                    recovered_at = now
                    bar.set_postfix_str(f"{victim}'s entries recovered in {now - kill_at:.2f}s")
                if (done == n and recovered_at is not None and client.xlen(dead) >= poison_sent):
                    break
                if now > deadline:
                    bar.write("timed out: the numbers below show what was still missing")
                    break
                time.sleep(0.05)
        finished = time.monotonic()
        per_order = dict(Fulfilment.objects.filter(order__owner=owner).values_list("order_id")
                         .annotate(c=Count("id")).values_list("order_id", "c"))
        stats = {k: int(v) for k, v in client.hgetall(stats_key).items()}
        return {
            "produced": produced,
            "poison": poison_sent,
            "completed": lab_orders.filter(status=Order.Status.COMPLETED).count(),
            "lost": n - len(per_order),
            "duplicates": sum(1 for c in per_order.values() if c > 1),
            "absorbed": stats.get("duplicates_absorbed", 0),
            "dead": client.xlen(dead),
            "victim": victim,
            "victim_pending": victim_pending,
            "recovery_s": (recovered_at - kill_at) if recovered_at and kill_at else None,
            "total_s": finished - t0,
            "pending_left": client.xpending(stream, GROUP)["pending"],
        }

    def _pending_of(self, client: Any, stream: str, consumer: str) -> int:
        summary = client.xpending(stream, GROUP)
        return next((c["pending"] for c in summary["consumers"] if c["name"] == consumer), 0)

    def _kill_one(self, client: Any, stream: str, procs: dict[str, subprocess.Popen]) -> tuple[str, int]:
        """SIGKILL a random live worker that holds pending entries: it dies in the middle of a batch."""
        summary = client.xpending(stream, GROUP)
        busy = {c["name"] for c in summary["consumers"] if c["pending"]}
        alive = [name for name, p in procs.items() if p.poll() is None]
        victim = secrets.choice([n for n in alive if n in busy] or alive)
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait()
        return victim, self._pending_of(client, stream, victim)

    def _report(self, r: dict[str, Any], opt: dict[str, Any]) -> None:
        recovery = f"{r['recovery_s']:.2f} s" if r["recovery_s"] is not None else "NOT RECOVERED"
        rows = [
            ("orders produced", r["produced"]),
            ("poison messages mixed in", r["poison"]),
            ("orders completed", r["completed"]),
            ("orders lost", r["lost"]),
            ("duplicate side effects (orders fulfilled twice)", r["duplicates"]),
            ("redeliveries absorbed by the idempotent handler", r["absorbed"]),
            ("dead-lettered", r["dead"]),
            (f"killed (SIGKILL): {r['victim']}, entries it held", r["victim_pending"]),
            (f"recovery time (kill -> its entries done; claim idle {opt['claim_idle_ms']} ms)", recovery),
            ("total time", f"{r['total_s']:.2f} s ({r['produced'] / r['total_s']:.0f} orders/s)"),
            ("entries still pending at the end", r["pending_left"]),
        ]
        width = max(len(label) for label, _ in rows)
        self.stdout.write("")
        for label, value in rows:
            self.stdout.write(f"  {label:<{width}}  {value}")
        ok = r["lost"] == 0 and r["duplicates"] == 0 and r["completed"] == r["produced"] and r["dead"] == r["poison"]
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("  nothing lost, nothing done twice") if ok
                          else self.style.ERROR("  something was lost or duplicated: see the worker logs"))
        if not ok:
            raise CommandError("lab failed")
