"""What a run may change: the form's ``dry_run`` for a manual run, the inventory for a scheduled one.

A scheduled run has no person filling in the form, so it runs with the form's defaults, which are dry
runs: partitions were never added ahead, retention never applied. Here the decision is written once,
as pure functions of the run type and the inventory:

- **Manual runs** (triggered from the UI / API / CLI, and any other run type but the two below) do
  what the form says: ``dry_run`` off applies every destructive step, on only plans them.
- **Scheduled and backfill runs** (Airflow ``run_type`` ``scheduled`` / ``backfill``: a backfill
  re-runs past scheduled intervals, so it behaves as those runs would have) apply exactly the steps
  the target's ``weekly.apply`` names (default: none) and only plan the rest; a backup applies
  retention when the target's ``backup.apply_retention`` is on.

Non-destructive upkeep (adding partitions ahead, VACUUM/ANALYZE, compaction, checkpoints) is not a
step here: it runs in every run, dry or not.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

#: Airflow run types whose changes the inventory decides (not the form).
SCHEDULED_RUN_TYPES = ("scheduled", "backfill")
#: Why a step was only planned.
NOT_IN_APPLY = "not in weekly.apply"
DRY_RUN = "dry run (form)"


def is_scheduled(run_type: Any) -> bool:
    """Whether a run of ``run_type`` (a ``DagRunType`` or its value; None: unknown) follows the inventory."""
    return str(getattr(run_type, "value", run_type) or "") in SCHEDULED_RUN_TYPES


def run_type_of(dag_run: Any) -> str:
    """The run type of an Airflow ``dag_run`` as a plain string (``manual`` when there is no run)."""
    value = getattr(dag_run, "run_type", None)
    return str(getattr(value, "value", value) or "manual")


@dataclass(frozen=True)
class StepPlan:
    """Which destructive steps of one target a run carries out, and why the others are only planned."""

    applied: frozenset[str] = frozenset()
    planned: dict[str, str] = field(default_factory=dict)  # step -> why it was only planned

    def to_dict(self) -> dict[str, Any]:
        return {"applied": sorted(self.applied), "planned": dict(sorted(self.planned.items()))}

    def note(self) -> str:
        """One line for the report: ``destructive steps applied: partitions; only planned: purge (not in weekly.apply)``."""
        done = ", ".join(sorted(self.applied)) or "none"
        planned = ", ".join(f"{step} ({why})" for step, why in sorted(self.planned.items())) or "none"
        return f"destructive steps applied: {done}; only planned: {planned}"


def weekly_steps(steps: Collection[str], configured: Collection[str], *, scheduled: bool, dry_run: bool) -> StepPlan:
    """The plan of a target whose concern has destructive ``steps``: a scheduled run applies those in
    ``configured`` (its ``weekly.apply``), a manual one all of them unless ``dry_run``."""
    if scheduled:
        applied = frozenset(s for s in steps if s in configured)
        return StepPlan(applied, {s: NOT_IN_APPLY for s in steps if s not in applied})
    if dry_run:
        return StepPlan(frozenset(), dict.fromkeys(steps, DRY_RUN))
    return StepPlan(frozenset(steps))


def retention_dry_run(backup_settings: dict[str, Any], *, scheduled: bool, form_apply: bool) -> tuple[bool, str]:
    """(dry run?, why) of one target's backup retention: a scheduled run follows ``backup.apply_retention``,
    a manual one the form's ``apply_retention``."""
    if scheduled:
        if backup_settings.get("apply_retention"):
            return False, "scheduled run, backup.apply_retention on"
        return True, "scheduled run, backup.apply_retention off"
    return (False, "form: apply_retention on") if form_apply else (True, "form: apply_retention off")
