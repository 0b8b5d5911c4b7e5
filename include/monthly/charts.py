"""One capacity chart as inline SVG: the history, the fitted trend, its 95 % band and the thresholds.

matplotlib with the Agg backend (no display needed); the SVG's text stays text (``svg.fonttype: none``)
and carries no random ids, so the same data renders the same bytes.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402 - after the backend is chosen
import matplotlib.pyplot as plt  # noqa: E402

THRESHOLD_COLOURS = {"warning": "#9a6700", "critical": "#cf222e"}


def svg(chart: dict[str, Any]) -> str:
    """The chart of one resource (:func:`include.monthly.capacity.chart_data`'s dict) as an ``<svg>`` element."""
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "aegis", "font.size": 8}):
        fig, ax = plt.subplots(figsize=(6.4, 2.6))
        try:
            _draw(ax, chart)
            out = io.StringIO()
            fig.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
        finally:
            plt.close(fig)
    text = out.getvalue()
    return text[text.index("<svg") :]  # inline: without the XML declaration and doctype


def _draw(ax, chart: dict[str, Any]) -> None:
    history = [(_when(t), v) for t, v in chart["history"]]
    ax.plot([t for t, _ in history], [v for _, v in history], ".", color="#0969da", markersize=3, label="history")
    if chart.get("fit"):
        when = [_when(t) for t, *_ in chart["fit"]]
        ax.plot(when, [p[1] for p in chart["fit"]], "-", color="#1f2328", linewidth=1, label="trend")
        ax.fill_between(
            when,
            [p[2] for p in chart["fit"]],
            [p[3] for p in chart["fit"]],
            color="#8c959f",
            alpha=0.3,
            linewidth=0,
            label="95 % band",
        )
    for level, value in chart.get("thresholds", {}).items():
        ax.axhline(value, color=THRESHOLD_COLOURS.get(level, "#555"), linestyle="--", linewidth=1, label=level)
    ax.set_title(f"{chart['target']} · {chart['metric']}", loc="left")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    ax.tick_params(axis="x", labelrotation=20)
    ax.grid(True, linewidth=0.3)
    ax.legend(loc="upper left", fontsize=7, frameon=False)


def _when(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=UTC)
