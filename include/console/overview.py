"""Every inventory target with its latest state from each routine, and whether that state is stale."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from include.inventory import Inventory, Schedule, Target

HEALTH, BACKUP, WEEKLY = "daily_health_check", "backup", "weekly_maintenance"
#: Extra time a scheduled routine gets past its period before its last result counts as stale.
GRACE = timedelta(hours=2)
#: Worst first: how a tile's overall state is chosen and how the "state" column sorts.
SEVERITY = {
    "critical": 0,
    "unreachable": 0,
    "failed": 0,
    "stale": 1,
    "warning": 2,
    "unknown": 3,
    "running": 3,
    "ok": 4,
    "healthy": 4,
    "complete": 4,
    "verified": 4,
    "dry-run": 4,
}
UNRANKED = 3
#: Row statuses shown as the health words the operator knows.
AS_HEALTH = {"ok": "healthy"}


@dataclass
class Cell:
    """One routine's latest word on a target: its state, when, and whether that is older than allowed."""

    state: str = "unknown"
    at: datetime | None = None
    stale: bool = False
    note: str = ""
    link: str | None = None


@dataclass
class TargetRow:
    name: str
    kind: str
    tags: tuple[str, ...]
    health: Cell = field(default_factory=Cell)
    backup: Cell = field(default_factory=Cell)
    weekly: Cell = field(default_factory=Cell)
    findings: int = 0
    #: the newest result from any routine: (routine, state, when)
    latest: tuple[str, str, datetime] | None = None

    @property
    def overall(self) -> str:
        """The worst of the tile: critical, then stale, then warning, else healthy (unknown when nothing is known).
        Health and backup always count; weekly maintenance once it has run on the target (stale when it stops)."""
        cells = [self.health] + ([self.backup] if self.backup.state != "n/a" else [])
        cells += [self.weekly] if self.weekly.at is not None else []
        states = ["stale" if c.stale else c.state for c in cells]
        return min(states, key=lambda s: SEVERITY.get(s, UNRANKED)) if states else "unknown"


def allowed_age(schedule: Schedule, now: datetime) -> timedelta:
    """How old the last result may be: the schedule's period (between its two latest fire times) plus GRACE.

    The period is elapsed time (23 or 25 hours for a daily schedule across a DST change), not the
    wall-clock difference Python gives for two times of one zone (always 24 hours)."""
    from zoneinfo import ZoneInfo

    from croniter import croniter

    it = croniter(schedule.cron, now.astimezone(ZoneInfo(schedule.timezone)))
    last = it.get_prev(datetime).astimezone(UTC)
    before = it.get_prev(datetime).astimezone(UTC)
    return (last - before) + GRACE


def parse_iso(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def overview(
    inventory: Inventory,
    catalog,
    now: datetime,
    schedules: dict[str, Schedule],
    readable: Callable[[str], bool] = lambda routine: True,
) -> list[TargetRow]:
    """A row per inventory target. ``schedules``: routine -> schedule (for staleness); ``readable(routine)``:
    whether the viewer may see that routine's results (others stay unknown)."""
    from include.kinds import spec

    latest = {key: row for key, row in catalog.latest_target_status().items() if readable(key[1])}
    sets = catalog.backup_sets_of() if readable(BACKUP) else []
    rows = []
    for target in inventory.targets:
        row = TargetRow(target.name, target.kind, target.tags)
        health = latest.get((target.name, HEALTH))
        if health:
            row.health = _cell(health, schedules.get(HEALTH), now)
            row.findings = int(health["findings"])
        weekly = latest.get((target.name, WEEKLY))
        row.weekly = _cell(weekly, schedules.get(WEEKLY), now) if weekly else Cell()
        if spec(target.kind).backup and target.backup.get("enabled"):
            row.backup = _backup_cell(
                target, [s for s in sets if s["target"] == target.name], schedules.get(BACKUP), now
            )
        else:
            row.backup = Cell(state="n/a", note="no backups for this target")
        mine = [(routine, r) for (name, routine), r in latest.items() if name == target.name]
        if mine:
            routine, newest = max(mine, key=lambda item: item[1]["interval_end"])
            row.latest = (routine, AS_HEALTH.get(newest["status"], newest["status"]), parse_iso(newest["interval_end"]))
        rows.append(row)
    return rows


def _cell(status: dict[str, Any], schedule: Schedule | None, now: datetime) -> Cell:
    at = parse_iso(status["interval_end"])
    stale = schedule is not None and now - at > allowed_age(schedule, now)
    findings = int(status.get("findings") or 0)
    return Cell(
        AS_HEALTH.get(status["status"], status["status"]), at, stale, f"{findings} finding(s)" if findings else ""
    )


def _backup_cell(target: Target, sets: list[dict[str, Any]], schedule: Schedule | None, now: datetime) -> Cell:
    """The newest set that is not deleted: its state, when it started, and when it was verified."""
    live = [s for s in sets if s["state"] != "deleted"]
    if not live:
        return Cell(state="unknown", stale=True, note="no backup set yet")
    newest = live[0]
    good = next((s for s in live if s["state"] in ("complete", "verified")), None)
    at = _aware(newest["started_at"])
    good_at = _aware(good["started_at"]) if good else None
    stale = schedule is not None and (good_at is None or now - good_at > allowed_age(schedule, now))
    verified = _aware(newest["verified_at"]) if newest.get("verified_at") else None
    note = f"verified {verified:%Y-%m-%d %H:%M} UTC" if verified else "not verified yet"
    return Cell(newest["state"], at, stale, note)


def _aware(ts: datetime) -> datetime:
    """SQLite gives naive datetimes back: they are UTC."""
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def retention_until(target: Target, started_at: datetime) -> datetime | None:
    """When retention may delete a set of ``target`` by age (``backup.retention_days``), None without one."""
    days = target.backup.get("retention_days")
    return _aware(started_at) + timedelta(days=float(days)) if days else None


SORT_KEYS: dict[str, Callable[[TargetRow], Any]] = {
    "name": lambda r: r.name,
    "kind": lambda r: (r.kind, r.name),
    "state": lambda r: (SEVERITY.get(r.overall, UNRANKED), r.name),
    "health": lambda r: (SEVERITY.get("stale" if r.health.stale else r.health.state, UNRANKED), r.name),
    "backup": lambda r: (SEVERITY.get("stale" if r.backup.stale else r.backup.state, UNRANKED), r.name),
    "findings": lambda r: (-r.findings, r.name),
}


def filter_and_sort(rows: list[TargetRow], kind: str | None, tag: str | None, sort: str) -> list[TargetRow]:
    """Rows of ``kind`` carrying ``tag`` (either may be empty: no filter), in the order of ``sort``."""
    if sort not in SORT_KEYS:
        raise ValueError(f"unknown sort {sort!r}; one of {sorted(SORT_KEYS)}")
    chosen = [r for r in rows if (not kind or r.kind == kind) and (not tag or tag in r.tags)]
    return sorted(chosen, key=SORT_KEYS[sort])
