"""
### Daily health check

The morning runbook check (seeds: `daily-check.sh`, `DailyMaintenanceChecker`) as one DAG.

1. **select_targets** — which inventory targets this run checks (form: names, tags, threshold overrides).
2. **check_targets** — one mapped task per target (named after it), all in parallel, each check bounded by its
   target's timeout; past `defaults.check_tasks` (10) targets, each task checks several on threads of its own:
   host resources and disks, PostgreSQL, MySQL/MariaDB, Redis, Milvus, Neo4j, HTTP services,
   Kubernetes pods, log errors in this run's data interval, active Alertmanager alerts.
   A target that is down or slow is reported *unreachable* (critical); the run goes on.
3. **evaluate_health** — healthy / warning / critical, each with its reasons.
4. **write_report** — the publish tail every routine ends with: HTML, JSON and Markdown under
   `<artifacts>/reports/daily_health_check/<interval end>/` (the task log prints where); the run and every metric
   into the Aegis catalog (trends, counter growth next run); when not healthy, the Slack / e-mail / webhook
   notifiers from the inventory (with none, it logs).

**What it does to a target:** reads only. Statistics views and `INFO`/`PING`; no writes, no locks beyond a catalog read.
Retrying or backfilling an interval rewrites that interval's report and catalog rows; it never adds a second copy.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, task

from include.dag_defaults import (
    by_queue,
    expand_by_queue,
    fail_without_retry,
    label_mapped_task,
    publish_check_report,
    refuse_unknown_conf,
    require_selection,
    run_window,
    schedule_of,
    scheduled_dag_args,
    selected,
    target_params,
)
from include.inventory import load_inventory

INVENTORY = load_inventory()
TZ = schedule_of(INVENTORY, "daily_health_check").timezone  # the windows' days are this zone's
CHECK_TIMEOUT = timedelta(seconds=max(t.timeout_seconds for t in INVENTORY.targets) * 2 + 60)


@dag(
    **scheduled_dag_args(INVENTORY, "daily_health_check", __doc__, timedelta(days=1)),
    max_active_runs=2,
    tags=["aegis", "daily", "health-check"],
    params={
        **target_params(INVENTORY, "check"),
        "thresholds": Param(
            {},
            type=["object", "null"],
            title="Threshold overrides",
            description='Optional, for this run only, e.g. {"disk_warning_pct": 70, '
            '"long_transaction_warning_s": 60} (empty: the inventory\'s thresholds).',
        ),
        "alert": Param(
            True,
            type="boolean",
            title="Alert when not healthy",
            description="Send the configured notifications when the verdict is warning or critical.",
        ),
    },
)
def daily_health_check():
    def checked(params) -> list[list[str]]:
        """The form checked into the check tasks' targets (pure: the report of a refused run asks it again why)."""
        from include.daily_health import select_targets as select

        with fail_without_retry(ValueError):
            return select(INVENTORY, params["targets"], params["tags"], params["thresholds"] or {})

    @task
    def select_targets(params=None) -> list[list[str]] | dict[str, list[list[str]]]:
        """Resolve the form's names/tags to targets, spread over the check tasks; unknown names or thresholds
        fail here, loudly."""
        refuse_unknown_conf()
        return by_queue(INVENTORY, checked(params))

    @task(map_index_template="{{ target_names }}", execution_timeout=CHECK_TIMEOUT)
    def check_targets(
        names: list[str], params=None, dag_run=None, data_interval_start=None, data_interval_end=None
    ) -> list[dict]:
        """Check the task's target(s), each bounded by its timeout; an unreachable target is a result, not a failure."""
        from include.catalog import Catalog
        from include.daily_health import check_many

        label_mapped_task(target_names=", ".join(names)[:250])
        start, end = run_window(dag_run, data_interval_start, data_interval_end, timezone=TZ)
        return check_many(
            INVENTORY,
            names,
            params["thresholds"] or {},
            start,
            end,
            Catalog.for_inventory_if_usable(INVENTORY, "checking without the catalog's previous values"),
        )

    @task(trigger_rule="all_done")
    def evaluate_health(
        tasks: list[list[str]] | dict,
        results,
        params=None,
        run_id=None,
        dag_run=None,
        data_interval_start=None,
        data_interval_end=None,
    ) -> dict:
        """Fold the results into healthy / warning / critical with reasons (a missing result is critical);
        a refused form gets its refused report instead (:func:`include.dag_defaults.require_selection`)."""
        from include.daily_health import ROUTINE, build_report

        tasks = require_selection(tasks, ROUTINE, lambda: checked(params), INVENTORY)
        expected = [name for task in selected(tasks) for name in task]
        report = build_report(
            [r for batch in results if batch for r in batch],
            expected,
            run_id,
            *run_window(dag_run, data_interval_start, data_interval_end, timezone=TZ),
            fail_run_on=INVENTORY.fail_run_on,
        )
        print(f"overall: {report.verdict}")
        for reason in report.summary.reasons:
            print(f"  [{reason.level}] {reason.target}: {reason.message}")
        return report.to_dict()

    tasks = select_targets()
    publish_check_report(INVENTORY)(evaluate_health(tasks, expand_by_queue(check_targets, INVENTORY, names=tasks)))


daily_health_check()
