"""
### Verify backups

A backup is only worth what a restore proves. Runs on every set the **backup** DAG announces
(Asset `aegis-backup-sets`), weekly over the newest set of every target, and on demand.

1. **select_sets** — the announced set ids, or the newest complete/verified set per target (form: targets).
2. **verify** — one mapped task per set: download it and check every file's size and SHA-256 against the
   manifest; check the scratch server's free space (this host's disk, or node_exporter metrics in Prometheus;
   no room, or unknown: skipped with a finding); restore it into a **scratch** copy (a throwaway database, a private
   `redis-server`, a temporary Milvus Lite file, a temporary folder); compare what the copy holds (tables and
   row counts, key counts, collection row counts) with what the manifest recorded at backup time; drop the
   scratch copy; mark the set `verified` or `failed` in the catalog (a set still being written, `running`, or
   deleted by retention meanwhile is skipped and keeps its state). A flipped byte, a missing file or a
   truncated dump is caught by the checksums before anything is restored.
3. **write_report** — the publish tail: per set, with the reason of every failure; the run in the catalog;
   alert when one failed; then the run **ends failed** when any set is unknown or failed verification.

**What it does to a target:** creates and drops a scratch database named `aegis_scratch_…` on the target's
server (PostgreSQL, MySQL); nothing else. The live data is never touched.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, get_current_context, task

from include.backup.dag_support import BACKUP_SETS
from include.backup.store import SET_ID_PATTERN
from include.dag_defaults import (
    by_queue,
    expand_by_queue,
    label_mapped_task,
    recent_set_ids,
    refuse_unknown_conf,
    run_window,
    schedule_of,
    scheduled_dag_args,
    selected,
    target_params,
)
from include.inventory import load_inventory

INVENTORY = load_inventory()
TZ = schedule_of(INVENTORY, "verify_backups").timezone  # the windows' days are this zone's


@dag(
    **scheduled_dag_args(INVENTORY, "verify_backups", __doc__, timedelta(days=7), assets=BACKUP_SETS),
    max_active_runs=1,
    tags=["aegis", "weekly", "backup", "verify"],
    params={
        **target_params(INVENTORY, "backup"),
        "set_ids": Param(
            [],
            type=["array", "null"],
            items={"type": "string", "pattern": SET_ID_PATTERN},
            examples=recent_set_ids(INVENTORY),
            title="Backup set ids",
            description="Verify exactly these sets (suggestions: the newest complete or verified sets). "
            "Empty: the sets the backup run announced, else the newest set per target.",
        ),
    },
)
def verify_backups():
    @task
    def select_sets(params=None, triggering_asset_events=None) -> list[str] | dict[str, list[str]]:
        """The sets this run verifies; per queue of each set's target when the inventory routes by queue."""
        refuse_unknown_conf()
        from include.backup.dag_support import sets_to_verify, target_of_set
        from include.catalog import Catalog

        catalog = Catalog.for_inventory(INVENTORY)
        events = [e.extra or {} for evs in (triggering_asset_events or {}).values() for e in evs]
        set_ids = params["set_ids"] or sets_to_verify(INVENTORY, catalog, events, params["targets"], params["tags"])
        return by_queue(INVENTORY, set_ids, target_of=lambda set_id: target_of_set(catalog, set_id))

    @task(map_index_template="{{ set_id }}", execution_timeout=timedelta(hours=3))
    def verify(set_id: str, run_id=None) -> dict:
        """Checksums, restore into scratch, compare with the manifest, drop scratch, mark the catalog (with this run)."""
        from include.backup.dag_support import verify_one
        from include.catalog import Catalog

        label_mapped_task(set_id=set_id)
        return verify_one(INVENTORY, Catalog.for_inventory(INVENTORY), set_id, run_id)

    @task(trigger_rule="all_done")
    def write_report(
        set_ids: list[str] | dict[str, list[str]],
        outcomes,
        run_id=None,
        dag_run=None,
        data_interval_start=None,
        data_interval_end=None,
    ) -> dict:
        """Per-set verdicts with reasons, published; alert when any set failed verification."""
        from include.backup.reporting import as_result, build
        from include.publish import publish

        start, end = run_window(dag_run, data_interval_start, data_interval_end, timedelta(days=7), TZ)
        rows = [
            as_result(o, o["set_id"], INVENTORY.target(o["target"]).kind if o["target"] != "?" else "?")
            for o in outcomes
            if o
        ]
        # a set that is unknown or failed verification (or whose task failed) fails the run
        report = build(
            f"Aegis backup verification — {end:%Y-%m-%d %H:%M} UTC",
            "verify_backups",
            run_id,
            start,
            end,
            rows,
            expected=selected(set_ids or []),
            fail_run_on="critical",
        )
        return publish(report, INVENTORY, context=get_current_context())

    set_ids = select_sets()
    write_report(set_ids, expand_by_queue(verify, INVENTORY, set_id=set_ids))


verify_backups()
