"""Maintenance log: every Aegis run recorded in the catalog during the month (routine, verdict or outcome,
duration, what changed, where its report is) — the seed's "execution log", written for the month. Reads only."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from include.catalog import check_runs, iso, metrics
from include.inventory import AEGIS_TARGET

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
    durations = sa.select(
        metrics.c.routine, metrics.c.interval_end, metrics.c.run_id, metrics.c.metric, metrics.c.value
    ).where(
        metrics.c.target == AEGIS_TARGET,
        metrics.c.interval_end >= iso(start),
        metrics.c.interval_end < iso(end),
        metrics.c.metric.like("aegis.%.duration_s"),
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
        took = {
            (r.routine, r.interval_end, r.run_id): r.value
            for r in conn.execute(durations)
            if r.metric == f"aegis.{r.routine}.duration_s"
        }
    return [entry(dict(r), took.get((r["routine"], r["interval_end"], r["run_id"]))) for r in rows]


def entry(row: dict[str, Any], duration_s: float | None = None) -> dict[str, Any]:
    """One run of the log; ``duration_s``: the run's duration as ``include/publish.py`` recorded it (None: not
    recorded, e.g. a run from before durations were kept)."""
    summary = json.loads(row["summary"] or "{}")
    return {
        "routine": row["routine"],
        "interval_end": row["interval_end"],
        "run_id": row["run_id"],
        "status": row["status"],
        "duration_s": None if duration_s is None else round(duration_s, 1),
        "reasons": len(summary.get("reasons", [])),
        "change": summary.get("change"),
        "recorded_at": str(row["recorded_at"]),
        "report": row["report_uri"],
    }
