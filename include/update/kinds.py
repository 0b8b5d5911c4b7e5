"""The update itself, one of three kinds, each returning what it changed (so it can be undone).

- ``sql_migration``: :mod:`include.update.migrations` on the update target's database;
  undone by restoring the pre-update backup.
- ``release_switch``: :mod:`include.update.release` on the host running the task;
  undone by switching ``current`` back (and running the command again).
- ``k8s_image``: the deployment's container image through :mod:`include.clients.kubernetes`, then the
  rollout status; undone by setting the previous image back.

:func:`apply_update` never raises for a failed update: the outcome says ``failed`` with the
cause and what had already changed, and the branch decides the rollback.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from include.inventory import Inventory

log = logging.getLogger(__name__)


def kube_for(target):
    """The Kubernetes seam for ``target`` (tests hand a client built on the labelled fakes instead)."""
    from include.clients.kubernetes import connect
    from include.targets import endpoint_for

    return connect(endpoint_for(target), target.timeout_seconds)


def current_version(inventory: Inventory, plan: dict[str, Any]) -> str | None:
    """What runs now: the last migration file, the ``current`` release, or the container image."""
    from include.targets import endpoint_for

    if plan["kind"] == "sql_migration":
        from include.update.migrations import current_version as sql_version

        target = inventory.target(plan["update_target"])
        return sql_version(target.kind, endpoint_for(target), plan["sql"]["database"], target.timeout_seconds)
    if plan["kind"] == "release_switch":
        from include.update.release import current_release

        return current_release(plan["release"]["root"])
    from include.clients.kubernetes import container_image

    k = plan["k8s"]
    return container_image(kube_for(inventory.target(plan["update_target"])), k["namespace"], k["deployment"],
                           k["container"])


def apply_update(inventory: Inventory, plan: dict[str, Any], run_id: str, timeout_s: float) -> dict[str, Any]:
    """Apply the plan's update; ``{state: updated|failed|dry-run, from, to, changed, reason?}``."""
    t0 = time.monotonic()
    outcome: dict[str, Any] = {"kind": plan["kind"], "target": plan["update_target"], "changed": False}
    try:
        outcome["from"] = current_version(inventory, plan)
        if plan["dry_run"]:
            outcome.update(state="dry-run", to=_wanted(plan))
            log.info("DRY RUN: would %s (now: %s)", _describe(plan), outcome["from"])
            return outcome
        outcome["changed"] = True  # from here on something may have changed: the rollback must run
        outcome.update(_APPLY[plan["kind"]](inventory, plan, run_id, timeout_s))
        outcome["state"] = "updated"
        log.info("updated %s: %s -> %s", plan["update_target"] or plan["kind"], outcome["from"], outcome["to"])
    except Exception as exc:  # noqa: BLE001 - a failed update is an outcome: the branch decides the rollback
        outcome.update(state="failed", reason=f"{type(exc).__name__}: {exc}",
                       applied=getattr(exc, "applied", outcome.get("applied", [])))
        log.error("update FAILED: %s", outcome["reason"])
    outcome["seconds"] = round(time.monotonic() - t0, 2)
    return outcome


def _describe(plan: dict[str, Any]) -> str:
    from include.update.plan import describe

    return describe(plan)


def _wanted(plan: dict[str, Any]) -> str:
    return {"sql_migration": lambda: plan["sql"]["files"][-1]["name"],
            "release_switch": lambda: plan["release"]["version"],
            "k8s_image": lambda: plan["k8s"]["image"]}[plan["kind"]]()


def _sql(inventory: Inventory, plan: dict[str, Any], run_id: str, timeout_s: float) -> dict[str, Any]:
    from include.targets import endpoint_for
    from include.update.migrations import apply

    target = inventory.target(plan["update_target"])
    s = plan["sql"]
    result = apply(target.kind, endpoint_for(target), s["database"], s["folder"], s["files"], run_id, timeout_s)
    return {"to": result["version"], "applied": result["applied"], "already_applied": result["already_applied"]}


def _release(inventory: Inventory, plan: dict[str, Any], run_id: str, timeout_s: float) -> dict[str, Any]:
    from include.update.release import run_command, switch

    r = plan["release"]
    switched = switch(r["root"], r["version"])
    out: dict[str, Any] = {"to": switched["to"], "previous_release": switched["from"]}
    if r["command"]:
        out["command"] = run_command(r["command"], f"{r['root']}/current", r["command_timeout_s"])
    return out


def _k8s(inventory: Inventory, plan: dict[str, Any], run_id: str, timeout_s: float) -> dict[str, Any]:
    from include.clients.kubernetes import container_image, set_container_image, wait_for_rollout

    k = plan["k8s"]
    client = kube_for(inventory.target(plan["update_target"]))
    previous = container_image(client, k["namespace"], k["deployment"], k["container"])
    set_container_image(client, k["namespace"], k["deployment"], k["container"], k["image"])
    rollout = wait_for_rollout(client, k["namespace"], k["deployment"], k["rollout_timeout_s"])
    return {"to": k["image"], "previous_image": previous, "rollout": rollout}


_APPLY = {"sql_migration": _sql, "release_switch": _release, "k8s_image": _k8s}
