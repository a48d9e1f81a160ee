"""A small HTTP/1.1 load client on raw asyncio streams (no third-party client), run as its own process.

    python -m bench.httpload --port 8000 --paths /a /b --requests 600 --concurrency 16

``--concurrency`` keep-alive connections each send requests back to back,
taking paths round-robin from the list; it prints one JSON object: per-request
latencies (ms), wall time, status counts, ``X-Cache`` counts and the
``Server-Timing`` round-trip counts seen.  Used by ``bench/shop_cache.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections import Counter

_RTT = re.compile(rb'redis;dur=[0-9.]+;desc="(\d+) cmds, (\d+) rtt"')


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str) -> tuple[int, dict]:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            name, value = line.split(b":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get(b"content-length", b"0"))
    if length:
        await reader.readexactly(length)
    return status, headers


async def run(host: str, port: int, paths: list[str], requests: int, concurrency: int, warmup: int) -> dict:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    xcache: Counter[str] = Counter()
    rtts: Counter[int] = Counter()
    counter = iter(range(requests))

    warmed = 0

    async def worker(index: int) -> None:
        nonlocal warmed
        reader, writer = await asyncio.open_connection(host, port)
        for i in range(warmup):
            await _one(reader, writer, host, paths[(index + i * concurrency) % len(paths)])
        warmed += 1
        if warmed == concurrency:
            all_warm.set()
        await ready.wait()
        for n in counter:
            path = paths[n % len(paths)]
            t0 = time.perf_counter_ns()
            status, headers = await _one(reader, writer, host, path)
            latencies.append((time.perf_counter_ns() - t0) / 1e6)
            statuses[status] += 1
            xcache[headers.get(b"x-cache", b"-").decode()] += 1
            match = _RTT.search(headers.get(b"server-timing", b""))
            if match:
                rtts[int(match.group(2))] += 1
        writer.close()

    ready, all_warm = asyncio.Event(), asyncio.Event()
    tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    await all_warm.wait()  # every connection open (and warmed up): start the clock
    t0 = time.perf_counter()
    ready.set()
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - t0
    return {"latencies_ms": latencies, "wall_s": wall, "statuses": dict(statuses), "xcache": dict(xcache),
            "rtts": {str(k): v for k, v in rtts.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--paths", nargs="+", required=True)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=0, help="requests per connection before timing starts")
    args = parser.parse_args()
    result = asyncio.run(run(args.host, args.port, args.paths, args.requests, args.concurrency, args.warmup))
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main()
