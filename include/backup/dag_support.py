"""Glue shared by the backup, verify and restore DAGs (kept out of the DAG files so they stay one screen)."""

from __future__ import annotations

import logging
from datetime import datetime

from include.inventory import BACKUP_KINDS, Inventory

log = logging.getLogger(__name__)


def backup_targets(inventory: Inventory, names: list[str] | None = None, tags: list[str] | None = None) -> list[str]:
    """Targets whose kind has backups and whose ``backup.enabled`` is on."""
    chosen = [t.name for t in inventory.select(names=names or None, tags=tags or None, kinds=sorted(BACKUP_KINDS))
              if t.backup.get("enabled")]
    if not chosen:
        raise ValueError(f"no backup-enabled target matches names={names} tags={tags}")
    log.info("backing up %d target(s): %s", len(chosen), ", ".join(chosen))
    return chosen


def outcome_rows(inventory: Inventory, catalog, outcomes: list[dict], expected: list[str], ts: datetime) -> list[dict]:
    """Report rows for every expected target; a target without an outcome gets its catalog state and error."""
    from include.backup.reporting import as_result
    from include.backup.store import set_id_for

    by_target = {o["target"]: o for o in outcomes if o}
    rows = []
    for name in expected:
        target = inventory.target(name)
        outcome = by_target.get(name)
        if outcome is None:
            record = catalog.backup_set(set_id_for(name, ts)) or {}
            outcome = {"state": record.get("state", "failed"),
                       "reason": record.get("detail") or "the backup task failed before recording anything"}
        rows.append(as_result(outcome, name, target.kind))
    return rows
