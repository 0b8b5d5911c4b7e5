"""Small line charts as inline SVG, rendered on the server: one metric of one target over a period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

WIDTH, HEIGHT = 360, 130
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 52, 10, 10, 22


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def line_chart(title: str, points: list[Point], since: datetime, until: datetime) -> str:
    """An SVG line chart of ``points`` on a time axis from ``since`` to ``until``; every point is a circle
    carrying its time and value (``<title>`` for a tooltip, ``data-`` attributes for tests)."""
    span = max((until - since).total_seconds(), 1.0)
    values = [p.value for p in points]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high == low:
        low, high = low - (abs(low) * 0.1 or 1), high + (abs(high) * 0.1 or 1)
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(at: datetime) -> float:
        return PAD_LEFT + plot_w * min(max((at - since).total_seconds() / span, 0.0), 1.0)

    def y(value: float) -> float:
        return PAD_TOP + plot_h * (1 - (value - low) / (high - low))

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart' width='{WIDTH}' height='{HEIGHT}' "
        f"viewBox='0 0 {WIDTH} {HEIGHT}' role='img' aria-label={quoteattr(title)} data-metric={quoteattr(title)}>",
        f"<rect x='{PAD_LEFT}' y='{PAD_TOP}' width='{plot_w}' height='{plot_h}' fill='#f6f8fa' stroke='#d0d7de'/>",
        f"<text x='{PAD_LEFT - 4}' y='{PAD_TOP + 9}' text-anchor='end' font-size='10'>{_fmt(high)}</text>",
        f"<text x='{PAD_LEFT - 4}' y='{PAD_TOP + plot_h}' text-anchor='end' font-size='10'>{_fmt(low)}</text>",
        f"<text x='{PAD_LEFT}' y='{HEIGHT - 6}' font-size='10'>{since:%m-%d}</text>",
        f"<text x='{WIDTH - PAD_RIGHT}' y='{HEIGHT - 6}' text-anchor='end' font-size='10'>{until:%m-%d}</text>",
    ]
    if len(points) > 1:
        path = " ".join(f"{x(p.at):.1f},{y(p.value):.1f}" for p in points)
        parts.append(f"<polyline fill='none' stroke='#0969da' stroke-width='1.5' points='{path}'/>")
    for p in points:
        label = f"{p.at:%Y-%m-%d %H:%M} UTC: {_fmt(p.value)}"
        parts.append(
            f"<circle class='point' cx='{x(p.at):.1f}' cy='{y(p.value):.1f}' r='3' fill='#0969da' "
            f"data-at='{p.at:%Y-%m-%dT%H:%M:%SZ}' data-value='{p.value!r}'>"
            f"<title>{escape(label)}</title></circle>"
        )
    if not points:
        parts.append(
            f"<text x='{PAD_LEFT + plot_w / 2}' y='{PAD_TOP + plot_h / 2}' text-anchor='middle' "
            f"font-size='11'>no data</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


PERIODS = {"7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}
