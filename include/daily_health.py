"""The daily health check as plain functions: select, check one target, summarise, report, record.

The DAG file only wires these together; each can be called from a test or a
shell without a scheduler.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from include.checks import Window, run_check
from include.checks.base import UNREACHABLE, CheckResult
from include.inventory import Inventory
from include.kinds import all_kinds, kinds_with
from include.report import Report
from include.targets import endpoint_for

log = logging.getLogger(__name__)
ROUTINE = "daily_health_check"


def select_targets(
    inventory: Inventory, names: list[str], tags: list[str], threshold_overrides: dict[str, Any]
) -> list[list[str]]:
    """The targets this run checks, spread over the check tasks (:func:`spread`, at most
    ``defaults.check_tasks``); refuses unknown names and unknown threshold keys."""
    known_keys = {k for kind in all_kinds().values() for k in kind.thresholds}
    unknown = sorted(set(threshold_overrides) - known_keys)
    if unknown:
        raise ValueError(f"unknown threshold override(s) {unknown}; known thresholds: {sorted(known_keys)}")
    bad = {
        k: v
        for k, v in threshold_overrides.items()
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
    }
    if bad:
        raise ValueError(f"threshold overrides must be (finite) numbers: {bad}")
    chosen = [t.name for t in inventory.select(names=names or None, tags=tags or None, kinds=list(kinds_with("check")))]
    if not chosen:
        raise ValueError(f"no target matches names={names} tags={tags}")
    tasks = spread(chosen, inventory.check_tasks)
    log.info("checking %d target(s) in %d task(s): %s", len(chosen), len(tasks), " | ".join(map(", ".join, tasks)))
    return tasks


def spread(names: list[str], max_tasks: int) -> list[list[str]]:
    """The targets spread over at most ``max_tasks`` check tasks, in order, sizes within one of each other.

    While the targets fit, every task checks one target (the grid shows one square per target).
    """
    tasks = max(1, min(len(names), max_tasks))
    size, extra = divmod(len(names), tasks)
    out, start = [], 0
    for i in range(tasks):
        end = start + size + (1 if i < extra else 0)
        out.append(names[start:end])
        start = end
    return out


#: at most this many targets of one check task are checked at the same time (each holds a connection to
#: its server: a task of hundreds of targets must not open hundreds at once)
CHECK_THREADS = 32


def previous_metrics(catalog, name: str, end: datetime) -> dict[str, float]:
    """The target's metrics of the previous run ({} without a catalog, or when reading it fails)."""
    if catalog is None:
        return {}
    try:
        return catalog.previous_metrics(name, end)
    except Exception as exc:  # noqa: BLE001 - a catalog that blinks does not cost the check of the target
        log.error("%s: previous values unreadable, checked without them: %s", name, exc)
        return {}


def check_many(
    inventory: Inventory,
    names: list[str],
    threshold_overrides: dict[str, Any],
    start: datetime,
    end: datetime,
    catalog=None,
) -> list[dict[str, Any]]:
    """Check several targets at once, on up to ``CHECK_THREADS`` threads, each bounded by its own timeout."""
    if len(names) == 1:
        return [check_one(inventory, names[0], threshold_overrides, start, end, catalog)]
    with ThreadPoolExecutor(max_workers=min(len(names), CHECK_THREADS), thread_name_prefix="check") as pool:
        return list(pool.map(lambda name: check_one(inventory, name, threshold_overrides, start, end, catalog), names))


def check_one(
    inventory: Inventory, name: str, threshold_overrides: dict[str, Any], start: datetime, end: datetime, catalog=None
) -> dict[str, Any]:
    """Check one target within its timeout; any failure becomes an ``unreachable`` result."""
    target = inventory.target(name).with_thresholds(threshold_overrides)
    previous = previous_metrics(catalog, name, end)
    try:
        endpoint = endpoint_for(target)
    except Exception as exc:  # noqa: BLE001 - a missing connection is a finding about this target
        result = CheckResult(target.name, target.kind)
        result.add(UNREACHABLE, f"connection {target.conn_id!r} unusable: {type(exc).__name__}: {exc}")
        return result.to_dict()
    return run_check(target, endpoint, Window(start, end, previous)).to_dict()


def build_report(
    results: list[dict[str, Any]],
    expected: list[str],
    run_id: str,
    start: datetime,
    end: datetime,
    *,
    fail_run_on: str | None = None,
) -> Report:
    """The run's verdict and everything the report shows (a target expected but without a result is critical);
    ``fail_run_on`` (the inventory's ``defaults.fail_run_on``) says from which verdict the run ends failed."""
    return Report.build(
        ROUTINE,
        f"Aegis daily health check — {end:%Y-%m-%d %H:%M} UTC",
        run_id,
        start,
        end,
        sorted(results, key=lambda r: r["target"]),
        expected=expected,
        fail_run_on=fail_run_on,
    )
