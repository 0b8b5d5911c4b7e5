"""Backup validation: per target, the newest set restore-tested through the verify code, the month's sets,
and the recovery point and recovery time against the inventory's objectives (``audit.objectives``,
``audit.target_objectives``: ``rpo_hours``, ``rto_minutes``).

- **restore test**: the newest complete or verified set is restored into a scratch copy and compared with
  its manifest (:func:`include.backup.dag_support.verify_one`, the verify DAG's code); a failure is critical,
  a test that could not run (scratch server unreachable, no room, free space unknown) a warning.
- **stale**: the newest verified set (after that test) is older than the target's RPO: critical.
- **recovery point**: the newest verified set's age now, and the worst case over the month (the longest
  stretch without a newer verified set).
- **recovery time**: the restore test's duration scaled to the live size where a check records it, else to the
  set's size (the report says which); over the RTO is a warning. PostgreSQL and MySQL/MariaDB: the daily checks'
  database sizes (:data:`DATABASE_SIZE_METRICS`) of the set's databases, now (newest sample) over when the set was
  taken (newest sample at or before its start); Redis and Neo4j: the live size (:data:`LIVE_SIZE_METRICS`) over
  the set's size. A live size that shrank never scales the measured time down.
- the month's sets: count, failures, total and newest size, growth first to last set of the month, durations;
  and the newest size and mean duration against the month before (``growth``).

The restore test writes only into a scratch copy next to the target, dropped afterwards (as the verify DAG).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from include.catalog import iso
from include.checks.base import CRITICAL, WARNING, CheckResult

#: The metric a daily check records for a kind's live data size (the restore time is scaled to it).
LIVE_SIZE_METRICS = {"redis": "redis.used_memory_bytes", "neo4j": "neo4j.store_bytes"}
#: The per-database size metric (``<metric>[<database>]``) a daily check records for a kind.
DATABASE_SIZE_METRICS = {"postgres": "pg.database_bytes", "mysql": "mysql.database_bytes"}
GOOD = ("complete", "verified")


def objectives(inventory, target: str) -> dict[str, float]:
    return {**inventory.audit["objectives"], **inventory.audit["target_objectives"].get(target, {})}


def validate_target(
    inventory,
    catalog,
    target,
    start: datetime,
    end: datetime,
    restore_test: bool = True,
    run_id: str | None = None,
) -> dict:
    """The backup validation row of one target (a set the restore test verifies records ``run_id``)."""
    result = CheckResult(target.name, target.kind, concern="backups")
    wanted = objectives(inventory, target.name)
    sets = _until(catalog.backup_sets_of(target.name), end)
    newest = next((s for s in sets if s["state"] in GOOD), None)
    test = _restore_test(inventory, catalog, newest, result, run_id) if restore_test and newest else None
    sets = _until(catalog.backup_sets_of(target.name), end)  # states after the test
    verified = [s for s in sets if s["state"] == "verified"]
    rpo = recovery_point(verified, start, end)
    result.details.update(
        objectives=wanted,
        restore_test=test,
        recovery_point=rpo,
        month=month_sets(sets, start, end),
        previous_month=month_sets(sets, start - (end - start), start),
    )
    result.details["growth"] = growth(result.details["month"], result.details["previous_month"])
    if not newest:
        result.add(CRITICAL, "no complete backup set at all: nothing to restore")
    if rpo["age_hours"] is None:
        result.add(CRITICAL, "no verified backup set: the recovery point is unknown")
    elif rpo["age_hours"] > wanted["rpo_hours"]:
        result.add(
            CRITICAL,
            f"stale backup: the newest verified set is {rpo['age_hours']:g} h old,"
            f" over the {wanted['rpo_hours']:g} h recovery point objective",
        )
    if rpo["worst_hours"] is not None and rpo["worst_hours"] > wanted["rpo_hours"]:
        result.add(
            WARNING,
            f"during the month the recovery point reached {rpo['worst_hours']:g} h"
            f" (objective {wanted['rpo_hours']:g} h)",
        )
    if test and newest and test["state"] == "verified":
        rto = recovery_time(catalog, target, test, end, _utc(newest["started_at"]))
        result.details["recovery_time"] = rto
        result.metrics["backup.rto_minutes"] = rto["minutes"]
        if rto["minutes"] > wanted["rto_minutes"]:
            result.add(
                WARNING,
                f"measured recovery time {rto['minutes']:g} min is over the {wanted['rto_minutes']:g} min objective",
            )
    month = result.details["month"]
    if month["failed"]:
        result.add(WARNING, f"{month['failed']} backup set(s) of the month failed")
    if rpo["age_hours"] is not None:
        result.metrics["backup.rpo_hours"] = rpo["age_hours"]
    return result.to_dict()


def _restore_test(inventory, catalog, newest: dict, result: CheckResult, run_id: str | None) -> dict[str, Any]:
    from include.backup.dag_support import verify_one

    outcome = verify_one(inventory, catalog, newest["set_id"], run_id)
    if outcome["state"] == "skipped":  # the scratch server could not be used, or has no (known) room: not the set's
        result.add(WARNING, f"restore test of the newest set {newest['set_id']} not run: {outcome.get('reason', '?')}")
    elif outcome["state"] != "verified":
        result.add(CRITICAL, f"restore test of the newest set {newest['set_id']} failed: {outcome.get('reason', '?')}")
    for warning in outcome.get("warnings", []):
        result.add(WARNING, warning)
    return outcome


def recovery_point(verified: list[dict], start: datetime, end: datetime) -> dict[str, Any]:
    """Age of the newest verified set at ``end``, and the worst age during ``[start, end]``: the recovery
    point is worst just before each new verified set lands (and at the end). Hours."""
    times = sorted(_utc(s["finished_at"] or s["started_at"]) for s in verified)
    times = [t for t in times if t <= end]
    if not times:
        return {"age_hours": None, "worst_hours": None, "newest": None}
    worst = timedelta(0)
    for moment in [t for t in times if start < t] + [end]:
        earlier = [t for t in times if t < moment]
        worst = max(worst, moment - (earlier[-1] if earlier else start))
    return {"age_hours": _hours(end - times[-1]), "worst_hours": _hours(worst), "newest": times[-1].isoformat()}


def recovery_time(catalog, target, test: dict[str, Any], end: datetime, taken_at: datetime) -> dict[str, Any]:
    """The restore test's duration scaled to the live size (or the set's own when no live size is recorded);
    ``taken_at``: when the tested set was started."""
    set_bytes = max(int(test.get("bytes") or 0), 1)
    if target.kind in DATABASE_SIZE_METRICS:
        return _scaled_by_database_sizes(catalog, target, test, end, taken_at, set_bytes)
    metric = LIVE_SIZE_METRICS.get(target.kind)
    series = catalog.series(target.name, metric) if metric else []
    live = series[-1][1] if series else None
    scale = max(live / set_bytes, 1.0) if live else 1.0
    return {
        "restore_seconds": test["seconds"],
        "set_bytes": set_bytes,
        "live_bytes": live,
        "scale": round(scale, 2),
        "minutes": round(test["seconds"] * scale / 60, 4),
        "scaled_to": metric if live else "the set's own size (no live size recorded for this kind)",
    }


def _scaled_by_database_sizes(
    catalog, target, test: dict[str, Any], end: datetime, taken_at: datetime, set_bytes: int
) -> dict[str, Any]:
    """Scale by the set's databases' summed size now over their size when the set was taken."""
    metric = DATABASE_SIZE_METRICS[target.kind]
    then, now, missing = database_sizes(catalog, target.name, metric, test.get("databases") or [], taken_at, end)
    scale = max(now / then, 1.0) if then and now is not None else 1.0
    return {
        "restore_seconds": test["seconds"],
        "set_bytes": set_bytes,
        "live_bytes_then": then,
        "live_bytes": now,
        "scale": round(scale, 2),
        "minutes": round(test["seconds"] * scale / 60, 4),
        "scaled_to": (
            f"{metric} of {', '.join(test['databases'])}: {then:.0f} B when the set was taken, {now:.0f} B now"
            if then and now is not None
            else f"the set's own size ({missing})"
        ),
    }


def database_sizes(
    catalog, target: str, metric: str, databases: list[str], taken_at: datetime, end: datetime
) -> tuple[float | None, float | None, str]:
    """The summed ``metric[<database>]`` of ``databases``: the newest sample at or before ``taken_at``, and the
    newest by ``end``; ``(None, None, why)`` when a database lacks either sample."""
    if not databases:
        return None, None, "the tested set names no databases"
    then = now = 0.0
    for database in databases:
        name = f"{metric}[{database}]"
        series = [(at, v) for at, v in catalog.series(target, name) if at <= iso(end)]
        before = [v for at, v in series if at <= iso(taken_at)]
        if not before:
            return None, None, f"no {name} sample at or before the set was taken"
        then, now = then + before[-1], now + series[-1][1]
    if then <= 0:
        return None, None, f"{metric} was 0 when the set was taken"
    return then, now, ""


def growth(month: dict[str, Any], previous: dict[str, Any]) -> dict[str, float | None]:
    """The month's newest set size and mean duration against the month before's, percent (None: no comparison)."""

    def pct(now: float | None, before: float | None) -> float | None:
        return round(100.0 * (now - before) / before, 1) if now is not None and before else None

    return {
        "bytes_newest_pct": pct(month["bytes_newest"], previous["bytes_newest"]),
        "duration_s_mean_pct": pct(month["duration_s_mean"], previous["duration_s_mean"]),
    }


def month_sets(sets: list[dict], start: datetime, end: datetime) -> dict[str, Any]:
    """Count, failures, sizes (total, newest, growth first→last) and durations of the sets started in the window."""
    inside = sorted((s for s in sets if start <= _utc(s["started_at"]) < end), key=lambda s: _utc(s["started_at"]))
    good = [s for s in inside if s["state"] in GOOD or s["state"] == "deleted"]
    sizes = [int(s["size_bytes"]) for s in good if s["size_bytes"]]
    durations = [(_utc(s["finished_at"]) - _utc(s["started_at"])).total_seconds() for s in good if s["finished_at"]]
    return {
        "sets": len(inside),
        "failed": sum(1 for s in inside if s["state"] == "failed"),
        "bytes_total": sum(sizes),
        "bytes_newest": sizes[-1] if sizes else None,
        "size_growth_pct": (
            round(100.0 * (sizes[-1] - sizes[0]) / sizes[0], 1) if len(sizes) > 1 and sizes[0] else None
        ),
        "duration_s_max": round(max(durations), 1) if durations else None,
        "duration_s_mean": round(sum(durations) / len(durations), 1) if durations else None,
    }


def _until(sets: list[dict], end: datetime) -> list[dict]:
    """Sets started by ``end`` (an audit of a past month does not look at later sets)."""
    return [s for s in sets if _utc(s["started_at"]) <= end]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 1)


def validate(
    inventory, catalog, targets, start: datetime, end: datetime, run_id: str | None = None
) -> list[dict[str, Any]]:
    """The section's rows: every backup-enabled target among ``targets`` (``run_id``: the audit's run)."""
    return [
        validate_target(inventory, catalog, t, start, end, run_id=run_id) for t in targets if t.backup.get("enabled")
    ]
