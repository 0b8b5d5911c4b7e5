"""The weekly maintenance routine as plain functions: which targets each concern takes, run one
target's maintenance or security checks, compare the weeks, and fold everything into one report.

The DAG (``dags/weekly_maintenance.py``) only wires these together.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from include.checks.base import CRITICAL, WARNING, CheckResult
from include.inventory import Inventory
from include.kinds import kinds_with, spec
from include.report import Report, Section
from include.weekly import run_concern, time_budget, unreachable

log = logging.getLogger(__name__)
ROUTINE = "weekly_maintenance"
#: The Airflow pool bounding how many PostgreSQL servers are maintained at once (``./aegis up`` creates it).
POSTGRES_POOL = "aegis_postgres_maintenance"
SECURITY, TRENDS = "security", "trends"
#: Every concern in the order of the DAG and the report; the kind concerns only when their module is installed.
ORDER = ("postgres", "mysql", "milvus", "neo4j", "logs", "redis", SECURITY, TRENDS)
KIND_OF: dict[str, str] = {concern: kind for kind in kinds_with("weekly") if (concern := spec(kind).concern)}
#: concerns of kinds added to the registry since ORDER was written: after the known ones, before security
NEW_CONCERNS = tuple(sorted(set(KIND_OF) - set(ORDER)))
ALL_CONCERNS = tuple(c for c in ORDER if c in KIND_OF) + NEW_CONCERNS + (SECURITY, TRENDS)
#: Report sections (the seeds' weekly report) and the concerns each shows.
SECTIONS = (
    ("Database optimisation", ("postgres", "mysql", "milvus", "neo4j")),
    ("Cache", ("redis",)),
    ("Logs", ("logs",)),
    ("Other maintenance", NEW_CONCERNS),
    ("Security", (SECURITY,)),
    ("Trends", (TRENDS,)),
)
#: What each concern does, as the weekly form shows it (a concern added to the registry: its report section).
CONCERN_HELP = {
    "postgres": "PostgreSQL: VACUUM (ANALYZE), index and slow-statement advice",
    "mysql": "MySQL/MariaDB: ANALYZE/OPTIMIZE, expired-row purge, partition rotation",
    "milvus": "Milvus: compaction, unfinished indexes rebuilt, idle collections released",
    "neo4j": "Neo4j: index/constraint state, store size, checkpoint",
    "logs": "logs: rotate, compress, archive, delete past retention",
    "redis": "Redis: idle keys without TTL measured and removed",
    SECURITY: "security: configuration checks and vulnerable packages",
    TRENDS: "trends: week-over-week change of every catalog metric",
}
CONCERN_LABELS = {
    c: CONCERN_HELP.get(c) or f"{c}: {title.lower()}"
    for title, concerns in SECTIONS
    for c in concerns
    if c in ALL_CONCERNS
}


def select_targets(inventory: Inventory, names: list[str], tags: list[str], concerns: list[str]) -> list[str]:
    """Names of the targets this run looks at; refuses unknown names and concerns, and an empty choice."""
    unknown = sorted(set(concerns) - set(ALL_CONCERNS))
    if unknown:
        raise ValueError(f"unknown concern(s) {unknown}; available: {list(ALL_CONCERNS)}")
    if not concerns:
        raise ValueError(f"no concern chosen; available: {list(ALL_CONCERNS)}")
    chosen = [t.name for t in inventory.select(names=names or None, tags=tags or None)]
    if not chosen:
        raise ValueError(f"no target matches names={names} tags={tags}")
    log.info(
        "weekly maintenance of %d target(s): %s; concerns: %s", len(chosen), ", ".join(chosen), ", ".join(concerns)
    )
    return chosen


def concern_targets(inventory: Inventory, concern: str, selected: list[str], concerns: list[str]) -> list[str]:
    """The selected targets ``concern`` works on (none when the form left the concern out).

    Kind concerns take the targets of their kind whose ``weekly.enabled`` is on; the security
    scan takes every kind it has checks for; trends take every selected target.
    """
    if concern not in concerns:
        log.info("%s: not chosen in the form, skipped", concern)
        return []
    targets = [inventory.target(name) for name in selected]
    if concern == SECURITY:
        chosen = [t.name for t in targets if spec(t.kind).security]
    elif concern == TRENDS:
        chosen = [t.name for t in targets]
    else:
        chosen = [t.name for t in targets if t.kind == KIND_OF[concern] and t.weekly.get("enabled", True)]
    log.info("%s: %s", concern, ", ".join(chosen) or "no target")
    return chosen


def longest_budget(inventory: Inventory, concern: str) -> float:
    """Seconds the slowest target of ``concern`` may take (for the task's execution timeout)."""
    kind = KIND_OF[concern]
    return max([time_budget(t.weekly) for t in inventory.targets if t.kind == kind] or [time_budget({})])


def _on_target(inventory: Inventory, name: str, concern: str, work) -> dict[str, Any]:
    """``work(target, endpoint)`` as a result dict tagged with ``concern``; a connection that cannot be
    looked up is an unreachable result about that target, not a failed task."""
    from include.targets import endpoint_for

    target = inventory.target(name)
    try:
        endpoint = endpoint_for(target)
    except Exception as exc:  # noqa: BLE001 - a missing connection is a finding about this target
        result = unreachable(target, f"connection {target.conn_id!r} unusable: {type(exc).__name__}: {exc}")
    else:
        result = work(target, endpoint)
    return {**result, "concern": concern}


def maintain_target(inventory: Inventory, name: str, *, dry_run: bool, scheduled: bool = False) -> dict[str, Any]:
    """Run one target's weekly maintenance (bounded); a missing connection or a down target is a result.

    ``scheduled`` (a scheduled / backfill run): the target's ``weekly.apply`` says which destructive steps
    are carried out, not ``dry_run`` (:mod:`include.run_policy`). Logs are archived under ``<artifacts>/logs/<target>/`` unless the target's ``weekly.archive_folder`` says otherwise.
    """

    def work(target, endpoint):
        from include.locks import TargetBusy, lease_for

        extra = {}
        if target.kind == "log_source" and not target.weekly.get("archive_folder"):
            from include.artifacts import artifact_folder

            extra["archive_folder"] = artifact_folder(inventory, "logs", target.name)
        try:
            with lease_for(inventory, target.name):  # one changing routine at a time on a target
                return run_concern(target, endpoint, dry_run=dry_run, scheduled=scheduled, **extra)
        except TargetBusy as busy:  # visible as a warning: this week's maintenance of the target did not run
            skipped = CheckResult(target.name, target.kind)
            skipped.add(WARNING, f"weekly maintenance not run: {busy}")
            return skipped.to_dict()

    return _on_target(inventory, name, spec(inventory.target(name).kind).concern or "", work)


def security_settings(inventory: Inventory) -> dict[str, Any]:
    """The security scan's settings: the inventory's ``security:`` plus the files that must stay private."""
    return {**inventory.security, "protected_files": [str(inventory.path)]}


def security_target(inventory: Inventory, name: str) -> dict[str, Any]:
    """The configuration security checks of one target (bounded); unreachable is a result."""
    from include.security import scan_target

    return _on_target(
        inventory, name, SECURITY, lambda target, endpoint: scan_target(target, endpoint, security_settings(inventory))
    )


def packages(inventory: Inventory) -> dict[str, Any]:
    """Known-vulnerable packages of this Python environment (skipped with a note without advisories)."""
    from include.checks.base import run_bounded
    from include.security import PACKAGES_TARGET, scan_packages

    result = run_bounded(
        PACKAGES_TARGET, "python_packages", lambda: scan_packages(inventory.security.get("advisories")), 300
    )
    return {**result.to_dict(), "concern": SECURITY}


def aegis_itself(inventory: Inventory) -> list[dict[str, Any]]:
    """The security scan of Aegis itself: its packages (:func:`packages`) and Airflow's own configuration."""
    from include.checks.base import run_bounded
    from include.security import AIRFLOW_TARGET, check_airflow

    conn_ids = [t.conn_id for t in inventory.targets if t.conn_id]
    airflow = run_bounded(AIRFLOW_TARGET, "airflow", lambda: check_airflow(conn_ids), 120)
    return [packages(inventory), {**airflow.to_dict(), "concern": SECURITY}]


def trends(inventory: Inventory, catalog, names: list[str], end: datetime) -> list[dict[str, Any]]:
    """Week-over-week changes of every chosen target from the catalog."""
    from include.trends import week_over_week

    rows = week_over_week(catalog, [(n, inventory.target(n).kind) for n in names], end)
    return [{**r, "concern": TRENDS} for r in rows]


def build_report(
    results: dict[str, list[dict[str, Any] | None]],
    expected: dict[str, list[str]],
    run_id: str,
    start: datetime,
    end: datetime,
    dry_run: bool,
    *,
    fail_run_on: str | None = None,
    scheduled: bool = False,
) -> Report:
    """Every concern's results in one report; a target expected by a concern but without a result is critical.
    ``fail_run_on`` (the inventory's ``defaults.fail_run_on``) says from which verdict the run ends failed;
    ``scheduled``: a scheduled / backfill run (destructive steps per target's ``weekly.apply``, not ``dry_run``)."""
    rows: list[dict[str, Any]] = []
    for concern in ORDER:
        got = [r for r in (results.get(concern) or []) if r]
        names = {r["target"] for r in got}
        for name in expected.get(concern) or []:
            if name not in names:
                missing = CheckResult(name, KIND_OF.get(concern, "?"))
                missing.add(CRITICAL, "the task produced no result (it failed; see its log)")
                got.append(missing.to_dict())
        rows += sorted(({**r, "concern": concern} for r in got), key=lambda r: r["target"])
    if scheduled:
        mode = (
            "scheduled run: each target's destructive steps were carried out as its weekly.apply allows and"
            " only planned otherwise (see each target); missing partitions were added"
        )
        label = "scheduled"
    else:
        mode = "dry run: destructive steps were only listed" if dry_run else "destructive steps were carried out"
        label = "dry run" if dry_run else "applied"
    return Report.build(
        ROUTINE,
        f"Aegis weekly maintenance — {end:%Y-%m-%d %H:%M} UTC ({label})",
        run_id,
        start,
        end,
        rows,
        reasons_from=_labelled(rows),
        mode=mode,
        extra={"dry_run": dry_run and not scheduled, "scheduled": scheduled},
        fail_run_on=fail_run_on,
        sections=[
            Section(title, [c for c in concerns if c in ALL_CONCERNS])
            for title, concerns in SECTIONS
            if any(c in ALL_CONCERNS for c in concerns)
        ],
    )


def _labelled(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows whose finding messages start with their concern (a target shows up under several concerns)."""
    return [
        {**r, "findings": [{**f, "message": f"{r['concern']}: {f['message']}"} for f in r["findings"]]} for r in rows
    ]
