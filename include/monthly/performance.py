"""Performance, month over month, from the catalog: latency, slow statements, cache hit ratios, errors and
connections of every target, this month against the month before, with change and direction; and
Aegis's own routines: runs and the verdicts/outcomes they ended with. Reads only the catalog.

Counters (``*_total``) are compared by how much they grew within each month; other metrics by their
mean. For hit ratios higher is better; for everything else here lower is better.

Log error signatures (``logs.signature.<id>``, one count per daily run) are compared by their sum over
each month, the :data:`TOP_SIGNATURES` largest of either month shown with their text
(``details["signatures"]``), the rest of them in one "more signatures" row. A daily run records every
signature up to the source's ``signature_metrics``, the lines of any further ones summed into
``logs.signature.other``: when that bucket is empty in both months every count is exact
(``details["signatures_exact"]``); otherwise the report shows the bucket as its own row and says the
per-signature counts are lower bounds by at most that many lines.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from statistics import mean
from typing import Any

from include.catalog import iso
from include.checks.base import WARNING, CheckResult
from include.checks.logs import OTHER_SIGNATURES, SIGNATURE_METRIC

WATCHED = re.compile(
    r"latency|_ms$|slow|hit_ratio|hit_pct|error|connection|threads_connected|clients|deadlock"
    r"|rejected|evict"
)
HIGHER_IS_BETTER = re.compile(r"hit_ratio|hit_pct")
#: A change this big (percent) in the worse direction is a warning.
WORSE_PCT = 25.0
#: States a routine's run ends in that count as a failure.
FAILED_STATES = {"critical", "failed", "rolled-back", "rollback-failed", "not-run"}
#: Log error signatures shown per target (the largest this month or last month).
TOP_SIGNATURES = 10


def month_value(metric: str, values: list[float]) -> float | None:
    if not values:
        return None
    return values[-1] - values[0] if metric.endswith("_total") else mean(values)


def compare(
    metric: str, series: list[tuple[str, float]], previous_start: datetime, start: datetime, end: datetime
) -> dict[str, Any]:
    """This month's value (mean, or growth of a counter) against last month's: change, percent, direction."""
    this = month_value(metric, [v for at, v in series if iso(start) <= at < iso(end)])
    last = month_value(metric, [v for at, v in series if iso(previous_start) <= at < iso(start)])
    row: dict[str, Any] = {"metric": metric, "this_month": _round(this), "last_month": _round(last)}
    if this is None or last is None:
        return {**row, "direction": "no comparison"}
    change = this - last
    pct = 100.0 * change / abs(last) if last else None
    better = (change > 0) == bool(HIGHER_IS_BETTER.search(metric))
    direction = "same" if abs(change) < 1e-9 else ("better" if better else "worse")
    return {
        **row,
        "change": _round(change),
        "change_pct": None if pct is None else round(pct, 1),
        "direction": direction,
    }


def target_performance(catalog, target, previous_start: datetime, start: datetime, end: datetime) -> dict[str, Any]:
    result = CheckResult(target.name, target.kind, concern="performance")
    rows = []
    names = catalog.metric_names(target.name, previous_start)
    for metric in names:
        if WATCHED.search(metric) and not metric.startswith(SIGNATURE_METRIC):
            series = catalog.series(target.name, metric, previous_start)
            rows.append(compare(metric, series, previous_start, start, end))
    for r in rows:
        if r["direction"] == "worse" and (r["change_pct"] is None or abs(r["change_pct"]) >= WORSE_PCT):
            pct = "from 0" if r["change_pct"] is None else f"{r['change_pct']:+g}%"
            result.add(WARNING, f"{r['metric']}: {r['last_month']} → {r['this_month']} ({pct}) month over month")
    result.details["month_over_month"] = sorted(rows, key=lambda r: (r["direction"] != "worse", r["metric"]))
    ids = [m[len(SIGNATURE_METRIC) :] for m in names if m.startswith(SIGNATURE_METRIC)]
    if ids:
        rows = signatures(catalog, target.name, ids, previous_start, start, end)
        result.details["signatures"] = rows
        result.details["signatures_exact"] = not any(r["id"] == OTHER_SIGNATURES for r in rows)
    return result.to_dict()


def signatures(
    catalog, target: str, ids: list[str], previous_start: datetime, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """The log error signatures with the most errors this month or last month: their text, each month's
    count (the sum of the daily counts), the change and its direction (fewer errors is better). The ones
    beyond :data:`TOP_SIGNATURES` are summed into one row (id ``more``); the lines a day did not record one by
    one (its ``other`` bucket) are the last row (id ``other``), shown whenever either month has some."""
    texts = catalog.signature_texts(ids)
    rows, other = [], None
    for sid in ids:
        series = catalog.series(target, SIGNATURE_METRIC + sid, previous_start)
        this = sum(v for at, v in series if iso(start) <= at < iso(end))
        last = sum(v for at, v in series if iso(previous_start) <= at < iso(start))
        if sid == OTHER_SIGNATURES:
            other = _signature_row(
                "(other signatures: beyond the source's signature_metrics in a day, counted together; the"
                " counts above are lower bounds by at most this many lines)",
                sid,
                this,
                last,
            )
        elif this or last:
            rows.append(_signature_row(texts.get(sid, f"(text not recorded: {sid})"), sid, this, last))
    rows.sort(key=lambda r: (-max(r["this_month"], r["last_month"]), r["signature"]))
    shown, rest = rows[:TOP_SIGNATURES], rows[TOP_SIGNATURES:]
    if rest:
        this, last = sum(r["this_month"] for r in rest), sum(r["last_month"] for r in rest)
        shown.append(_signature_row(f"({len(rest)} more signatures, not shown one by one)", "more", this, last))
    if other is not None and (other["this_month"] or other["last_month"]):
        shown.append(other)
    return shown


def _signature_row(text: str, sid: str, this: float, last: float) -> dict[str, Any]:
    change = this - last
    return {
        "signature": text,
        "id": sid,
        "this_month": this,
        "last_month": last,
        "change": change,
        "change_pct": round(100.0 * change / last, 1) if last else None,
        "direction": "same" if change == 0 else ("worse" if change > 0 else "better"),
    }


def routines(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Aegis's own runs of the month per routine: how many, how they ended, how many failed."""
    by_routine: dict[str, Counter] = {}
    for run in runs:
        by_routine.setdefault(run["routine"], Counter())[run["status"]] += 1
    return [
        {
            "routine": name,
            "runs": sum(states.values()),
            "states": dict(states),
            "failures": sum(n for s, n in states.items() if s in FAILED_STATES),
        }
        for name, states in sorted(by_routine.items())
    ]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
