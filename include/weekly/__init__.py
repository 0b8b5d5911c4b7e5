"""Weekly maintenance, one concern module per kind of target: the registry and the bounded way to run one.

What belongs here: the concern modules (``postgres``, ``mysql/`` (optimize, purge, partitions),
``redis_cleanup``, ``logs``, ``milvus``, ``neo4j``), the shared contract (:mod:`.concern`), the time
budget (:mod:`.budget`) and the routine that runs them (:mod:`.routine`). Every concern module
follows one contract::

    DEFAULTS: dict[str, Any]                      # its settings and their defaults (plain values)
    def check_settings(settings: dict) -> None    # optional: ValueError("<key>: <reason>")
    STEPS: dict[str, str]                         # optional: its destructive steps (weekly.apply's names)

    @concern(DEFAULTS, check_settings, STEPS)
    def maintain(target, endpoint, settings, budget, *, dry_run) -> CheckResult

Callers call ``maintain(target, endpoint, settings, dry_run=...)``; :func:`.concern.concern` merges
``settings`` (the target's ``weekly:`` block of the inventory, validated when the inventory is
loaded, see ``include/inventory.py``) over ``DEFAULTS``, checks them and starts a
:class:`~.budget.Budget` of ``max_seconds``: the concern stops starting new work once it is spent
and takes its "now" from it. Only destructive actions look at ``dry_run``.

Which destructive steps a run carries out: :func:`run_concern` asks :mod:`include.run_policy`
(a manual run: the form's ``dry_run``; a scheduled or backfill run: the target's ``weekly.apply``)
and writes the answer into the result (``details.steps`` and a ``note`` line of the report).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from include.checks.base import UNREACHABLE, CheckResult, run_bounded
from include.kinds import kinds_with, spec
from include.run_policy import weekly_steps

log = logging.getLogger(__name__)

#: Seconds a module may run when its settings do not say (``max_seconds``).
DEFAULT_MAX_SECONDS = 1800
#: Extra seconds the wall-clock backstop gives a module past its own ``max_seconds``, so a module
#: that stops cleanly on its own budget reports what it did instead of being cut off.
BACKSTOP_GRACE_SECONDS = 60


def concern_module(kind: str):
    """The concern module of ``kind`` (``KeyError`` naming the installed kinds when there is none)."""
    module = spec(kind).weekly
    if module is None:
        raise KeyError(f"no weekly maintenance for kind {kind!r}; kinds with one: {sorted(kinds_with('weekly'))}")
    return importlib.import_module(module)


def defaults_for(kind: str) -> dict[str, Any]:
    """A copy of the concern's ``DEFAULTS`` (empty for a kind without weekly maintenance)."""
    if not spec(kind).weekly:
        return {}
    return dict(concern_module(kind).DEFAULTS)


def steps_of(kind: str) -> dict[str, str]:
    """The destructive steps of ``kind``'s concern (``{name: what it does}``; empty when it has none)."""
    if not spec(kind).weekly:
        return {}
    return dict(getattr(concern_module(kind), "STEPS", {}))


def all_steps() -> dict[str, str]:
    """Every destructive step name of every installed concern (what ``defaults.weekly.apply`` may name)."""
    return {name: what for kind in kinds_with("weekly") for name, what in steps_of(kind).items()}


def time_budget(settings: dict[str, Any]) -> float:
    """The wall-clock bound of one target's maintenance: its ``max_seconds`` plus the grace."""
    return float(settings.get("max_seconds") or DEFAULT_MAX_SECONDS) + BACKSTOP_GRACE_SECONDS


def run_concern(target, endpoint, *, dry_run: bool = True, scheduled: bool = False, **extra: Any) -> dict[str, Any]:
    """Run the weekly maintenance of one target, bounded in time; return the result as a dict.

    ``scheduled``: a scheduled / backfill run, whose destructive steps are the target's ``weekly.apply``
    (``dry_run`` is then not looked at); otherwise the form's ``dry_run`` decides for all of them.
    ``extra`` goes to the module's ``maintain`` as keyword arguments (the logs concern's
    ``archive_folder``). A target that cannot be reached, an exception or a run past the
    time budget becomes an ``unreachable`` result: the caller always gets a result.
    """
    module = concern_module(target.kind)
    settings = target.weekly or defaults_for(target.kind)
    plan = weekly_steps(steps_of(target.kind), settings.get("apply") or [], scheduled=scheduled, dry_run=dry_run)
    log.info(
        "%s (%s): weekly maintenance, %s, budget %gs",
        target.name,
        target.kind,
        plan.note() if plan.applied or plan.planned else "no destructive step",
        time_budget(settings),
    )
    result = run_bounded(
        target.name,
        target.kind,
        lambda: module.maintain(target, endpoint, settings, dry_run=dry_run, apply=plan.applied, **extra),
        time_budget(settings),
    )
    if (plan.applied or plan.planned) and result.status != UNREACHABLE:
        result.details["steps"] = plan.to_dict()
        note = result.details.get("note")
        result.details["note"] = plan.note() + (f"; {note}" if isinstance(note, str) else "")
    return result.to_dict()


def unreachable(target, message: str) -> dict[str, Any]:
    """The result of a target that could not even be addressed (e.g. its connection is missing)."""
    result = CheckResult(target.name, target.kind)
    result.add(UNREACHABLE, message)
    return result.to_dict()
