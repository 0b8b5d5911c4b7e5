"""The update itself, whatever its kind: the outcome says what changed, so it can be undone.

The kind's work is its strategy's (:mod:`include.update.strategies`); here is what every kind
shares: the version before, the dry run, the timing, and that :func:`apply_update` never raises
for a failed update: the outcome says ``failed`` with the cause and what had already changed,
and the branch decides the rollback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from include.inventory import Inventory
from include.update.plan import UpdatePlan, describe
from include.update.strategies import strategy_for

log = logging.getLogger(__name__)


def current_version(inventory: Inventory, plan: UpdatePlan) -> str | None:
    """What runs now: the last migration file, the ``current`` release, or the container image."""
    return strategy_for(plan.kind).current_version(inventory, plan)


def update_lease(inventory: Inventory, plan: UpdatePlan) -> AbstractContextManager:
    """The update target's lease (:mod:`include.locks`); nothing to hold for an update without a target."""
    from include.locks import lease_for

    return lease_for(inventory, plan.update_target) if plan.update_target else nullcontext()


def apply_update(
    inventory: Inventory, plan: UpdatePlan, run_id: str, timeout_s: float, previous: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Apply the plan's update; ``{state: updated|failed|dry-run, from, to, changed, reason?}``.

    ``previous`` is what :func:`current_version` recorded in its own task before the update (``{"from": …}``):
    a rerun after a crash must not take the new version it finds for the one before. Without it the version is
    read here (for a caller with no separate record)."""
    strategy = strategy_for(plan.kind)
    t0 = time.monotonic()
    outcome: dict[str, Any] = {"kind": plan.kind, "target": plan.update_target, "changed": False}
    try:
        outcome["from"] = previous["from"] if previous is not None else strategy.current_version(inventory, plan)
        if plan.dry_run:
            outcome.update(state="dry-run", to=strategy.wanted(plan))
            outcome.update(strategy.simulate(inventory, plan))  # reads only; raises when it could not be applied
            log.info("DRY RUN: would %s (now: %s)", describe(plan), outcome["from"])
            return outcome
        with update_lease(inventory, plan):  # raises TargetBusy (nothing changed) when another routine keeps it
            outcome["changed"] = True  # from here on something may have changed: the rollback must run
            outcome.update(strategy.apply(inventory, plan, run_id, timeout_s))
        outcome["state"] = "updated"
        log.info("updated %s: %s -> %s", plan.update_target or plan.kind, outcome["from"], outcome["to"])
    except Exception as exc:  # noqa: BLE001 - a failed update is an outcome: the branch decides the rollback
        outcome.update(
            state="failed",
            reason=f"{type(exc).__name__}: {exc}",
            applied=getattr(exc, "applied", outcome.get("applied", [])),
        )
        if getattr(exc, "untouched", False):  # the strategy knows nothing reached the target
            outcome["changed"] = False
        log.error("update FAILED: %s", outcome["reason"])
    outcome["seconds"] = round(time.monotonic() - t0, 2)
    return outcome
