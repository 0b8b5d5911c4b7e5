"""Glue shared by the backup, verify and restore DAGs (kept out of the DAG files so they stay one screen)."""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.sdk import Asset

from include.inventory import Inventory
from include.kinds import kinds_with

log = logging.getLogger(__name__)

#: Announced by the backup DAG for every completed set; the verify DAG is scheduled on it.
#: The ``x-`` scheme marks a custom URI, so Airflow does not load every provider's URI
#: normalisers (boto3 among them) to parse the DAG files that use it.
BACKUP_SETS = Asset("aegis-backup-sets", uri="x-aegis://backups")


def backup_targets(inventory: Inventory, names: list[str] | None = None, tags: list[str] | None = None) -> list[str]:
    """Targets whose kind has backups and whose ``backup.enabled`` is on."""
    chosen = [
        t.name
        for t in inventory.select(names=names or None, tags=tags or None, kinds=list(kinds_with("backup")))
        if t.backup.get("enabled")
    ]
    if not chosen:
        raise ValueError(f"no backup-enabled target matches names={names} tags={tags}")
    log.info("backing up %d target(s): %s", len(chosen), ", ".join(chosen))
    return chosen


def outcome_rows(inventory: Inventory, catalog, outcomes: list[dict], expected: list[str], ts: datetime) -> list[dict]:
    """Report rows for every expected target; a target without an outcome gets its catalog state and error (without
    a usable catalog, ``None``: failed, the task's own failure)."""
    from include.backup.reporting import as_result
    from include.backup.store import set_id_for

    by_target = {o["target"]: o for o in outcomes if o}
    rows = []
    for name in expected:
        target = inventory.target(name)
        outcome = by_target.get(name)
        if outcome is None:
            record = (catalog.backup_set(set_id_for(name, ts)) if catalog is not None else None) or {}
            unknown = (
                "the backup task failed before recording anything"
                if catalog is not None
                else "the backup task failed, and the catalog that would say why cannot be used (see the alert)"
            )
            outcome = {"state": record.get("state", "failed"), "reason": record.get("detail") or unknown}
        rows.append(as_result(outcome, name, target.kind))
    return rows


def sets_to_verify(
    inventory: Inventory,
    catalog,
    asset_events: list[dict],
    names: list[str] | None,
    tags: list[str] | None = None,
) -> list[str]:
    """Set ids to verify: the ones announced by the backup DAG, else the newest set of every target (of those
    picked by ``names`` and ``tags``, :func:`backup_targets`)."""
    announced = [e["set_id"] for e in asset_events if e.get("set_id")]
    if announced:
        log.info("verifying the announced set(s): %s", ", ".join(announced))
        return sorted(set(announced))
    chosen = []
    for name in backup_targets(inventory, names, tags):
        newest = catalog.backup_sets_of(name, states=("complete", "verified"))
        if newest:
            chosen.append(newest[0]["set_id"])
        else:
            log.warning("%s: no complete backup set to verify", name)
    return chosen


def target_of_set(catalog, set_id: str) -> str | None:
    """The target a backup set was taken of, from the catalog (``None`` for a set it does not know)."""
    record = catalog.backup_set(set_id)
    return record["target"] if record else None


def verify_one(inventory: Inventory, catalog, set_id: str, run_id: str | None = None) -> dict:
    """Verify one set from the catalog: checksums, restore into scratch, compare with the manifest; a verified
    set records ``run_id`` (this verify_backups run) as the run that verified it."""
    from include.backup.runner import verify_set
    from include.targets import endpoint_for

    record = catalog.backup_set(set_id)
    if record is None:
        return {"set_id": set_id, "target": "?", "state": "failed", "reason": f"no backup set {set_id} in the catalog"}
    target = inventory.target(record["target"])
    return {**verify_set(inventory, target, endpoint_for(target), set_id, catalog, run_id), "target": target.name}
