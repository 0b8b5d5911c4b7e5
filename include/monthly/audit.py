"""The monthly audit put together: the month's window, the form's choices, one function per section (what
each DAG task calls), and the report (rows per section, the month's facts, the headline).

A section function returns ``{"section", "rows", "facts"}`` (JSON values, XCom-safe); one that was not
chosen in the form returns ``{"section", "skipped": True}`` and is left out of the report.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pendulum

from include.inventory import Inventory, Schedule
from include.monthly import SECTIONS
from include.report import Report, Section

ROUTINE = "monthly_audit"
TITLES = {
    "capacity": "Capacity",
    "performance": "Performance, month over month",
    "security": "Security audit",
    "backups": "Backup validation",
    "updates": "Update plan",
    "maintenance_log": "Maintenance log",
}


def month_window(
    dag_run, data_interval_start: datetime | None, data_interval_end: datetime | None
) -> tuple[datetime, datetime]:
    """The month a run audits: its data interval (the schedule's previous 1st → this 1st), or for a run
    triggered without one, the calendar month up to the moment it runs."""
    end = data_interval_end or dag_run.run_after
    if data_interval_start is not None and data_interval_start < end:
        return _plain(data_interval_start), _plain(end)
    return _plain(pendulum.instance(end).subtract(months=1)), _plain(end)


def schedule(inventory: Inventory) -> Schedule:
    """The audit's schedule: the inventory's ``schedules.monthly_audit``, else 05:00 on the 1st in the daily
    check's timezone."""
    daily_tz = inventory.schedule("daily_health_check", "0 9 * * *", "UTC").timezone
    return inventory.schedule(ROUTINE, default_cron="0 5 1 * *", default_tz=daily_tz)


def previous_month_start(start: datetime, timezone: str) -> datetime:
    """The start of the month before the one starting at ``start``: a calendar month earlier at the same
    wall-clock time in the schedule's ``timezone`` (plain UTC). In UTC the two would differ by an hour when
    one of the two 1sts is in summer time and the other is not (the windows would overlap or leave a gap)."""
    return _plain(pendulum.instance(start).in_timezone(timezone).subtract(months=1))


def _plain(when: datetime) -> datetime:
    """A plain UTC ``datetime`` (Airflow hands pendulum's, whose arithmetic differs from the standard one)."""
    return datetime.fromtimestamp(when.timestamp(), tz=UTC)


def select(
    inventory: Inventory, names: list[str] | None, tags: list[str] | None, sections: list[str] | None
) -> dict[str, list[str]]:
    """The targets and sections of this run (an empty or null choice: all); unknown names or sections are a
    clear error."""
    sections = sections or []
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown section(s) {unknown}; known: {list(SECTIONS)}")
    targets = [t.name for t in inventory.select(names=names or None, tags=tags or None)]
    if not targets:
        raise ValueError(f"no target matches names={names} tags={tags}")
    return {"targets": targets, "sections": [s for s in SECTIONS if not sections or s in sections]}


def _skipped(section: str, selection: dict) -> dict[str, Any] | None:
    return None if section in selection["sections"] else {"section": section, "skipped": True}


def capacity_section(inventory, catalog, selection: dict, end: datetime) -> dict[str, Any]:
    from include.monthly.capacity import capacity

    return _skipped("capacity", selection) or {
        "section": "capacity",
        "facts": {},
        "rows": capacity(catalog, [inventory.target(n) for n in selection["targets"]], end),
    }


def performance_section(inventory, catalog, selection: dict, start: datetime, end: datetime) -> dict[str, Any]:
    from include.monthly.performance import routines, target_performance
    from include.monthly.runlog import month_runs

    if (skipped := _skipped("performance", selection)) is not None:
        return skipped
    previous_start = previous_month_start(start, schedule(inventory).timezone)
    rows = [target_performance(catalog, inventory.target(n), previous_start, start, end) for n in selection["targets"]]
    this, last = month_runs(catalog.engine, start, end), month_runs(catalog.engine, previous_start, start)
    return {
        "section": "performance",
        "rows": rows,
        "facts": {
            "routines": routines(this),
            "routines_last_month": routines(last),
            **airflow_durations(inventory, start, end),
        },
    }


def airflow_durations(inventory, start: datetime, end: datetime) -> dict[str, Any]:
    """Runs, failures and p50/p95 durations per routine and task from Airflow's REST API (``audit.airflow_target``)."""
    from include.monthly.airflow_runs import for_inventory, routine_runs

    try:
        client = for_inventory(inventory)
        if client is None:
            return {"durations": "not read: set audit.airflow_target to an http_service target for Airflow's API"}
        with client:
            return {"airflow_runs": routine_runs(client, start, end), "durations": "from Airflow's REST API"}
    except Exception as exc:  # noqa: BLE001 - the API down or the login refused: said in the report
        return {"durations": f"not read: Airflow's API answered {type(exc).__name__}: {str(exc)[:200]}"}


def security_section(inventory, catalog, selection: dict, end: datetime) -> dict[str, Any]:
    from include.checks.base import run_bounded
    from include.monthly.findings import compare_and_record
    from include.monthly.security_audit import audit_airflow, audit_target

    if (skipped := _skipped("security", selection)) is not None:
        return skipped
    rows = []
    for name in selection["targets"]:
        target = inventory.target(name)
        rows.append(audit_target(inventory, target))
    rows.append(
        run_bounded("airflow", "airflow", lambda: _as_result(audit_airflow(inventory)), 300).to_dict()
        | {"concern": "security"}
    )
    comparison = compare_and_record(catalog.engine, end, rows)
    return {"section": "security", "rows": rows, "facts": comparison}


def _as_result(row: dict[str, Any]):
    from include.checks.base import CheckResult

    return CheckResult.from_dict(row)


def backups_section(
    inventory, catalog, selection: dict, start: datetime, end: datetime, run_id: str | None = None
) -> dict[str, Any]:
    from include.monthly.backups import validate

    targets = [inventory.target(n) for n in selection["targets"]]
    return _skipped("backups", selection) or {
        "section": "backups",
        "facts": {},
        "rows": validate(inventory, catalog, targets, start, end, run_id),
    }


def updates_section(inventory, selection: dict) -> dict[str, Any]:
    from include.monthly.updates import VERSION_KINDS, apt_upgradable, server_version, update_plan
    from include.security import scan_packages
    from include.targets import endpoint_for

    if (skipped := _skipped("updates", selection)) is not None:
        return skipped
    targets = [inventory.target(n) for n in selection["targets"]]
    versions, notes = {}, []
    for t in targets:
        if t.kind in VERSION_KINDS:
            try:
                versions[t.name] = server_version(t, endpoint_for(t))
            except Exception as exc:  # noqa: BLE001 - a server that is down: its version is unknown, said so
                notes.append(f"{t.name}: version not read ({type(exc).__name__}: {str(exc).strip()[:150]})")
    plan = update_plan(
        inventory, targets, scan_packages(inventory.security.get("advisories")).to_dict(), apt_upgradable(), versions
    )
    plan["notes"] += notes
    return {"section": "updates", "rows": [], "facts": plan}


def maintenance_log_section(catalog, selection: dict, start: datetime, end: datetime) -> dict[str, Any]:
    from include.monthly.runlog import month_runs

    return _skipped("maintenance_log", selection) or {
        "section": "maintenance_log",
        "rows": [],
        "facts": {"runs": month_runs(catalog.engine, start, end)},
    }


def headline(sections: dict[str, dict[str, Any]]) -> list[str]:
    """The few lines the notification leads with."""
    lines = []
    if "capacity" in sections:
        soon = [
            (r["target"], res["metric"], c["expected"], level)
            for r in sections["capacity"]["rows"]
            for res in r["details"]["resources"]
            for level, c in res.get("crossings", {}).items()
            if res["level"] != "ok" and c["in_days"] is not None and c["in_days"] <= 90
        ]
        if soon:
            lines.append(
                f"{len({(t, m) for t, m, _, _ in soon})} resource(s) cross a threshold within 90 days: "
                + "; ".join(f"{t} {m} {lv} ~{when}" for t, m, when, lv in soon[:3])
            )
    if "security" in sections:
        counts = sections["security"]["facts"]["counts"]
        lines.append(f"security: {counts['new']} new, {counts['still_open']} still open, {counts['resolved']} resolved")
    if "backups" in sections:
        bad = [r["target"] for r in sections["backups"]["rows"] if r["status"] == "critical"]
        if bad:
            lines.append(f"backups failing validation: {', '.join(bad)}")
    if "updates" in sections:
        items = sections["updates"]["facts"]["items"]
        urgent = [i for i in items if i["severity"] in ("critical", "warning")]
        lines.append(f"update plan: {len(items)} pending ({len(urgent)} warning or critical)")
    return lines


def build_report(
    selection: dict, results: list[dict[str, Any] | None], run_id: str, start: datetime, end: datetime
) -> Report:
    """The report: each chosen section's rows (its concern) and facts; a section task that failed is critical."""
    done = {r["section"]: r for r in results if r and not r.get("skipped")}
    rows = [row for s in SECTIONS if s in done for row in done[s]["rows"]]
    missing = [s for s in selection["sections"] if s not in done]
    report = Report.build(
        ROUTINE,
        f"Aegis monthly audit {_month_label(start, end)}",
        run_id,
        start,
        end,
        rows,
        expected=[],
        sections=[Section(TITLES[s], [s]) for s in SECTIONS if s in done],
        extra={
            "audit": {
                "sections": {s: done[s]["facts"] for s in done},
                "headline": headline(done),
                "failed_sections": missing,
            }
        },
    )
    report.summary.targets = len(selection["targets"])
    for section in missing:
        from include.report import Reason, Verdict

        reason = Reason(section, "critical", f"the {section} section failed (see its task log)")
        report.summary.reasons.insert(0, reason)
        report.summary.verdict = Verdict.CRITICAL
    report.alert_subject = (
        f"[Aegis] monthly audit {_month_label(start, end)}: {report.verdict.upper()} — "
        + ("; ".join(report.extra["audit"]["headline"][:2]) or "nothing to report")
    )[:250]
    return report


def _month_label(start: datetime, end: datetime) -> str:
    """``2026-06`` for a month (named by its middle: a month that starts at 05:00 in Seoul starts the evening
    before in UTC), else the two dates."""
    return f"{start + (end - start) / 2:%Y-%m}" if (end - start).days >= 27 else f"{start:%Y-%m-%d}…{end:%Y-%m-%d}"
