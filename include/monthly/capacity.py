"""Capacity: per target and resource, the trend of the catalog's history and when it crosses its thresholds.

Resources are the metrics the checks record that grow toward a limit (disk and inode use per mount,
memory, connections, XID age: these have warning/critical thresholds) or that are sizes worth
watching (database and table sizes ``pg.database_bytes[db]`` / ``pg.table_bytes[schema.table]`` and their
``mysql.`` pair, key sizes, Redis memory, Milvus rows ``milvus.rows_total``, log volume ``logs.bytes``: trend
only). The fit uses the last :data:`FIT_DAYS` days before the interval end; a resource set to cross a threshold
within :data:`SOON_DAYS` days is a finding (critical threshold: critical) and its target leads the section.
Reads only the catalog.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from include.checks.base import CRITICAL, OK, WARNING, CheckResult, worst
from include.monthly import forecast
from include.trends import category

FIT_DAYS = 90
RECENT_DAYS = 30
SOON_DAYS = 90
#: Points of the fitted line drawn in a chart (history to horizon).
CHART_POINTS = 60
#: Metric name (``[item]`` stripped) -> the threshold-key stem of its kind (``disk`` -> ``disk_warning_pct``).
THRESHOLD_STEMS: dict[str, str] = {
    "host.disk_pct": "disk",
    "host.inode_pct": "inode",
    "host.memory_pct": "memory",
    "host.swap_pct": "swap",
    "redis.memory_pct": "memory",
    "pg.connections_pct": "connections",
    "mysql.connections_pct": "connections",
    "pg.xid_age": "xid_age",
}


def thresholds_for(metric: str, thresholds: dict[str, float]) -> dict[str, float]:
    """The warning/critical thresholds of a resource metric (empty: a size to watch without a limit)."""
    stem = THRESHOLD_STEMS.get(re.sub(r"\[.*\]$", "", metric))
    if stem is None:
        return {}
    found = {}
    for level in ("warning", "critical"):
        for key in (f"{stem}_{level}_pct", f"{stem}_{level}"):
            if key in thresholds:
                found[level] = thresholds[key]
                break
    return found


#: Sizes recorded as running totals (``*_total``, never flagged as weekly growth) that are still resources.
SIZE_TOTALS = frozenset({"milvus.rows_total"})


def is_resource(metric: str) -> bool:
    base = re.sub(r"\[.*\]$", "", metric)
    return base in THRESHOLD_STEMS or base in SIZE_TOTALS or category(metric) in ("sizes", "connections")


def target_capacity(catalog, target, end: datetime) -> CheckResult:
    """Every resource of one target: fit, crossings and chart data (``details["resources"]``)."""
    result = CheckResult(target.name, target.kind, concern="capacity")
    since = end - timedelta(days=FIT_DAYS)
    resources = []
    for metric in catalog.metric_names(target.name, since):
        if not is_resource(metric):
            continue
        points = [
            (datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp(), v)
            for at, v in catalog.series(target.name, metric, since)
            if at <= _iso(end)
        ]
        resources.append(resource(target.name, metric, points, thresholds_for(metric, target.thresholds), end))
    resources.sort(key=_urgency)
    for r in resources:
        if r["level"] != OK:
            result.add(r["level"], r["headline"])
    result.details["resources"] = resources
    if not resources:
        result.details["note"] = f"no resource metrics recorded in the last {FIT_DAYS} days"
    return result


def resource(
    target: str, metric: str, points: list[tuple[float, float]], thresholds: dict[str, float], end: datetime
) -> dict[str, Any]:
    """One resource's forecast: slope, crossings (expected / earliest / latest, days away) and chart data."""
    out: dict[str, Any] = {
        "metric": metric,
        "points": len(points),
        "thresholds": thresholds,
        "level": OK,
        "chart": {"target": target, "metric": metric, "history": points, "thresholds": thresholds},
    }
    try:
        model = forecast.fit(points)
    except forecast.TooShort as exc:
        out.update(status="too short", headline=f"{metric}: too little history to forecast ({exc})")
        return out
    recent = [p for p in points if p[0] >= (end - timedelta(days=RECENT_DAYS)).timestamp()]
    out.update(
        status="forecast",
        slope_per_day=round(model.slope_per_day, 6),
        latest=round(points[-1][1], 4),
        slope_per_day_30d=_recent_slope(recent),
    )
    crossings = {level: forecast.crossing(model, value, end) for level, value in thresholds.items()}
    out["crossings"] = {
        level: {
            "threshold": c.threshold,
            "expected": _day(c.expected),
            "earliest": _day(c.earliest),
            "latest": _day(c.latest),
            "in_days": forecast.days_until(c.expected, end),
            "already": c.already,
        }
        for level, c in crossings.items()
    }
    level = OK
    for name, c in crossings.items():
        if c.expected is not None and c.expected - end <= timedelta(days=SOON_DAYS):
            level = worst(level, CRITICAL if name == "critical" else WARNING)
    out["level"] = level
    out["headline"] = _headline(metric, out, model)
    horizon = max([c.latest or c.expected or end for c in crossings.values()] + [end + timedelta(days=30)])
    out["chart"]["fit"] = _fit_line(model, points[0][0], min(horizon, end + timedelta(days=365)).timestamp())
    return out


def _recent_slope(points: list[tuple[float, float]]) -> float | None:
    try:
        return round(forecast.fit(points).slope_per_day, 6)
    except forecast.TooShort:
        return None


def _fit_line(model: forecast.Fit, start: float, stop: float) -> list[tuple[float, float, float, float]]:
    step = (stop - start) / (CHART_POINTS - 1)
    line = []
    for i in range(CHART_POINTS):
        when = start + i * step
        low, high = model.band(when)
        line.append((when, model.predict(when), low, high))
    return line


def _headline(metric: str, out: dict[str, Any], model: forecast.Fit) -> str:
    soon = [(level, c) for level, c in out["crossings"].items() if c["expected"]]
    if not soon:
        return f"{metric}: {model.slope_per_day:+.4g}/day, no threshold crossed within a year"
    level, c = min(soon, key=lambda item: item[1]["in_days"])
    if c["already"]:
        return f"{metric}: already at its {level} threshold ({c['threshold']:g})"
    return (
        f"{metric} reaches its {level} threshold ({c['threshold']:g}) around {c['expected']}"
        f" (in {c['in_days']:g} days; 95 % band {c['earliest']} … {c['latest'] or 'beyond a year'})"
    )


def _urgency(r: dict[str, Any]) -> float:
    days = [c["in_days"] for c in r.get("crossings", {}).values() if c["in_days"] is not None]
    return min(days, default=float("inf"))


def _day(when: datetime | None) -> str | None:
    return None if when is None else when.strftime("%Y-%m-%d %H:%M")


def _iso(ts: datetime) -> str:
    from include.catalog import iso

    return iso(ts)


def capacity(catalog, targets, end: datetime) -> list[dict[str, Any]]:
    """The section's rows: targets with a resource crossing soonest first."""
    rows = [target_capacity(catalog, t, end) for t in targets]
    rows.sort(key=lambda r: min((_urgency(x) for x in r.details["resources"]), default=float("inf")))
    return [r.to_dict() for r in rows]
