"""Notifications fan-out: N WebSocket clients, one broadcast; and publish-to-client latency.

    python -m bench realtime_fanout [--clients 100,1000] [--pairs 7] [--latency-events 200]

Everything real, in separate processes:

- a private ``redis-server`` (the channel layer, the event streams);
- the ASGI app served by ``uvicorn`` (one worker process, ``websockets-sansio``);
- a **publisher** process: Django set up like a stream worker, calling the
  sync ``realtime.services.publish_event`` on command (as the order worker
  does with ``order.owner``);
- this process: N WebSocket clients (asyncio, ``websockets``), all connected
  to ``/ws/notifications/``; client 0 carries a session cookie, so it alone
  follows that session's audience.

Per N, alternating pairs (A B A B ...):

- A, **broadcast**: one ``publish_event("public", "broadcast", ...)``; every
  client should get it.  Per client, latency = receive time - publish time
  (both ``time.time_ns()`` on this machine).  Reported: the time until the
  *last* client has it, p50/p99 over clients, and clients that never got it
  within the timeout (lost).
- B, **one recipient** (the baseline): ``publish_event("session:<key>",
  "order.status", ...)`` to client 0 only, with the same N sockets open.

The ratio A(last client) / B per pair says what fanning out to N costs over
delivering to one, under the same load.  Then ``--latency-events`` B events,
one at a time, give the event latency from a publish in another process to a
client, p50/p99.

The machine has 2 cores shared by the server, the clients, the publisher and
Redis (and, while this ran, by other engineers' work): absolute numbers are
noisy; the ratio and the loss count are the claims.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent


# --- the publisher process ---------------------------------------------------------------


def publisher() -> None:
    """Read ``<audience> <type>`` lines on stdin; publish each; print the event id."""
    import django

    django.setup()
    from realtime.services import publish_event

    for line in sys.stdin:
        audience, type_ = line.split()
        data = {"message": "bench", "level": "info"} if type_ == "broadcast" else {"order_id": 0, "status": "bench"}
        data["sent_ns"] = time.time_ns()
        event_id = publish_event(audience, type_, data)
        sys.stdout.write(event_id + "\n")
        sys.stdout.flush()


# --- helpers --------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def spread(values: list[float]) -> str:
    if len(values) < 2:
        return "-"
    q = statistics.quantiles(values, n=4)
    return f"{q[0]:.2f}–{q[2]:.2f}"


class Clients:
    """N WebSocket clients; every event they receive is timed."""

    def __init__(self, url: str, origin: str, session_key: str) -> None:
        self.url, self.origin, self.session_key = url, origin, session_key
        self.received: dict[str, list[int]] = {}  # event id -> latency ns per receiving client
        self.duplicates = 0
        self.sockets: list = []
        self.tasks: list[asyncio.Task] = []
        self.waiters: dict[str, tuple[int, asyncio.Future]] = {}

    async def open(self, n: int, progress: tqdm) -> None:
        from websockets.asyncio.client import connect

        semaphore = asyncio.Semaphore(50)

        async def one(i: int) -> None:
            headers = {"Cookie": f"sessionid={self.session_key}"} if i == 0 else None
            async with semaphore:
                ws = await connect(self.url, origin=self.origin, additional_headers=headers, open_timeout=60,
                                   max_queue=None, ping_interval=None)
                ready = json.loads(await ws.recv())
                assert ready["type"] == "ready", ready
            self.sockets.append(ws)
            self.tasks.append(asyncio.create_task(self._read(ws)))
            progress.update()

        await asyncio.gather(*(one(i) for i in range(n)))

    async def _read(self, ws) -> None:
        seen: set[str] = set()
        async for raw in ws:
            now = time.time_ns()
            message = json.loads(raw)
            event_id = message.get("id")
            if not event_id:
                continue
            if event_id in seen:
                self.duplicates += 1
                continue
            seen.add(event_id)
            latencies = self.received.setdefault(event_id, [])
            latencies.append(now - message["sent_ns"])
            waiter = self.waiters.get(event_id)
            if waiter and len(latencies) >= waiter[0] and not waiter[1].done():
                waiter[1].set_result(None)

    async def wait(self, event_id: str, expected: int, timeout: float) -> list[int]:
        future = asyncio.get_running_loop().create_future()
        self.waiters[event_id] = (expected, future)
        if len(self.received.get(event_id, [])) >= expected:
            future.set_result(None)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            pass
        self.waiters.pop(event_id, None)
        return list(self.received.get(event_id, []))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


class Publisher:
    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.realtime_fanout", "--publisher"], cwd=ROOT,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    async def publish(self, audience: str, type_: str) -> str:
        def call() -> str:
            self.proc.stdin.write(f"{audience} {type_}\n")
            self.proc.stdin.flush()
            return self.proc.stdout.readline().strip()

        return await asyncio.to_thread(call)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


# --- the benchmark ----------------------------------------------------------------------------


async def measure(n: int, *, url: str, origin: str, session_key: str, publisher: Publisher, pairs: int,
                  latency_events: int, timeout: float, settle: float = 0.2) -> dict:
    clients = Clients(url, origin, session_key)
    t0 = time.perf_counter()
    with tqdm(total=n, desc=f"connect {n}", file=sys.stderr, leave=False) as progress:
        await clients.open(n, progress)
    connect_s = time.perf_counter() - t0
    own = f"session:{session_key}"
    # Warm-up: one of each, not counted.
    for audience, type_, expected in (("public", "broadcast", n), (own, "order.status", 1)):
        await clients.wait(await publisher.publish(audience, type_), expected, timeout)

    rows = []
    for _ in tqdm(range(pairs), desc=f"pairs at N={n}", file=sys.stderr, leave=False):
        broadcast_id = await publisher.publish("public", "broadcast")
        fan = await clients.wait(broadcast_id, n, timeout)
        await asyncio.sleep(settle)  # let the server go idle so B does not measure A's tail
        solo_id = await publisher.publish(own, "order.status")
        solo = await clients.wait(solo_id, 1, timeout)
        await asyncio.sleep(settle)
        rows.append({
            "last_ms": max(fan) / 1e6 if fan else float("nan"),
            "p50_ms": percentile(fan, 50) / 1e6,
            "p99_ms": percentile(fan, 99) / 1e6,
            "lost": n - len(fan),
            "solo_ms": solo[0] / 1e6 if solo else float("nan"),
            "solo_lost": 1 - len(solo),
        })
    latencies = []
    for _ in tqdm(range(latency_events), desc=f"latency at N={n}", file=sys.stderr, leave=False):
        got = await clients.wait(await publisher.publish(own, "order.status"), 1, timeout)
        latencies.extend(got)
    duplicates = clients.duplicates
    await clients.close()
    return {"n": n, "connect_s": connect_s, "rows": rows, "latency_ns": latencies, "duplicates": duplicates,
            "latency_lost": latency_events - len(latencies)}


def _start_server(env: dict[str, str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--ws", "websockets-sansio", "--lifespan", "off", "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=env,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("uvicorn did not start") from None
            time.sleep(0.1)  # polling a starting process, with a deadline


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="100,1000", help="comma-separated N values")
    parser.add_argument("--pairs", type=int, default=11)
    parser.add_argument("--latency-events", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a missing message counts as lost")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.clients.split(",")]

    from redis_patterns.servers import RedisServer, free_port

    results = []
    with RedisServer(name="bench-realtime", config={"maxclients": "10000"}) as server:
        env = {**os.environ, "REDIS_URL": server.url, "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-" + "k" * 50),
               "VAR_DIR": tempfile.mkdtemp(prefix="bench-var-"), "DJANGO_SETTINGS_MODULE": "config.settings",
               "ALLOWED_HOSTS": "127.0.0.1", "DEBUG": "0", "REDIS_KEY_PREFIX": "bench", "LOG_LEVEL": "WARNING",
               # every client comes from 127.0.0.1 and none heartbeats: lift the per-address cap and idle close
               "REALTIME_MAX_SOCKETS_PER_CLIENT": "100000", "REALTIME_SOCKET_IDLE_SECONDS": "3600"}
        for name in ("REDIS_SENTINELS", "REDIS_CLUSTER_NODES", "CHANNEL_REDIS_URL"):
            env.pop(name, None)
        os.environ.update({k: env[k] for k in ("REDIS_URL", "SECRET_KEY", "VAR_DIR", "DJANGO_SETTINGS_MODULE",
                                               "ALLOWED_HOSTS", "DEBUG", "REDIS_KEY_PREFIX")})
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        from django.contrib.sessions.backends.db import SessionStore

        store = SessionStore()
        store.create()
        port = free_port()
        web = _start_server(env, port)
        publisher = Publisher(env)
        try:
            for n in sizes:
                results.append(asyncio.run(measure(
                    n, url=f"ws://127.0.0.1:{port}/ws/notifications/", origin=f"http://127.0.0.1:{port}",
                    session_key=store.session_key, publisher=publisher, pairs=args.pairs,
                    latency_events=args.latency_events, timeout=args.timeout)))
        finally:
            publisher.close()
            web.terminate()
            web.wait(timeout=10)
    return report(results, args)


def report(results: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "Setup: one uvicorn worker (`websockets-sansio`), channels-redis core layer and the event streams on a "
        "private redis-server, a publisher process calling the sync `publish_event` (as a stream worker does), "
        "and all N clients in one asyncio process. Client, server, publisher and Redis share the machine's 2 "
        "cores (shared with other work while this ran): absolute times are noisy, the ratio and the loss count "
        "are the claims.",
        "",
        f"### Fan-out: one broadcast to N clients ({args.pairs} alternating pairs per N; median, IQR)",
        "",
        "| N | connect all (s) | last client has it (ms) | p50 over clients (ms) | p99 over clients (ms) "
        "| lost | one recipient, same load (ms) | last client / one recipient |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        rows = res["rows"]
        last = [r["last_ms"] for r in rows]
        solo = [r["solo_ms"] for r in rows]
        ratio = [r["last_ms"] / r["solo_ms"] for r in rows if r["solo_ms"] > 0]
        lost = sum(r["lost"] + r["solo_lost"] for r in rows)
        lines.append(
            f"| {res['n']:,} | {res['connect_s']:.1f} | {statistics.median(last):.1f} ({spread(last)}) "
            f"| {statistics.median([r['p50_ms'] for r in rows]):.1f} | {statistics.median([r['p99_ms'] for r in rows]):.1f} "
            f"| {lost} of {len(rows) * (res['n'] + 1):,} | {statistics.median(solo):.1f} ({spread(solo)}) "
            f"| {statistics.median(ratio):.1f}× ({spread(ratio)}) |")
    lines += [
        "",
        f"### Event latency: publish in another process -> one client ({args.latency_events} events, one at a time)",
        "",
        "| N sockets open | p50 (ms) | p99 (ms) | max (ms) | lost | duplicates |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        lat = [x / 1e6 for x in res["latency_ns"]]
        lines.append(f"| {res['n']:,} | {percentile(lat, 50):.2f} | {percentile(lat, 99):.2f} | {max(lat):.2f} "
                     f"| {res['latency_lost']} | {res['duplicates']} |")
    lines += [
        "",
        "Latency is measured from just before the publisher's `publish_event` call (append to the stream, then "
        "`group_send` on the process's long-lived send loop) to the client parsing the frame. The broadcast "
        "cost grows with N because one server process writes N frames (and one client process parses them): "
        "both are single Python processes on a shared 2-core machine. Scale-out is more uvicorn workers behind "
        "the same channel layer; each worker's sockets get one copy of a group message per process.",
        "",
        "Per-pair rows (N, last client ms, solo ms, lost):",
        "",
        "```",
    ]
    for res in results:
        for r in res["rows"]:
            lines.append(f"N={res['n']:>5}  last={r['last_ms']:8.1f}  solo={r['solo_ms']:7.2f}  lost={r['lost']}")
    lines.append("```")
    return "\n".join(lines)


if __name__ == "__main__":
    if "--publisher" in sys.argv:
        publisher()
