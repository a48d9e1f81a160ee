"""Small hand-written SVG charts for the lab results (no plotting library).

Two shapes cover every lab: horizontal grouped bars (one group per
configuration, one bar per measure) and lines over a numeric x axis (a sweep,
or a timeline with vertical markers for events such as "master killed").
The SVG is self-contained (no script, no external font or stylesheet), so a
page can show it in an ``<img>`` and a reader can open the file directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

PALETTE = ["#c6302b", "#2b6cb0", "#2f855a", "#b7791f", "#6b46c1", "#718096", "#d53f8c", "#319795"]
FONT = "font-family=\"ui-sans-serif, system-ui, sans-serif\""


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _nice_max(value: float) -> float:
    """The next "round" number at or above ``value`` (1, 2, 2.5, 5 x 10^n)."""
    if value <= 0:
        return 1.0
    exp = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        top = step * 10**exp
        if top >= value:
            return float(top)
    return float(10 ** (exp + 1))


def _text(x: float, y: float, body: str, *, size: int = 12, anchor: str = "start", weight: str = "normal",
          fill: str = "#222") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="{fill}">{escape(body)}</text>')


def _frame(width: int, height: int, title: str, parts: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" {FONT} role="img" aria-label="{escape(title, {chr(34): "&quot;"})}">'
            f'<rect width="100%" height="100%" fill="#ffffff"/>'
            + _text(12, 22, title, size=15, weight="bold") + "".join(parts) + "</svg>\n")


def bar_chart(title: str, categories: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *,
              unit: str = "", note: str = "", width: int = 760) -> str:
    """Horizontal grouped bars: one group per category, one bar per series; each series has its own scale.

    Args:
        title: the chart's heading.
        categories: group labels (e.g. eviction policies).
        series: ``(name, values)`` pairs, one value per category.  Each series
            is scaled to its own maximum, so measures of different units can
            share a chart; the value is written at the end of each bar.
        unit: appended to the legend when all series share it.
        note: a line of small print under the chart.
    """
    label_w, right_pad, bar_h, gap = 190, 90, 14, 3
    group_h = len(series) * (bar_h + gap) + 10
    top = 40 + 18 * math.ceil(len(series) / 3)
    height = top + group_h * len(categories) + (40 if note else 18)
    plot_w = width - label_w - right_pad
    parts: list[str] = []
    for i, (name, _) in enumerate(series):  # legend
        x, y = 12 + (i % 3) * 245, 40 + 18 * (i // 3)
        parts.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(_text(x + 17, y, f"{name}{' (' + unit + ')' if unit else ''}", size=12))
    maxima = [max((abs(v) for v in values), default=0) or 1.0 for _, values in series]
    for c, category in enumerate(categories):
        y0 = top + c * group_h
        parts.append(_text(label_w - 8, y0 + group_h / 2, category, anchor="end", size=12))
        for s, (_, values) in enumerate(series):
            value = values[c] if c < len(values) else 0
            w = 0 if value is None else plot_w * abs(value) / maxima[s]
            y = y0 + s * (bar_h + gap)
            parts.append(f'<rect x="{label_w}" y="{y:.1f}" width="{max(w, 0.5):.1f}" height="{bar_h}" '
                         f'fill="{PALETTE[s % len(PALETTE)]}" rx="2"/>')
            parts.append(_text(label_w + w + 4, y + bar_h - 3, "-" if value is None else _fmt(value), size=11))
        parts.append(f'<line x1="{label_w}" x2="{label_w + plot_w}" y1="{y0 + group_h - 4:.1f}" '
                     f'y2="{y0 + group_h - 4:.1f}" stroke="#eee"/>')
    if note:
        parts.append(_text(12, height - 12, note, size=11, fill="#555"))
    return _frame(width, height, title, parts)


def line_chart(title: str, series: Sequence[tuple[str, Sequence[tuple[float, float]]]], *, x_label: str,
               y_label: str, markers: Sequence[tuple[float, str]] = (), log_x: bool = False, note: str = "",
               width: int = 760, height: int = 380) -> str:
    """Lines over a numeric x axis, with optional vertical markers.

    Args:
        title: the chart's heading.
        series: ``(name, [(x, y), ...])`` pairs.
        x_label, y_label: axis titles.
        markers: ``(x, label)`` vertical lines (an event, a threshold).
        log_x: a log10 x axis (for sweeps over sizes).
        note: a line of small print under the chart.
    """
    left, right, top, bottom = 70, 20, 50 + 16 * math.ceil(len(series) / 3), 60 + (16 if note else 0)
    plot_w, plot_h = width - left - right, height - top - bottom
    points = [p for _, pts in series for p in pts]
    xs = [x for x, _ in points] + [m for m, _ in markers]
    tx = (lambda v: math.log10(max(v, 1e-9))) if log_x else (lambda v: v)
    x_min, x_max = (min(map(tx, xs)), max(map(tx, xs))) if xs else (0.0, 1.0)
    if x_max == x_min:
        x_max = x_min + 1
    y_top = _nice_max(max((y for _, y in points), default=1.0))

    def px(x: float) -> float:
        return left + plot_w * (tx(x) - x_min) / (x_max - x_min)

    def py(y: float) -> float:
        return top + plot_h * (1 - y / y_top)

    parts = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ccc"/>']
    for i in range(5):  # y grid
        value = y_top * i / 4
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{py(value):.1f}" y2="{py(value):.1f}" '
                     f'stroke="#eee"/>')
        parts.append(_text(left - 6, py(value) + 4, _fmt(value), size=11, anchor="end"))
    if log_x:
        ticks = sorted({x for x, _ in points})
    else:
        step = _nice_max((x_max - x_min) / 8)
        first = math.ceil(x_min / step) * step
        ticks = [first + i * step for i in range(int((x_max - first) / step + 1e-9) + 1)]
    last_px = -1e9
    for t in ticks:
        if px(t) - last_px < 34:  # labels closer than this would overlap
            continue
        last_px = px(t)
        label = f"{t:,.0f}" if abs(t - round(t)) < 1e-9 else _fmt(t)
        parts.append(_text(px(t), top + plot_h + 16, label, size=11, anchor="middle"))
    parts.append(_text(left + plot_w / 2, top + plot_h + 36, x_label, size=12, anchor="middle"))
    parts.append(f'<text x="16" y="{top + plot_h / 2:.1f}" font-size="12" text-anchor="middle" '
                 f'transform="rotate(-90 16 {top + plot_h / 2:.1f})">{escape(y_label)}</text>')
    for i, (x, label) in enumerate(markers):
        parts.append(f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{top}" y2="{top + plot_h}" stroke="#444" '
                     f'stroke-dasharray="4 3"/>')
        parts.append(_text(px(x) + 3, top + 12 + 13 * (i % 3), label, size=11, fill="#444"))
    for s, (name, pts) in enumerate(series):
        color = PALETTE[s % len(PALETTE)]
        if pts:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
            if len(pts) <= 40:
                parts += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{color}"/>' for x, y in pts]
        lx, ly = 12 + (s % 3) * 245, 40 + 16 * (s // 3)
        parts.append(f'<rect x="{lx}" y="{ly - 9}" width="12" height="3" fill="{color}"/>')
        parts.append(_text(lx + 17, ly - 3, name, size=12))
    if note:
        parts.append(_text(12, height - 10, note, size=11, fill="#555"))
    return _frame(width, height, title, parts)


def stack(*svgs: str) -> str:
    """Several charts from this module, one under the other, as one SVG."""
    import re

    sizes = [tuple(int(v) for v in re.search(r'width="(\d+)" height="(\d+)"', s).groups()) for s in svgs]
    width, height = max(w for w, _ in sizes), sum(h for _, h in sizes)
    parts, y = [], 0
    for svg, (_, h) in zip(svgs, sizes, strict=True):
        parts.append(svg.replace("<svg ", f'<svg y="{y}" ', 1).strip())
        y += h
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">' + "".join(parts) + "</svg>\n")
