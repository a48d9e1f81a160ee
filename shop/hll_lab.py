"""HyperLogLog vs an exact set, measured on a real server: error and memory from 1k to 1M distinct items.

``hll_measure`` adds distinct ids in pipelined batches (``PFADD``/``SADD``
of 1,000 ids per command) and, at each checkpoint, reads ``PFCOUNT``,
``SCARD`` and ``MEMORY USAGE`` of both.  Several trials (different ids)
show the spread of the error, which the course puts at 0.81% (1.04 / √16384).
``svg`` draws the result; ``python manage.py hll_chart`` writes it to
``docs/hll_error.svg`` and the benchmark prints the same figures.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shop import keys

CHECKPOINTS = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000)
STANDARD_ERROR = 1.04 / math.sqrt(16384)
BATCH = 1000


@dataclass
class Point:
    n: int
    estimates: list[int] = field(default_factory=list)
    hll_bytes: int = 0
    set_bytes: int = 0

    @property
    def errors_pct(self) -> list[float]:
        return [100.0 * (e - self.n) / self.n for e in self.estimates]

    @property
    def mean_abs_error_pct(self) -> float:
        return sum(abs(e) for e in self.errors_pct) / len(self.errors_pct)


def hll_measure(client: Any, *, checkpoints: tuple[int, ...] = CHECKPOINTS, trials: int = 3,
                progress: Callable[[int], None] | None = None) -> list[Point]:
    """Add ids up to the last checkpoint in every trial; measure at each checkpoint. Cleans up after itself."""
    hlls, exact = keys.hll_lab_keys(trials)
    client.delete(exact, *hlls)
    points = [Point(n) for n in checkpoints]
    run = secrets.token_hex(4)
    try:
        for trial, hll in enumerate(hlls):
            added = 0
            for point in points:
                pipe = client.pipeline(transaction=False)
                while added < point.n:
                    batch = [f"{run}-{trial}-{i}" for i in range(added, min(point.n, added + BATCH))]
                    pipe.pfadd(hll, *batch)
                    if trial == 0:  # one exact set is enough: its size does not depend on the ids
                        pipe.sadd(exact, *batch)
                    added += len(batch)
                    if len(pipe) >= 50:
                        pipe.expire(hll, 600)
                        pipe.expire(exact, 600)
                        pipe.execute()
                        pipe = client.pipeline(transaction=False)
                pipe.expire(hll, 600)
                pipe.expire(exact, 600)
                pipe.pfcount(hll)
                pipe.memory_usage(hll)
                if trial == 0:
                    pipe.memory_usage(exact, samples=0)  # every element: exact, O(N)
                replies = pipe.execute()
                if trial == 0:
                    point.hll_bytes, point.set_bytes = replies[-2], replies[-1]
                    point.estimates.append(replies[-3])
                else:
                    point.estimates.append(replies[-2])
                if progress:
                    progress(point.n)
    finally:
        client.delete(exact, *hlls)
    return points


def svg(points: list[Point], *, title: str = "") -> str:
    """Two panels: the error (each trial, and ±0.81%) and the memory (log scale) against the count."""
    width, height, pad = 760, 300, 48
    panel = (width - 3 * pad) / 2
    lo, hi = math.log10(points[0].n), math.log10(points[-1].n)

    def x(n: int, left: float) -> float:
        return left + (math.log10(n) - lo) / (hi - lo) * panel

    top, bottom = 40, height - 40
    max_err = max(3.0, max(abs(e) for p in points for e in p.errors_pct) * 1.2)

    def ey(err: float) -> float:
        return top + (max_err - err) / (2 * max_err) * (bottom - top)

    mem_lo = math.log10(min(p.hll_bytes for p in points if p.hll_bytes) / 2)
    mem_hi = math.log10(max(p.set_bytes for p in points) * 2)

    def my(b: float) -> float:
        return bottom - (math.log10(max(b, 1)) - mem_lo) / (mem_hi - mem_lo) * (bottom - top)

    left1, left2 = pad, 2 * pad + panel
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="chart" role="img" '
           f'aria-label="HyperLogLog error and memory against an exact set, {points[0].n:,} to {points[-1].n:,} items">',
           '<style>text{font:11px sans-serif;fill:#444}.t{font-weight:bold}.ax{stroke:#bbb}.se{stroke:#c6302b;'
           'stroke-dasharray:4 3}.z{stroke:#ddd}.e{fill:#c6302b}.m{fill:none;stroke:#c6302b;stroke-width:2}'
           '.s{fill:none;stroke:#555;stroke-width:2}</style>',
           f'<text class="t" x="{pad}" y="16">{title}</text>',
           f'<text class="t" x="{left1}" y="32">HLL error (each trial) vs ±{100 * STANDARD_ERROR:.2f}%</text>',
           f'<text class="t" x="{left2}" y="32">Memory (log scale): HLL (red) vs exact set (grey)</text>']
    for left in (left1, left2):
        out.append(f'<line class="ax" x1="{left}" y1="{bottom}" x2="{left + panel}" y2="{bottom}"/>')
        out.append(f'<line class="ax" x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/>')
        for p in points:
            if p.n in (1_000, 10_000, 100_000, 1_000_000):
                label = f"{p.n // 1000}k" if p.n < 1_000_000 else "1M"
                out.append(f'<text x="{x(p.n, left):.1f}" y="{bottom + 14}" text-anchor="middle">{label}</text>')
    for err in (-max_err, 0.0, max_err):
        out.append(f'<text x="{left1 - 4}" y="{ey(err) + 4:.1f}" text-anchor="end">{err:+.1f}%</text>')
    out.append(f'<line class="z" x1="{left1}" y1="{ey(0):.1f}" x2="{left1 + panel}" y2="{ey(0):.1f}"/>')
    for sign in (1, -1):
        y = ey(sign * 100 * STANDARD_ERROR)
        out.append(f'<line class="se" x1="{left1}" y1="{y:.1f}" x2="{left1 + panel}" y2="{y:.1f}"/>')
    for p in points:
        for err in p.errors_pct:
            out.append(f'<circle class="e" cx="{x(p.n, left1):.1f}" cy="{ey(err):.1f}" r="3">'
                       f'<title>{p.n:,}: {err:+.2f}%</title></circle>')
    hll_line = " ".join(f"{x(p.n, left2):.1f},{my(p.hll_bytes):.1f}" for p in points)
    set_line = " ".join(f"{x(p.n, left2):.1f},{my(p.set_bytes):.1f}" for p in points)
    out.append(f'<polyline class="m" points="{hll_line}"/><polyline class="s" points="{set_line}"/>')
    for b, label in ((1e3, "1 KB"), (1.2e4, "12 KB"), (1e6, "1 MB"), (1e7, "10 MB")):
        if mem_lo <= math.log10(b) <= mem_hi:
            out.append(f'<text x="{left2 - 4}" y="{my(b) + 4:.1f}" text-anchor="end">{label}</text>')
    last = points[-1]
    out.append(f'<text x="{left2 + panel}" y="{my(last.set_bytes) - 6:.1f}" text-anchor="end">set: '
               f'{last.set_bytes / 1e6:.1f} MB</text>')
    out.append(f'<text x="{left2 + panel}" y="{my(last.hll_bytes) - 6:.1f}" text-anchor="end">HLL: '
               f'{last.hll_bytes / 1024:.1f} KB</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def table(points: list[Point]) -> list[str]:
    rows = [f"{'items':>10} {'estimates (each trial)':>32} {'mean |error|':>13} {'HLL bytes':>10} {'set bytes':>12}"]
    for p in points:
        rows.append(f"{p.n:>10,} {', '.join(f'{e:,}' for e in p.estimates):>32} {p.mean_abs_error_pct:>12.2f}% "
                    f"{p.hll_bytes:>10,} {p.set_bytes:>12,}")
    return rows
