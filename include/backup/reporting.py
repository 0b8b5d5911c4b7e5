"""Backup, verification and restore outcomes as report rows (one per target or set) and their report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from include.report import GOOD_OUTCOMES, Outcome, Report


def as_result(outcome: dict[str, Any], target: str, kind: str) -> dict[str, Any]:
    """One outcome (from the runner) as a report row: ok when complete/verified/restored (warning with its
    ``warnings``), warning when skipped, critical otherwise."""
    state = outcome.get("state", Outcome.FAILED)
    good = state in GOOD_OUTCOMES
    level = "warning" if state == "skipped" else "critical"  # skipped: not checked (the server, not the set)
    findings = [] if good else [{"level": level, "message": outcome.get("reason") or f"state {state}"}]
    # a good outcome with a caveat (a restore test run without knowing the scratch server's free space)
    findings += [{"level": "warning", "message": w} for w in outcome.get("warnings", [])]
    status = ("warning" if findings else "ok") if good else level
    metrics = {k: outcome[k] for k in ("bytes", "seconds") if isinstance(outcome.get(k), (int, float))}
    if metrics.get("seconds") and metrics.get("bytes"):
        metrics["mib_per_s"] = round(metrics["bytes"] / 2**20 / metrics["seconds"], 2)
    return {
        "target": target,
        "kind": kind,
        "status": status,
        "findings": findings,
        "metrics": metrics,
        "details": outcome,
        "duration_s": outcome.get("seconds", 0),
    }


def build(
    title: str,
    routine: str,
    run_id: str,
    start: datetime,
    end: datetime,
    rows: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
    **fields: Any,
) -> Report:
    """The report of outcome rows (sorted by target); ``fields`` go to :class:`Report` (e.g. ``outcome``)."""
    return Report.build(
        routine, title, run_id, start, end, sorted(rows, key=lambda r: r["target"]), extra=extra or {}, **fields
    )
