"""The routine metrics Aegis exports for its own alert rules (``deploy/prometheus/aegis.rules.yml``).

Read from the catalog and rendered in the Prometheus text format; served at
``/aegis-incidents/metrics`` (bearer credential, as the webhook) for Prometheus to scrape:

- ``aegis_routine_last_success_timestamp_seconds{routine}`` and ``aegis_routine_window_seconds{routine}``;
- ``aegis_backup_newest_verified_timestamp_seconds{target}`` and ``aegis_backup_verified_window_seconds``;
- ``aegis_target_consecutive_critical_checks{target}``: daily checks in a row, newest first, where the
  target was critical or unreachable.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from include.catalog import Catalog, backup_sets, check_runs

#: How long each routine may go without a successful run (a day and a bit; a week and a day).
ROUTINE_WINDOWS_S = {
    "daily_health_check": 26 * 3600,
    "backup": 26 * 3600,
    "verify_backups": 8 * 86400,
    "weekly_maintenance": 8 * 86400,
}
VERIFIED_BACKUP_WINDOW_S = 8 * 86400
#: Recorded statuses that are not a success.
FAILED_STATUSES = ("failed", "not-run", "rolled-back", "rollback-failed")
CRITICAL_LEVELS = ("critical", "unreachable", "missing")


def _ts(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def last_successes(catalog: Catalog) -> dict[str, float]:
    query = (
        sa.select(check_runs.c.routine, sa.func.max(check_runs.c.recorded_at))
        .where(check_runs.c.status.notin_(FAILED_STATUSES))
        .group_by(check_runs.c.routine)
    )
    with catalog.engine.connect() as conn:
        return {routine: _ts(at) for routine, at in conn.execute(query).all()}


def newest_verified(catalog: Catalog) -> dict[str, float]:
    query = (
        sa.select(backup_sets.c.target, sa.func.max(backup_sets.c.started_at))
        .where(backup_sets.c.state == "verified")
        .group_by(backup_sets.c.target)
    )
    with catalog.engine.connect() as conn:
        return {target: _ts(at) for target, at in conn.execute(query).all()}


def consecutive_critical(catalog: Catalog, routine: str = "daily_health_check", depth: int = 10) -> dict[str, int]:
    """Per target seen in the latest runs: how many of the newest runs in a row found it critical."""
    runs = catalog.runs(routine, limit=depth)
    counts: dict[str, int] = {}
    broken: set[str] = set()
    targets = {r["target"] for run in runs for r in json.loads(run["summary"]).get("reasons", [])}
    for run in runs:  # newest first
        critical = {
            r["target"] for r in json.loads(run["summary"]).get("reasons", []) if r.get("level") in CRITICAL_LEVELS
        }
        for target in targets - broken:
            if target in critical:
                counts[target] = counts.get(target, 0) + 1
            else:
                broken.add(target)
    return {t: counts.get(t, 0) for t in targets}


def render(catalog: Catalog) -> str:
    """Every metric above in the Prometheus text exposition format."""
    lines = ["# TYPE aegis_routine_last_success_timestamp_seconds gauge"]
    lines += [
        f'aegis_routine_last_success_timestamp_seconds{{routine="{_label(r)}"}} {v}'
        for r, v in sorted(last_successes(catalog).items())
    ]
    lines.append("# TYPE aegis_routine_window_seconds gauge")
    lines += [f'aegis_routine_window_seconds{{routine="{r}"}} {v}' for r, v in sorted(ROUTINE_WINDOWS_S.items())]
    lines.append("# TYPE aegis_backup_newest_verified_timestamp_seconds gauge")
    lines += [
        f'aegis_backup_newest_verified_timestamp_seconds{{target="{_label(t)}"}} {v}'
        for t, v in sorted(newest_verified(catalog).items())
    ]
    lines += [
        "# TYPE aegis_backup_verified_window_seconds gauge",
        f"aegis_backup_verified_window_seconds {VERIFIED_BACKUP_WINDOW_S}",
        "# TYPE aegis_target_consecutive_critical_checks gauge",
    ]
    lines += [
        f'aegis_target_consecutive_critical_checks{{target="{_label(t)}"}} {n}'
        for t, n in sorted(consecutive_critical(catalog).items())
    ]
    return "\n".join(lines) + "\n"
