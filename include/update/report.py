"""The planned update's report: every step as a row, the outcome and its cause at the top.

A :class:`~include.report.Report`, published by :mod:`include.publish` like every Aegis report. The title
carries the outcome (PROMOTED, ROLLED BACK, NOT RUN, ROLLBACK FAILED, DRY RUN); the rows carry
the cause as findings, so the report's "Why" section names it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from include.report import Outcome, Report

log = logging.getLogger(__name__)
ROUTINE = "planned_update"


def _row(
    step: str,
    kind: str,
    ok: bool,
    message: str | None,
    details: dict[str, Any] | None = None,
    level: str = "critical",
    seconds: float = 0,
) -> dict[str, Any]:
    findings = [] if ok or not message else [{"level": level, "message": message}]
    status = "ok" if ok else level
    return {
        "target": step,
        "kind": kind,
        "status": status,
        "findings": findings,
        "metrics": {},
        "details": details or {},
        "duration_s": seconds or 0,
    }


def outcome_of(
    plan: dict[str, Any], branch: dict[str, Any] | None, rollback: dict[str, Any] | None, retest: dict[str, Any] | None
) -> str:
    """One word for the run: dry-run, not-run, not-applied, promoted, rolled-back, rollback-failed, unknown."""
    if plan["dry_run"]:
        return "dry-run"
    decision = (branch or {}).get("branch")
    if decision in ("nothing", None):
        return "not-run"
    if decision == "promote":
        return "promoted"
    if decision == "not applied":
        return "not-applied"
    if decision == "rollback":
        if not rollback or rollback.get("state") != "rolled-back" or not retest or not retest.get("passed"):
            return "rollback-failed"
        return "rolled-back"
    return decision


def build_report(plan: dict[str, Any], parts: dict[str, Any], run_id: str, start: datetime, end: datetime) -> Report:
    """The run's report; ``parts`` holds each task's return value (None when the task did not return)."""
    from include.backup.reporting import as_result, build
    from include.update.plan import describe

    rows = []
    drain = parts.get("drain")
    if drain:
        rows.append(
            _row(
                "2 drain",
                "drain",
                drain["drained"] or plan["dry_run"],
                f"drain timeout after {drain['waited_s']}s; still active: {drain['counts']}",
                drain,
                level="warning",
                seconds=drain.get("waited_s", 0),
            )
        )
    backups = parts.get("backups")
    for name in plan["backups"]:
        got = next((b for b in backups or [] if b.get("target") == name), None)
        row = as_result(
            got or {"state": "failed", "reason": "the backup task failed before recording anything"},
            f"3 backup {name}",
            "backup",
        )
        rows.append(row)
    update = parts.get("update")
    if update is None and parts.get("branch", {}).get("branch") != "nothing":
        rows.append(_row("4 update", plan["kind"], False, "the update task left no outcome"))
    elif update is not None:
        ok = update["state"] in ("updated", "dry-run")
        rows.append(
            _row(
                "4 update",
                plan["kind"],
                ok,
                f"update failed: {update.get('reason')}",
                update,
                seconds=update.get("seconds", 0),
            )
        )
    for r in (parts.get("tests") or {}).get("results", []):
        rows.append({**r, "target": f"5 test {r['target']}"})
    branch = parts.get("branch")
    if branch:
        promoted = branch["branch"] == "promote"
        rows.append(
            _row(
                f"6 decision: {branch['branch']}",
                "branch",
                promoted,
                "; ".join(branch["reasons"]),
                branch,
                level="warning" if plan["dry_run"] else "critical",
            )
        )
    elif not plan["dry_run"]:
        rows.append(
            _row(
                "6 decision: none",
                "branch",
                False,
                "the run stopped before the decision: an earlier"
                " step failed (announce, window, silence, maintenance mode or drain); nothing was updated",
            )
        )
    rollback = parts.get("rollback")
    if rollback:
        rows.append(
            _row(
                "7 rollback",
                plan["kind"],
                rollback["state"] == "rolled-back",
                f"rollback failed: {rollback.get('reason')}",
                rollback,
            )
        )
    for r in (parts.get("retest") or {}).get("results", []):
        rows.append({**r, "target": f"8 after rollback {r['target']}"})
    outcome = Outcome(outcome_of(plan, branch, rollback, parts.get("retest")))
    title = f"Aegis planned update ({plan['kind']}) — {outcome.upper().replace('-', ' ')} — {end:%Y-%m-%d %H:%M} UTC"
    extra = {"change": describe(plan), "plan": plan, "decision": branch, "teardown": parts.get("teardown")}
    return build(
        title,
        ROUTINE,
        run_id,
        start,
        end,
        rows,
        extra,
        outcome=outcome,
        alert_subject=f"[Aegis] planned update: {outcome.upper()} — {extra['change']}",
    )


def finish(
    inventory,
    plan: dict[str, Any],
    parts: dict[str, Any],
    run_id: str,
    start: datetime,
    end: datetime,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the report and publish it (written, recorded, always sent); the publish tail fails the run
    unless it promoted (or was a dry run), so a rolled-back or not-run update ends as a failed run."""
    from include.publish import AlertWhen, publish

    report = build_report(plan, parts, run_id, start, end)
    log.info("planned update %s: %s", report.outcome, report.extra["change"])
    return {"outcome": str(report.outcome), **publish(report, inventory, context=context, alert=AlertWhen.ALWAYS)}
