"""Promote or roll back: the decision (with its reasons) and the rollback.

:func:`decide` is pure: it reads what the backup, update and test tasks returned and says which
branch runs and why. :func:`roll_back` asks the kind's strategy to undo the update (restore the
pre-update backup, switch ``current`` back, set the previous image back: see
:mod:`include.update.strategies`) and never raises: its outcome says whether it worked.
"""

from __future__ import annotations

import logging
from typing import Any

from include.inventory import Inventory
from include.update.plan import UpdatePlan

log = logging.getLogger(__name__)

PROMOTE, ROLLBACK, NOTHING, NOT_APPLIED = "promote", "rollback", "nothing", "not applied"


def decide(
    plan: UpdatePlan, backups: list[dict[str, Any]] | None, update: dict[str, Any] | None, tests: dict[str, Any] | None
) -> tuple[str, list[str]]:
    """``(promote | rollback | not applied | nothing, reasons)``.

    - a dry run, or a pre-update backup that failed (so the update never ran): nothing to do;
    - the update failed before changing anything (``changed`` false: a refused checksum, a first PostgreSQL
      migration file that failed and rolled back its own transaction): not applied; the target is kept as it
      is, with every write made since the backup (a rollback would throw them away for nothing);
    - the update failed, or left no outcome (its task died): rollback;
    - any post-update test failed (or the tests never ran): rollback;
    - otherwise: promote.
    """
    if plan.dry_run:
        return NOTHING, ["dry run: nothing was changed, nothing to promote or roll back"]
    if backups is None:
        return NOTHING, [
            "the pre-update backup did not run or left no outcome (an earlier step failed, or the task"
            " died): the update was NOT run, the targets are untouched"
        ]
    failed_backups = [b for b in backups if b.get("state") not in ("complete", "verified")]
    if failed_backups or len(backups) < len(plan.backups):
        why = "; ".join(f"{b['target']}: {b.get('reason') or b.get('state')}" for b in failed_backups)
        return NOTHING, [
            f"pre-update backup failed ({why or 'a target has no outcome'}): the update was NOT run,"
            " the targets are untouched"
        ]
    if update is None:
        return ROLLBACK, ["the update task left no outcome (it died or was killed): rolling back to be safe"]
    if update.get("state") != "updated" and update.get("changed") is False:
        return NOT_APPLIED, [
            f"the update failed before changing anything: {update.get('reason', update.get('state'))}"
            "; NOT APPLIED: the target is kept as it was, no rollback"
        ]
    if update.get("state") != "updated":
        return ROLLBACK, [f"the update failed: {update.get('reason', update.get('state'))}"]
    if tests is None:
        return ROLLBACK, ["the post-update tests did not run: the new version is unproven"]
    if not tests.get("results"):
        return ROLLBACK, ["no post-update test ran: the new version is unproven"]
    if not tests["passed"]:
        return ROLLBACK, [f"post-update test failed: {f}" for f in tests["failures"]]
    passed = len(tests["results"])
    return PROMOTE, [f"update to {update.get('to')} applied and all {passed} post-update test(s) passed"]


def backup_of(backups: list[dict[str, Any]], target: str) -> dict[str, Any]:
    """The pre-update backup outcome of ``target`` (there is one when the update ran)."""
    for b in backups:
        if b["target"] == target:
            return b
    raise LookupError(f"no pre-update backup of {target} in this run: cannot restore it")


def roll_back(
    inventory: Inventory,
    plan: UpdatePlan,
    update: dict[str, Any] | None,
    backups: list[dict[str, Any]] | None,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Undo the update; ``{state: rolled-back|failed, how, reason?}``. ``previous`` (the version recorded before
    the update, ``{"from": …}``) is what it goes back to, even when the update task left no outcome."""
    from include.update.strategies import strategy_for

    undone = {**(update or {}), **({"from": previous["from"]} if previous is not None else {})}
    try:
        from include.update.apply import update_lease

        with update_lease(inventory, plan):
            out = strategy_for(plan.kind).undo(inventory, plan, undone, backups or [])
        out.setdefault("state", "rolled-back")
    except Exception as exc:  # noqa: BLE001 - the report must say the rollback itself failed
        out = {"state": "failed", "reason": f"{type(exc).__name__}: {exc}"}
        log.error("ROLLBACK FAILED: %s", out["reason"])
        return out
    if out["state"] != "rolled-back":
        log.error("ROLLBACK FAILED: %s: %s", out["how"], out.get("reason"))
    else:
        log.info("rolled back: %s", out["how"])
    return out
