"""Backup, verification and restore outcomes in the shape the shared report renders (one row per target)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from include.health import evaluate


def as_result(outcome: dict[str, Any], target: str, kind: str) -> dict[str, Any]:
    """One outcome (from the runner) as a report row: ok when complete/verified/restored, critical otherwise."""
    state = outcome.get("state", "failed")
    good = state in ("complete", "verified", "restored", "dry-run")
    findings = [] if good else [{"level": "critical", "message": outcome.get("reason") or f"state {state}"}]
    metrics = {k: outcome[k] for k in ("bytes", "seconds") if isinstance(outcome.get(k), (int, float))}
    if metrics.get("seconds") and metrics.get("bytes"):
        metrics["mib_per_s"] = round(metrics["bytes"] / 2**20 / metrics["seconds"], 2)
    return {"target": target, "kind": kind, "status": "ok" if good else "critical", "findings": findings,
            "metrics": metrics, "details": outcome, "duration_s": outcome.get("seconds", 0)}


def build(title: str, routine: str, run_id: str, start: datetime, end: datetime,
          rows: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    rows = sorted(rows, key=lambda r: r["target"])
    return {"title": title, "routine": routine, "run_id": run_id, "interval": [start.isoformat(), end.isoformat()],
            "summary": evaluate(rows, [r["target"] for r in rows]), "results": rows, **(extra or {})}
