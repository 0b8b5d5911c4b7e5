"""Maintenance log: every Aegis run recorded in the catalog during the month (routine, verdict or outcome,
what changed, where its report is) — the seed's "execution log", written for the month. Reads only."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from include.catalog import check_runs, iso

#: This routine's own runs are not part of the log it writes.
OWN_ROUTINE = "monthly_audit"


def month_runs(engine: sa.Engine, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Every run whose interval ended within ``[start, end)``, oldest first."""
    query = (
        sa.select(check_runs)
        .where(
            check_runs.c.interval_end >= iso(start),
            check_runs.c.interval_end < iso(end),
            check_runs.c.routine != OWN_ROUTINE,
        )
        .order_by(check_runs.c.interval_end, check_runs.c.routine)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [entry(dict(r)) for r in rows]


def entry(row: dict[str, Any]) -> dict[str, Any]:
    summary = json.loads(row["summary"] or "{}")
    return {
        "routine": row["routine"],
        "interval_end": row["interval_end"],
        "run_id": row["run_id"],
        "status": row["status"],
        "reasons": len(summary.get("reasons", [])),
        "change": summary.get("change"),
        "recorded_at": str(row["recorded_at"]),
        "report": row["report_uri"],
    }
