"""Week-over-week trends from the catalog's metrics.

For every target and every metric the catalog holds for it (the daily checks' and the
weekly maintenance's), the latest value recorded in the week that ends at the run's
interval end is compared with the latest value of the week before: change and percent.

Growth that matters is highlighted as a warning: sizes (bytes, memory, disk, rows, keys),
connections, errors (errors, slow queries, evictions, long queries) and latency, when it
grew by at least ``growth_pct`` percent (``_pct`` metrics: by ``growth_points``
percentage points). Cumulative counters (``*_total``, uptime) and ratios where higher is
better (hit ratios) are shown but never flagged. A metric without a value in one of the two
weeks is listed as "no comparison". Reads only the catalog.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from include.catalog import iso
from include.checks.base import WARNING, CheckResult

WEEK = timedelta(days=7)
GROWTH_PCT = 20.0
GROWTH_POINTS = 10.0
#: What counts as growth that matters, by category (the first matching pattern names it).
WATCHED: tuple[tuple[str, re.Pattern], ...] = (
    (
        "errors",
        re.compile(
            r"error|slow|evict|unreachable|fail|long_quer|idle_in_transaction|deadlock|oom_kill"
            r"|rejected"
        ),
    ),
    ("connections", re.compile(r"connection|threads_connected|clients")),
    ("latency", re.compile(r"latency|_ms$|lag_s$|transaction_s$|duration")),
    ("sizes", re.compile(r"size|bytes|memory|disk|inode|rows|keys|biggest_key|xid_age|wal_mb|used_pct")),
)
NEVER_FLAGGED = re.compile(r"_total$|uptime|hit_ratio|hit_pct")


def category(metric: str) -> str | None:
    """The growth category of ``metric`` (errors, connections, latency, sizes), None when growth is not a concern."""
    base = re.sub(r"\[.*\]$", "", metric)  # by the metric, not its item: a table named "errors" is a size
    if NEVER_FLAGGED.search(base):
        return None
    return next((name for name, pattern in WATCHED if pattern.search(base)), None)


def compare(series: list[tuple[str, float]], end: datetime) -> dict[str, Any] | None:
    """Latest value of the week ending at ``end`` against the latest of the week before (None if either is empty)."""
    this_start, previous_start = iso(end - WEEK), iso(end - 2 * WEEK)
    this = [(at, v) for at, v in series if this_start < at <= iso(end)]
    before = [(at, v) for at, v in series if previous_start < at <= this_start]
    if not this or not before:
        return None
    (current_at, current), (previous_at, previous) = this[-1], before[-1]
    change = current - previous
    return {
        "previous": previous,
        "previous_at": previous_at,
        "current": current,
        "current_at": current_at,
        "change": round(change, 4),
        "change_pct": round(100.0 * change / abs(previous), 1) if previous else None,
    }


def is_percentage(metric: str) -> bool:
    """``*_pct`` metrics (also per item, ``host.disk_pct[/]``): their growth is measured in points."""
    return metric.endswith("_pct") or "_pct[" in metric


def is_big_growth(
    metric: str, row: dict[str, Any], growth_pct: float = GROWTH_PCT, growth_points: float = GROWTH_POINTS
) -> bool:
    """Whether a compared metric grew enough, in a category where growth matters, to be highlighted."""
    if category(metric) is None or row["change"] <= 0:
        return False
    if is_percentage(metric):
        return row["change"] >= growth_points
    if row["previous"] == 0:
        return True  # from nothing to something: errors that were not there last week
    return row["change_pct"] >= growth_pct


def target_trends(
    catalog, target: str, kind: str, end: datetime, growth_pct: float = GROWTH_PCT, growth_points: float = GROWTH_POINTS
) -> CheckResult:
    """Week-over-week changes of every metric of one target, big growth as warnings."""
    result = CheckResult(target, kind)
    since = end - 2 * WEEK
    rows, uncompared = [], []
    for metric in catalog.metric_names(target, since):
        row = compare(catalog.series(target, metric, since), end)
        if row is None:
            uncompared.append(metric)
            continue
        row.update(
            metric=metric, category=category(metric), flagged=is_big_growth(metric, row, growth_pct, growth_points)
        )
        rows.append(row)
        if row["flagged"]:
            pct = (
                f"{row['change']:+g} points"
                if is_percentage(metric)
                else f"{row['change_pct']:+g}%"
                if row["change_pct"] is not None
                else "from 0"
            )
            result.add(
                WARNING,
                f"{metric} ({row['category']}) grew {pct} week over week: {row['previous']:g} → {row['current']:g}",
            )
    result.details["changes"] = sorted(rows, key=lambda r: (not r["flagged"], r["metric"]))
    result.details["no_comparison"] = uncompared
    if not rows:
        result.details["note"] = (
            "no metric has values in both of the last two weeks: nothing to compare yet"
            if uncompared
            else "no metrics recorded in the last two weeks"
        )
    return result


def week_over_week(catalog, targets: list[tuple[str, str]], end: datetime, **limits) -> list[dict[str, Any]]:
    """:func:`target_trends` for every (name, kind) in ``targets``, as dicts."""
    return [target_trends(catalog, name, kind, end, **limits).to_dict() for name, kind in targets]
