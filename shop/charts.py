"""Small server-drawn SVG charts for the data-structure pages (no JavaScript, no CDN).

Each function returns plain numbers for a template to draw: bars with their
x, y, width and height, or a polyline's points, inside a ``width`` x
``height`` box with a margin for labels.
"""

from __future__ import annotations

from typing import Any

LEFT, BOTTOM, TOP = 36, 18, 8


def bars(values: list[float], labels: list[str], *, width: int = 640, height: int = 160,
         label_every: int = 1) -> dict[str, Any]:
    """A bar chart: ``{"bars": [{"x", "y", "w", "h", "value", "label", "show_label"}], "max", "width", "height"}``."""
    top = max(values, default=0) or 1
    plot_w, plot_h = width - LEFT, height - BOTTOM - TOP
    step = plot_w / max(1, len(values))
    out = []
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        h = plot_h * value / top
        out.append({"x": round(LEFT + i * step + 1, 1), "y": round(TOP + plot_h - h, 1), "w": round(max(1.0, step - 2), 1),
                    "h": round(h, 1), "value": value, "label": label, "show_label": i % label_every == 0,
                    "cx": round(LEFT + i * step + step / 2, 1)})
    return {"bars": out, "max": top, "width": width, "height": height, "base": TOP + plot_h, "left": LEFT,
            "top": TOP}


def line(values: list[float], labels: list[str], *, width: int = 640, height: int = 160,
         top_value: float | None = None) -> dict[str, Any]:
    """A line chart: ``{"points": "x,y x,y ...", "dots": [...], "max", ...}``."""
    top = top_value or max(values, default=0) or 1
    plot_w, plot_h = width - LEFT - 12, height - BOTTOM - TOP  # room for the last label
    step = plot_w / max(1, len(values) - 1)
    dots = [{"x": round(LEFT + i * step, 1), "y": round(TOP + plot_h - plot_h * v / top, 1), "value": v, "label": lab}
            for i, (v, lab) in enumerate(zip(values, labels, strict=True))]
    return {"points": " ".join(f"{d['x']},{d['y']}" for d in dots), "dots": dots, "max": top, "width": width,
            "height": height, "base": TOP + plot_h, "left": LEFT, "top": TOP}


def world(points: list[dict[str, Any]], *, width: int = 720, height: int = 360) -> list[dict[str, Any]]:
    """Equirectangular projection of ``{"lon", "lat", ...}`` points into a ``width`` x ``height`` map."""
    return [{**p, "x": round((p["lon"] + 180) / 360 * width, 1), "y": round((90 - p["lat"]) / 180 * height, 1)}
            for p in points]
