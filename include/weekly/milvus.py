"""Milvus maintenance: compaction of every collection, index state and rebuild, release of cold collections.

What it does, per collection:

- **Compaction** (always, it only rewrites segments: deleted rows are purged and
  small segments merged, the data stays the same): ``compact`` starts a job and
  its state is followed until ``Completed``, at most ``compaction_timeout_seconds``
  per collection. A job still running then is left to finish on its own (the
  server owns it; stopping to wait is safe) and reported.
- **Indexes**: the state of every index. One still building is reported and left
  alone (rebuilding it would start it over). A ``Failed`` index is rebuilt with
  its own type, metric and parameters (drop, create); that needs the collection
  released, so searches on it stop until it is loaded again: not in dry-run.
- **Release of cold collections**: Milvus keeps no "last queried" time, so this
  module does not guess one. Loaded collections named in ``release_collections``
  (the operator's list of collections nobody queries any more) are released,
  freeing their query-node memory; not in dry-run. Every other loaded collection
  is listed with its row count so the list can be kept honest.

Works on a Milvus server and on Milvus Lite (the in-process Lite server this
module starts is stopped afterwards so the ``.db`` file lock is not held).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from include.checks.base import WARNING, CheckResult
from include.checks.milvus import (
    INDEX_DONE,
    LOADED,
    describe_indexes,
    index_definition,
    index_params,
    load_state_name,
    row_count,
)
from include.clients.milvus import session
from include.targets import Endpoint
from include.weekly.budget import Budget
from include.weekly.concern import concern
from include.weekly.settings_check import require_numbers

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "compact": True,
    "compaction_timeout_seconds": 600,  # per collection
    "poll_seconds": 1.0,
    "rebuild_failed_indexes": True,  # still only when not in dry-run
    "release_collections": [],  # loaded collections nobody queries any more: released when not in dry-run
    "max_seconds": 1800,
}
#: Destructive steps (the names ``weekly.apply`` takes); compaction always runs (it keeps the data).
STEPS = {
    "milvus_rebuild": "drop and re-create a Failed index (the collection is released meanwhile)",
    "milvus_release": "release the loaded collections listed in release_collections",
}
COMPACTION_DONE = "Completed"
INDEX_FAILED = "Failed"


def check_settings(settings: dict) -> None:
    """Raise ``ValueError("<key>: <reason>")`` for settings this module cannot use (missing keys: defaults)."""
    settings = {**DEFAULTS, **settings}
    names = settings.get("release_collections")
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"release_collections: must be a list of collection names, got {names!r}")
    require_numbers(settings, positive=("compaction_timeout_seconds", "poll_seconds", "max_seconds"))


@concern(DEFAULTS, check_settings, STEPS)
def maintain(
    target: Any,
    endpoint: Endpoint,
    settings: dict[str, Any],
    budget: Budget,
    *,
    dry_run: bool = True,
    applied: frozenset[str] = frozenset(),
) -> CheckResult:
    """Compact every collection, check (and rebuild failed) indexes, release the listed cold collections
    (each of the last two only when in ``applied``)."""
    result = CheckResult(target.name, target.kind)
    timeout = target.timeout_seconds
    rows: dict[str, dict[str, Any]] = {}
    # a Lite file: wait for another process's session (a daily check) rather than fail to open it
    with session(endpoint, timeout, lite_wait_s=max(timeout, min(float(settings["max_seconds"]), 300))) as client:
        names = sorted(client.list_collections(timeout=timeout))
        unknown = sorted(set(settings["release_collections"]) - set(names))
        if unknown:
            result.add(WARNING, f"release_collections names unknown collection(s) {unknown}")
        for name in names:
            if budget.spent():
                rows[name] = {"action": "skipped: max_seconds reached before this collection"}
                result.add(
                    WARNING, f"collection {name} not maintained: max_seconds ({settings['max_seconds']}s) reached"
                )
                continue
            rows[name] = _maintain_collection(client, name, result, settings, applied, budget, timeout)

    result.details["collections"] = rows
    result.details["dry_run"] = dry_run
    m = result.metrics
    m["milvus.collections"] = float(len(rows))
    m["milvus.compactions_completed"] = float(
        sum(r.get("compaction", {}).get("state") == COMPACTION_DONE for r in rows.values())
    )
    m["milvus.indexes_not_finished"] = float(
        sum(i["state"] != INDEX_DONE for r in rows.values() for i in r.get("indexes", []))
    )
    m["milvus.indexes_rebuilt"] = float(
        sum(i.get("action") == "done" for r in rows.values() for i in r.get("indexes", []))
    )
    m["milvus.collections_released"] = float(sum(r.get("release") == "done" for r in rows.values()))
    return result


def _maintain_collection(
    client: Any,
    name: str,
    result: CheckResult,
    settings: dict[str, Any],
    applied: frozenset[str],
    budget: Budget,
    timeout: float,
) -> dict[str, Any]:
    """Compaction, indexes and release (the last two when in ``applied``) of one collection; a row for the report."""
    row: dict[str, Any] = {"rows": row_count(client, name, timeout)}
    if settings["compact"]:
        until = time.monotonic() + budget.bounded(settings["compaction_timeout_seconds"])
        row["compaction"] = compact(client, name, until, float(settings["poll_seconds"]), timeout)
        row["rows_after"] = row_count(client, name, timeout)
        if row["compaction"]["state"] != COMPACTION_DONE:
            result.add(
                WARNING,
                f"compaction of {name} is {row['compaction']['state']} after "
                f"{row['compaction']['seconds']}s (job {row['compaction']['job_id']}); "
                "left to finish on the server",
            )
    row["load_state"] = load_state_name(client.get_load_state(name, timeout=timeout))
    row["indexes"] = _indexes(
        client, name, row["load_state"], result, settings, "milvus_rebuild" not in applied, timeout
    )
    dry_run = "milvus_release" not in applied
    if row["load_state"] == LOADED and name in settings["release_collections"]:
        row["release"] = "would do" if dry_run else "done"
        if not dry_run:
            client.release_collection(name, timeout=timeout)
        log.info("%s collection %s (listed in release_collections)", "would release" if dry_run else "released", name)
    elif row["load_state"] == LOADED:
        row["release"] = "skipped: not listed in release_collections (Milvus records no last query time)"
    return row


def compact(client, name: str, until: float, poll_s: float, timeout: float) -> dict[str, Any]:
    """Start a compaction of ``name`` and follow its state until it completes or ``until`` passes."""
    started = time.monotonic()
    job_id = client.compact(name, timeout=timeout)
    log.info("compaction of %s started (job %s)", name, job_id)
    state = str(client.get_compaction_state(job_id, timeout=timeout))
    while state != COMPACTION_DONE and time.monotonic() + poll_s < until:
        time.sleep(poll_s)
        state = str(client.get_compaction_state(job_id, timeout=timeout))
    seconds = round(time.monotonic() - started, 3)
    log.info("compaction of %s: %s after %.1fs", name, state, seconds)
    return {
        "job_id": job_id,
        "state": state,
        "seconds": seconds,
        "action": "done" if state == COMPACTION_DONE else "started, not followed to the end",
    }


def _indexes(
    client, name: str, load_state: str, result: CheckResult, settings: dict, dry_run: bool, timeout: float
) -> list[dict[str, Any]]:
    """Index states of one collection; a failed index is rebuilt unless ``dry_run``."""
    indexes = describe_indexes(client, name, timeout)
    for index in indexes:
        if index["state"] == INDEX_DONE:
            index["action"] = "none needed"
        elif index["state"] != INDEX_FAILED:
            index["action"] = "skipped: still building; a rebuild would start it over"
            result.add(
                WARNING,
                f"index {index['name']} on {name} is {index['state']} with "
                f"{index['pending_index_rows']} row(s) pending",
            )
        elif not settings["rebuild_failed_indexes"]:
            index["action"] = "skipped: rebuild_failed_indexes is off"
            result.add(WARNING, f"index {index['name']} on {name} failed; rebuild_failed_indexes is off")
        elif dry_run:
            index["action"] = "would do"
            result.add(
                WARNING,
                f"index {index['name']} on {name} failed; it would be rebuilt "
                "(the collection is released meanwhile): run without dry-run",
            )
        else:
            rebuild_index(client, name, index["name"], reload=load_state == LOADED, timeout=timeout)
            index["action"] = "done"
        log.info("index %s on %s: %s (%s)", index["name"], name, index["state"], index["action"])
    return indexes


def rebuild_index(client, collection: str, index_name: str, *, reload: bool, timeout: float) -> dict[str, Any]:
    """Drop and re-create one index with its own type, metric and parameters; reload when it was loaded."""
    info = client.describe_index(collection, index_name, timeout=timeout) or {}
    definition = index_definition(index_name, info)
    rebuild = index_params(client, [definition])  # made before anything is dropped
    client.release_collection(collection, timeout=timeout)
    client.drop_index(collection, index_name, timeout=timeout)
    client.create_index(collection, rebuild, timeout=timeout)
    if reload:
        client.load_collection(collection, timeout=timeout)
    log.info(
        "rebuilt index %s on %s (%s, %s, %s)",
        index_name,
        collection,
        info.get("index_type"),
        info.get("metric_type"),
        definition["params"],
    )
    return info
