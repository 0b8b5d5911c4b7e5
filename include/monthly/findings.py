"""This month's security findings against last month's audit: new, resolved, still open (and since when).

The audit's findings are kept in the catalog (``aegis_audit_findings``, one row per audit interval,
target and rule). Only the targets audited in this run are compared: a run limited to some targets
does not call the others' findings resolved. Recording an interval again (a retry, a backfill)
replaces that interval's rows; a finding's ``first_seen`` carries over from the previous audit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from include.catalog import audit_findings, iso


def previous_audit(engine: sa.Engine, before: datetime) -> str | None:
    """Interval end of the latest audit recorded strictly before ``before`` (None: this is the first)."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.max(audit_findings.c.interval_end)).where(audit_findings.c.interval_end < iso(before))
        ).scalar()


def previous_findings(engine: sa.Engine, interval_end: str, targets: list[str]) -> dict[tuple[str, str], dict]:
    with engine.connect() as conn:
        rows = (
            conn.execute(
                sa.select(audit_findings).where(
                    audit_findings.c.interval_end == interval_end, audit_findings.c.target.in_(targets)
                )
            )
            .mappings()
            .all()
        )
    return {(r["target"], r["rule"]): dict(r) for r in rows}


def compare_and_record(engine: sa.Engine, end: datetime, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mark every rule of ``rows`` (security rows, changed in place) ``new`` or ``still open`` with its age,
    record them as this interval's findings, and return the comparison (counts and resolved findings).

    A finding that reappears after a month without it counts as new. Unreachable targets are not
    compared (their findings are unknown, not resolved) and keep last month's rows out of ``resolved``."""
    audited = [r["target"] for r in rows if r["status"] != "unreachable"]
    last = previous_audit(engine, end)
    before = previous_findings(engine, last, audited) if last else {}
    now_key, records = iso(end), []
    counts = {"new": 0, "still_open": 0, "resolved": 0}
    for row in rows:
        for r in row.get("details", {}).get("rules", []):
            earlier = before.get((row["target"], r["id"]))
            first_seen = earlier["first_seen"] if earlier else now_key
            r["state"] = "still open" if earlier else "new"
            r["first_seen"] = first_seen
            r["open_days"] = _days(first_seen, end)
            counts["still_open" if earlier else "new"] += 1
            records.append(
                {
                    "interval_end": now_key,
                    "target": row["target"],
                    "rule": r["id"],
                    "severity": r["severity"],
                    "message": r["message"][:4000],
                    "first_seen": first_seen,
                }
            )
    current = {(rec["target"], rec["rule"]) for rec in records}
    resolved = [
        {
            "target": t,
            "rule": rule,
            "severity": f["severity"],
            "message": f["message"],
            "first_seen": f["first_seen"],
            "open_days": _days(f["first_seen"], end),
        }
        for (t, rule), f in sorted(before.items())
        if (t, rule) not in current
    ]
    counts["resolved"] = len(resolved)
    with engine.begin() as conn:
        conn.execute(
            audit_findings.delete().where(
                audit_findings.c.interval_end == now_key, audit_findings.c.target.in_(audited)
            )
        )
        if records:
            conn.execute(audit_findings.insert(), [r for r in records if r["target"] in audited])
    return {"previous_audit": last, "counts": counts, "resolved": resolved}


def _days(first_seen: str, end: datetime) -> int:
    seen = datetime.fromisoformat(first_seen.replace("Z", "+00:00"))
    return max(0, (end.astimezone(UTC) - seen).days)
