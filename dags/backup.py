"""
### Backup

The seeds' nightly backup (`backup.sh`: mysqldump, Redis RDB, ConfigMaps/Secrets, file archives, S3 upload, 30-day retention).

1. **select_targets** — backup-enabled targets of kinds postgres, mysql, redis, milvus, files, kubernetes.
2. **back_up** — one mapped task per target: PostgreSQL `pg_dump -Fd -j N` (snapshot shared with the row counts),
   MySQL/MariaDB `mysqldump --single-transaction --routines --triggers --events`, Redis RDB via `redis-cli --rdb`
   (replication snapshot, the server is not blocked), Milvus schema + data export, file archives,
   Kubernetes ConfigMaps and Secrets (Secrets encrypted). Files go to `<artifacts>/backups/<target>/<set id>/`
   with a `manifest.json` (sizes, SHA-256, tool versions, row/key counts) written **last**.
   Each completed set emits the `aegis-backup-sets` Asset: the **verify_backups** DAG restores it into scratch.
3. **apply_retention** — by age (`retention_days`, 30) and count (`keep_last`), never the newest verified set.
   A manual run: **dry run unless the form's `apply_retention` is on**; a scheduled or backfill run: per target
   as the inventory's `backup.apply_retention` says (default off). The log and the report list what went or would go;
   a set a verify or a restore is downloading right now is kept (`kept`, in use) for a later run.
4. **write_report** — the publish tail: HTML/JSON/Markdown report with sizes and throughput, the run in the catalog;
   alert when a backup failed; then the run **ends failed** when any target's backup failed.

**What it does to a target:** reads it (dump tools, snapshots); never writes. Credentials reach the tools through
private files / environment (PGPASSFILE, MySQL defaults file, REDISCLI_AUTH), never their command line.
A retry of the same interval finds its complete set and does nothing.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, get_current_context, task

from include.backup.dag_support import BACKUP_SETS
from include.dag_defaults import (
    by_queue,
    expand_by_queue,
    fail_without_retry,
    label_mapped_task,
    refuse_unknown_conf,
    run_window,
    schedule_of,
    scheduled_dag_args,
    selected,
    target_params,
)
from include.inventory import load_inventory

INVENTORY = load_inventory()
TZ = schedule_of(INVENTORY, "backup").timezone  # the windows' days are this zone's
BACKUP_TIMEOUT = timedelta(seconds=max([t.backup.get("timeout_seconds", 0) for t in INVENTORY.targets] + [600]) + 300)


@dag(
    **scheduled_dag_args(INVENTORY, "backup", __doc__, timedelta(days=1)),
    max_active_runs=1,
    tags=["aegis", "nightly", "backup"],
    params={
        **target_params(INVENTORY, "backup"),
        "apply_retention": Param(
            False,
            type="boolean",
            title="Delete sets past retention",
            description="Off (default): only list what retention would delete. Manual runs only: a scheduled"
            " run follows each target's backup.apply_retention.",
        ),
    },
)
def backup():
    @task
    def select_targets(params=None) -> list[str] | dict[str, list[str]]:
        """Backup-enabled targets matching the form."""
        refuse_unknown_conf()
        from include.backup.dag_support import backup_targets

        with fail_without_retry(ValueError):
            return by_queue(INVENTORY, backup_targets(INVENTORY, params["targets"], params["tags"]))

    @task(map_index_template="{{ target_name }}", outlets=[BACKUP_SETS], execution_timeout=BACKUP_TIMEOUT)
    def back_up(
        target_name: str, dag_run=None, data_interval_start=None, data_interval_end=None, outlet_events=None
    ) -> dict:
        """Dump one target, publish the set with its manifest, record it in the catalog, announce it."""
        from include.backup.runner import backup_target
        from include.catalog import Catalog
        from include.targets import endpoint_for

        label_mapped_task(target_name=target_name)
        target = INVENTORY.target(target_name)
        _, end = run_window(dag_run, data_interval_start, data_interval_end)
        outcome = backup_target(INVENTORY, target, endpoint_for(target), end, Catalog.for_inventory(INVENTORY))
        outlet_events[BACKUP_SETS].extra = {"set_id": outcome["set_id"], "target": target_name}
        return {**outcome, "target": target_name}

    @task(trigger_rule="all_done")
    def apply_retention(
        targets: list[str] | dict, params=None, dag_run=None, data_interval_start=None, data_interval_end=None
    ) -> list[dict]:
        """Retention by age and count with a floor (newest verified set); dry run unless asked (manual run: the
        form, scheduled run: the target's backup.apply_retention)."""
        from include.backup.runner import apply_retention as retain
        from include.catalog import Catalog
        from include.run_policy import is_scheduled, run_type_of

        return retain(
            INVENTORY,
            Catalog.for_inventory(INVENTORY),
            [INVENTORY.target(t) for t in selected(targets)],
            run_window(dag_run, data_interval_start, data_interval_end)[1],
            dry_run=not params["apply_retention"],
            scheduled=is_scheduled(run_type_of(dag_run)),
        )

    @task(trigger_rule="all_done")
    def write_report(
        targets: list[str] | dict,
        outcomes,
        retention,
        run_id=None,
        dag_run=None,
        data_interval_start=None,
        data_interval_end=None,
    ) -> dict:
        """Report every target's set (size, throughput, or why it failed): publish it, alert on failures."""
        from include.backup.dag_support import outcome_rows
        from include.backup.reporting import build
        from include.catalog import Catalog
        from include.publish import publish

        start, end = run_window(dag_run, data_interval_start, data_interval_end, timezone=TZ)
        catalog = Catalog.for_inventory_if_usable(INVENTORY, "reporting without the catalog")
        rows = outcome_rows(INVENTORY, catalog, list(outcomes), selected(targets), end)
        report = build(
            f"Aegis backup — {end:%Y-%m-%d %H:%M} UTC",
            "backup",
            run_id,
            start,
            end,
            rows,
            {"retention": retention or []},
            fail_run_on="critical",
        )  # a failed target fails the run
        return publish(report, INVENTORY, context=get_current_context())

    targets = select_targets()
    outcomes = expand_by_queue(back_up, INVENTORY, target_name=targets)
    retention = apply_retention(targets)
    outcomes >> retention
    write_report(targets, outcomes, retention)


backup()
