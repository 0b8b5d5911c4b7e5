"""The incident run's report through the one publish tail: the incident, its timeline, the post-mortem."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from include.checks.base import CRITICAL, OK, WARNING


def publish_incident(inventory, incident: dict[str, Any], closed: dict[str, Any], context: Any) -> dict:
    from include.publish import AlertWhen, publish
    from include.report import Report

    record = closed["incident"]
    level = incident["level"]
    status = CRITICAL if level in ("P1", "P2") else WARNING if level == "P3" else OK
    row = {
        "target": f"INC-{incident['id']}",
        "kind": "incident",
        "status": status,
        "findings": [{"level": status, "message": f"{level}: {incident['title']}"}] if status != OK else [],
        "metrics": {},
        "details": {
            "acknowledged_by": record["acknowledged_by"],
            "resolved_by": record["resolved_by"],
            "postmortem": closed["postmortem"],
            "runbook": incident["runbook"]["name"],
        },
    }
    opened = datetime.fromisoformat(record["opened_at"])
    resolved = datetime.fromisoformat(record["resolved_at"]) if record["resolved_at"] else opened
    report = Report.build(
        "incident",
        f"Incident INC-{incident['id']} ({level}): {incident['title']}",
        context["run_id"],
        opened,
        resolved,
        [row],
        extra={"postmortem": closed["postmortem"], "level": level},
    )
    return publish(report, inventory, context=context, alert=AlertWhen.ALWAYS)
