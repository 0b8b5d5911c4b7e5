"""The pre-update backup: every affected target with backups, through the backup routine's own code.

:func:`include.backup.runner.backup_target` dumps, publishes and records each set in the catalog
(running → complete, or failed with the error). One target failing does not stop the others from
being tried, but any failure means the update must not run.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from include.inventory import Inventory
from include.update.plan import UpdatePlan

log = logging.getLogger(__name__)


def back_up_all(inventory: Inventory, plan: UpdatePlan, ts: datetime) -> list[dict[str, Any]]:
    """``[{target, set_id, state, reason?}]`` for every target of ``plan['backups']``."""
    from include.backup.runner import backup_target
    from include.catalog import Catalog
    from include.targets import endpoint_for

    if plan.dry_run:
        log.info("DRY RUN: would back up %s", ", ".join(plan.backups) or "nothing (no target has backups)")
        return [{"target": name, "state": "dry-run"} for name in plan.backups]
    catalog = Catalog.for_inventory(inventory)
    outcomes = []
    for name in plan.backups:
        target = inventory.target(name)
        try:
            outcomes.append({"target": name, **backup_target(inventory, target, endpoint_for(target), ts, catalog)})
        except Exception as exc:  # noqa: BLE001 - recorded as failed in the catalog; the update will not run
            log.error("pre-update backup of %s FAILED: %s", name, exc)
            outcomes.append({"target": name, "state": "failed", "reason": f"{type(exc).__name__}: {exc}"})
    return outcomes
