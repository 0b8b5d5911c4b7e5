"""Promote or roll back: the decision (with its reasons) and the way back for each update kind.

:func:`decide` is pure: it reads what the backup, update and test tasks returned and says which
branch runs and why. The rollback restores the update target's pre-update backup
(:func:`include.backup.restore.restore_live`, database replaced), switches ``current`` back to
the release it pointed to, or sets the deployment's previous image back and waits for its rollout.
"""

from __future__ import annotations

import logging
from typing import Any

from include.inventory import Inventory

log = logging.getLogger(__name__)

PROMOTE, ROLLBACK, NOTHING = "promote", "rollback", "nothing"


def decide(plan: dict[str, Any], backups: list[dict[str, Any]] | None, update: dict[str, Any] | None,
           tests: dict[str, Any] | None) -> tuple[str, list[str]]:
    """``(promote | rollback | nothing, reasons)``.

    - a dry run, or a pre-update backup that failed (so the update never ran): nothing to do;
    - the update failed, or left no outcome (its task died): rollback;
    - any post-update test failed (or the tests never ran): rollback;
    - otherwise: promote.
    """
    if plan["dry_run"]:
        return NOTHING, ["dry run: nothing was changed, nothing to promote or roll back"]
    if backups is None:
        return NOTHING, ["the pre-update backup did not run or left no outcome (an earlier step failed, or the task"
                         " died): the update was NOT run, the targets are untouched"]
    failed_backups = [b for b in backups if b.get("state") not in ("complete", "verified")]
    if failed_backups or len(backups) < len(plan["backups"]):
        why = "; ".join(f"{b['target']}: {b.get('reason') or b.get('state')}" for b in failed_backups)
        return NOTHING, [f"pre-update backup failed ({why or 'a target has no outcome'}): the update was NOT run,"
                         " the targets are untouched"]
    if update is None:
        return ROLLBACK, ["the update task left no outcome (it died or was killed): rolling back to be safe"]
    if update.get("state") != "updated":
        return ROLLBACK, [f"the update failed: {update.get('reason', update.get('state'))}"]
    if tests is None:
        return ROLLBACK, ["the post-update tests did not run: the new version is unproven"]
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


def roll_back(inventory: Inventory, plan: dict[str, Any], update: dict[str, Any] | None,
              backups: list[dict[str, Any]]) -> dict[str, Any]:
    """Undo the update; ``{state: rolled-back|failed, how, reason?}``."""
    try:
        out = _UNDO[plan["kind"]](inventory, plan, update or {}, backups)
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


def _restore_backup(inventory: Inventory, plan: dict[str, Any], update: dict[str, Any],
                    backups: list[dict[str, Any]]) -> dict[str, Any]:
    from include.backup.restore import restore_live
    from include.targets import endpoint_for

    target = inventory.target(plan["update_target"])
    backup = backup_of(backups, target.name)
    restored = restore_live(inventory, target, endpoint_for(target),
                            {"target": target.name, "kind": target.kind, "set_id": backup["set_id"],
                             "dry_run": False})
    out = {"how": f"restored pre-update backup {backup['set_id']} over {target.name} (database replaced)",
           "set_id": backup["set_id"], "seconds": restored.get("seconds")}
    if restored["state"] != "restored":
        out.update(state="failed", reason=restored.get("reason", "restore failed"))
    return out


def _switch_back(inventory: Inventory, plan: dict[str, Any], update: dict[str, Any],
                 backups: list[dict[str, Any]]) -> dict[str, Any]:
    from pathlib import Path

    from include.update.release import current_release, run_command, switch

    r = plan["release"]
    previous = update.get("from")
    if previous is None and "from" not in update:
        raise RuntimeError("the update recorded no previous release: cannot tell what to switch back to")
    if previous is None:
        link = Path(r["root"]) / "current"
        if link.is_symlink():
            link.unlink()
        out = {"how": f"removed {r['root']}/current (there was none before the update)"}
    elif current_release(r["root"]) == previous:
        out = {"how": f"{r['root']}/current already points to {previous}"}
    else:
        switch(r["root"], previous)
        out = {"how": f"switched {r['root']}/current back to releases/{previous}"}
    if r["command"] and previous is not None:
        out["command"] = run_command(r["command"], f"{r['root']}/current", r["command_timeout_s"])
        out["how"] += f", ran {r['command'][0]} again"
    return out


def _previous_image(inventory: Inventory, plan: dict[str, Any], update: dict[str, Any],
                    backups: list[dict[str, Any]]) -> dict[str, Any]:
    from include.clients.kubernetes import set_container_image, wait_for_rollout
    from include.update.kinds import kube_for

    k = plan["k8s"]
    previous = update.get("from")
    if not previous:
        raise RuntimeError("the update recorded no previous image: cannot tell what to roll back to")
    client = kube_for(inventory.target(plan["update_target"]))
    set_container_image(client, k["namespace"], k["deployment"], k["container"], previous)
    rollout = wait_for_rollout(client, k["namespace"], k["deployment"], k["rollout_timeout_s"])
    return {"how": f"set {k['namespace']}/{k['deployment']} {k['container']} back to {previous} ({rollout})"}


_UNDO = {"sql_migration": _restore_backup, "release_switch": _switch_back, "k8s_image": _previous_image}
