"""Restoring a backup set over a live target, the way the seeds' runbook does it:
maintenance mode on, fetch (checksums checked), restore, maintenance mode off, health check, report.

Dry run by default: the plan is validated and logged, nothing is changed. Acting needs
``dry_run = false`` *and* the target's name typed into ``confirm``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.backup import runner, store
from include.backup.manifest import CorruptBackup
from include.backup.runner import DATABASE_KINDS, kind_module
from include.locks import TargetBusy, lease_for

if TYPE_CHECKING:
    from include.inventory import Inventory, Target
    from include.targets import Endpoint


log = logging.getLogger(__name__)


class RestoreRefused(ValueError):
    """The restore request is incomplete or unsafe; the message says what to change."""


def plan_restore(
    inventory: Inventory, catalog, target_name: str, set_id: str | None, dry_run: bool, confirm: str
) -> dict:
    """Resolve and check the request: which set (default: newest verified), and the confirmation."""
    target = inventory.target(target_name)
    if not target.backup:
        raise RestoreRefused(f"target {target_name!r} (kind {target.kind}) has no backups")
    if set_id:
        record = catalog.backup_set(set_id)
        if record is None or record["target"] != target_name:
            raise RestoreRefused(f"backup set {set_id!r} is not a set of {target_name!r} in the catalog")
        if record["state"] not in ("complete", "verified"):
            raise RestoreRefused(f"backup set {set_id!r} is {record['state']}: only complete or verified sets restore")
    else:
        verified = catalog.backup_sets_of(target_name, states=("verified",))
        if not verified:
            raise RestoreRefused(f"{target_name!r} has no verified backup set; name a set id explicitly")
        record = verified[0]
    if not dry_run and confirm != target_name:
        raise RestoreRefused(f"restoring over the live target needs confirm = {target_name!r} (got {confirm!r})")
    plan = {
        "target": target_name,
        "kind": target.kind,
        "set_id": record["set_id"],
        "state": record["state"],
        "uri": record["uri"],
        "dry_run": dry_run,
    }
    log.info(
        "%s restore of %s from %s (%s)",
        "DRY RUN:" if dry_run else "LIVE",
        target_name,
        record["set_id"],
        record["state"],
    )
    return plan


def only_databases(facts: dict[str, Any], databases: list[str] | None) -> dict[str, Any]:
    """The manifest facts cut to ``databases`` (None: all); :class:`RestoreRefused` naming one the set lacks."""
    if databases is None:
        return facts
    held = facts.get("databases", {})
    missing = [db for db in databases if db not in held]
    if missing:
        raise RestoreRefused(f"the backup set holds no database {missing} (it holds {sorted(held)})")
    cut = {**facts, "databases": {db: held[db] for db in databases}}
    for per_database in ("database_properties", "routine_grants", "schema_grants"):
        if per_database in facts:
            cut[per_database] = {db: p for db, p in facts[per_database].items() if db in databases}
    return cut


def restore_live(inventory: Inventory, target: Target, endpoint: Endpoint, plan: dict) -> dict[str, Any]:
    """Fetch the set (checksums verified on the way) and load it over the live target; ``plan["databases"]``
    (when given) restores only those databases of the set. The load holds the target's lease
    (:mod:`include.locks`): another routine holding it past the wait limit makes the outcome ``not-run``."""
    from include.catalog import Catalog

    folder = runner.sets_folder(inventory, target.name, plan["set_id"])
    t0 = time.monotonic()
    with runner.workspace("restore") as workdir:
        try:  # held while downloading: retention does not delete the set under the restore
            with runner.holding_set(inventory, Catalog.for_inventory(inventory), plan["set_id"]):
                manifest = store.fetch(folder, workdir)
        except (TargetBusy, runner.SetNotReadable) as exc:  # deleted or busy since the plan: nothing was loaded
            log.error("restore of %s over %s NOT RUN: %s", plan["set_id"], target.name, exc)
            return {**plan, "state": "not-run", "reason": f"not restored: {exc}"}
        except CorruptBackup as exc:  # the set is at fault; nothing was loaded: the report names what is wrong
            reason = f"not restored, {target.name} untouched: {exc}"
            log.error("restore of %s over %s REFUSED: %s", plan["set_id"], target.name, reason)
            return {**plan, "state": "failed", "reason": reason}
        if target.kind in DATABASE_KINDS:
            manifest.facts = only_databases(manifest.facts, plan.get("databases"))
        if plan["dry_run"]:
            log.info(
                "DRY RUN: would restore %d file(s), %d bytes of %s over %s; facts at backup time: %s",
                len(manifest.files),
                manifest.size_bytes,
                plan["set_id"],
                target.name,
                manifest.facts,
            )
            return {**plan, "state": "dry-run", "bytes": manifest.size_bytes, "facts": manifest.facts}
        try:
            with lease_for(inventory, target.name):
                observed = _load(target, endpoint, workdir, manifest.facts)
        except TargetBusy as busy:  # another routine kept the target: nothing was loaded
            log.error("restore of %s over %s NOT RUN: %s", plan["set_id"], target.name, busy)
            return {**plan, "state": "not-run", "reason": f"not restored: {busy}", "bytes": manifest.size_bytes}
        except Exception as exc:  # noqa: BLE001 - a failed load is an outcome: the report and the alert must go out
            reason = f"the load failed: {type(exc).__name__}: {exc}"
            log.error("restore of %s over %s FAILED: %s", plan["set_id"], target.name, reason)
            return {
                **plan,
                "state": "failed",
                "reason": reason,
                "seconds": round(time.monotonic() - t0, 2),
                "bytes": manifest.size_bytes,
            }
    notes = observed.pop("notes", [])  # what else the load did (MySQL: live tables the backup does not hold)
    problems = runner.facts_difference(manifest.facts, observed)
    seconds = time.monotonic() - t0
    outcome = {
        **plan,
        "state": "restored" if not problems else "failed",
        "seconds": round(seconds, 2),
        "bytes": manifest.size_bytes,
        "facts": observed,
        **({"notes": notes} if notes else {}),
    }
    if problems:
        outcome["reason"] = "after restore the target differs from the backup: " + "; ".join(problems)
        log.error(outcome["reason"])
    else:
        log.info(
            "restored %s over %s in %.1fs (%.1f MiB/s)",
            plan["set_id"],
            target.name,
            seconds,
            manifest.size_bytes / 2**20 / max(seconds, 1e-6),
        )
    return outcome


def _load(target: Target, endpoint: Endpoint, workdir: Path, facts: dict[str, Any]) -> dict[str, Any]:
    """Load the fetched set over the target with its kind's module; the facts it shows afterwards (and ``notes``).
    PostgreSQL and MySQL load into a side copy and swap it in (a failed load leaves the database as it was)."""
    module = kind_module(target.kind)
    timeout_s = target.backup["timeout_seconds"]
    if target.kind in DATABASE_KINDS:
        names = {db: db for db in facts.get("databases", {})}
        observed = module.restore(endpoint, workdir, facts, database_map=names, timeout_s=timeout_s, replace=True)
    elif target.kind == "redis":
        observed = module.restore(endpoint, workdir, facts, timeout_s=timeout_s, flush=True)
    else:
        observed = module.restore(endpoint, workdir, facts, timeout_s=timeout_s)
    return observed
