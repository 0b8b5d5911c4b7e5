"""
### Weekly maintenance

The seeds' weekly routine (`WeeklyMaintenanceTasks`: optimise databases, rotate logs, clean the cache,
security scan, performance trends, weekly report) as one DAG. One task group per concern; groups run in
parallel, and inside a group one mapped task per target (named after it).

1. **select_targets** — the targets of this run (form: names, tags, concerns).
2. **postgres** — VACUUM (ANALYZE) of the tables the statistics pick (dead tuples, last vacuum, wraparound age),
   with duration and space reclaimed; slow statements, unused/duplicate/missing indexes as recommendations;
   connection usage. At most *pool size* servers at once (pool `aegis_postgres_maintenance`).
3. **mysql** — ANALYZE / OPTIMIZE of fragmented tables, zero-cardinality indexes; purge of expired rows and
   time-partition rotation of configured tables (**dry run** unless the form says otherwise).
4. **milvus** — compaction followed to completion, unfinished indexes rebuilt, idle collections released.
5. **neo4j** — indexes not ONLINE, constraints and store size, checkpoint.
6. **logs** — rotate and compress application logs, archive old files to the artifact store,
   delete archives past retention (**dry run** by default).
7. **redis** — SCAN the configured patterns for keys without a TTL idle past the threshold; measure them and
   UNLINK them (**dry run** by default); hit ratio.
8. **security** — configuration checks of PostgreSQL, MySQL/MariaDB, Redis and this host; known-vulnerable
   Python packages when an advisory folder is configured (else skipped, and the report says so).
9. **trends** — week-over-week change of every metric in the catalog; big growth is a warning.
10. **evaluate** → **write_report**, the publish tail every routine ends with: HTML/JSON/Markdown (sections per
    concern), the run and its metrics into the catalog, an alert when not healthy.

A target that is down is reported *unreachable*; the run still finishes and reports it.
**Dry run (default of a manual run):** only destructive steps (OPTIMIZE, purging rows, dropping partitions, deleting
keys, rotating logs) are listed instead of done; VACUUM, ANALYZE, compaction and **adding partitions ahead** run
either way. **Scheduled and backfill runs** ignore the form's `dry_run`: each target carries out the steps its
inventory `weekly.apply` names (default: none) and only plans the others; the report says which per target.
A retry or backfill of the same week rewrites that week's report and catalog rows.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, TaskGroup, dag, task

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
from include.weekly.routine import ALL_CONCERNS, CONCERN_LABELS, POSTGRES_POOL, SECURITY, TRENDS, longest_budget

INVENTORY = load_inventory()
TZ = schedule_of(INVENTORY, "weekly_maintenance").timezone  # the windows' days are this zone's
WEEK = timedelta(days=7)


@dag(
    **scheduled_dag_args(INVENTORY, "weekly_maintenance", __doc__, WEEK),
    max_active_runs=1,
    tags=["aegis", "weekly", "maintenance"],
    params={
        **target_params(INVENTORY),
        "dry_run": Param(
            True,
            type="boolean",
            title="Dry run",
            description="On (default): destructive steps are only listed. VACUUM/ANALYZE/compaction and adding"
            " partitions run anyway. Manual runs only: a scheduled run follows each target's weekly.apply.",
        ),
        "concerns": Param(
            list(ALL_CONCERNS),
            type="array",
            items={"type": "string", "enum": list(ALL_CONCERNS)},
            values_display=CONCERN_LABELS,
            title="Concerns",
            description="Which task groups do their work this run (default: all). "
            + "; ".join(CONCERN_LABELS.values())
            + ".",
        ),
        "alert": Param(
            True,
            type="boolean",
            title="Alert when not healthy",
            description="Send the configured notifications when the verdict is warning or critical.",
        ),
    },
)
def weekly_maintenance():
    def checked(params) -> list[str]:
        """The form checked into target names (pure: the report of a refused run asks it again why)."""
        from include.weekly.routine import select_targets as select

        with fail_without_retry(ValueError):
            return select(INVENTORY, params["targets"], params["tags"], params["concerns"])

    @task
    def select_targets(params=None) -> list[str]:
        """Resolve the form's names/tags/concerns to target names; unknown ones fail here, loudly."""
        refuse_unknown_conf()
        return checked(params)

    @task
    def targets(concern: str, chosen: list[str], params=None) -> list[str] | dict[str, list[str]]:
        """The selected targets this concern works on (none when the form left the concern out),
        per queue when the inventory routes by queue (:func:`include.dag_defaults.by_queue`)."""
        from include.weekly.routine import concern_targets

        return by_queue(INVENTORY, concern_targets(INVENTORY, concern, chosen, params["concerns"]))

    @task(map_index_template="{{ target_name }}")
    def maintain(target_name: str, params=None, dag_run=None) -> dict:
        """One target's weekly maintenance, bounded by its max_seconds; a down target is an unreachable result.
        Destructive steps: the form's dry_run in a manual run, the target's weekly.apply in a scheduled one."""
        from include.run_policy import is_scheduled, run_type_of
        from include.weekly.routine import maintain_target

        label_mapped_task(target_name=target_name)
        scheduled = is_scheduled(run_type_of(dag_run))
        return maintain_target(INVENTORY, target_name, dry_run=params["dry_run"], scheduled=scheduled)

    @task(map_index_template="{{ target_name }}")
    def check_configuration(target_name: str) -> dict:
        """Security configuration checks of one target (read-only)."""
        from include.weekly.routine import security_target

        label_mapped_task(target_name=target_name)
        return security_target(INVENTORY, target_name)

    @task
    def vulnerable_packages(chosen: list[str], params=None) -> list[dict] | None:
        """Aegis itself: installed Python packages against the local OSV advisories (skipped with a note when
        none) and Airflow's own configuration (auth manager, expose_config, Fernet key, secrets in extras)."""
        from include.weekly.routine import aegis_itself

        return aegis_itself(INVENTORY) if SECURITY in params["concerns"] else None

    @task
    def compare_weeks(
        names: list[str] | dict[str, list[str]], dag_run=None, data_interval_start=None, data_interval_end=None
    ) -> list[dict]:
        """Week-over-week change of every catalog metric of the chosen targets."""
        from include.catalog import Catalog
        from include.weekly.routine import trends

        end = run_window(dag_run, data_interval_start, data_interval_end, WEEK, TZ)[1]
        return trends(INVENTORY, Catalog.for_inventory(INVENTORY), selected(names), end)

    @task(trigger_rule="all_done")
    def evaluate(
        chosen: list[str] | None,
        expected: dict,  # concern -> its targets (per queue when routed)
        results: dict,
        packages: list[dict] | None,
        params=None,
        run_id=None,
        dag_run=None,
        data_interval_start=None,
        data_interval_end=None,
    ) -> dict:
        """Fold every concern's results into healthy / warning / critical with reasons (a missing result is critical)."""
        from include.run_policy import is_scheduled, run_type_of
        from include.weekly.routine import ROUTINE, build_report

        # a refused form: its refused report, the alert, the run failed (never an empty "healthy")
        require_selection(chosen, ROUTINE, lambda: checked(params), INVENTORY)
        report = build_report(
            {c: list(r or []) + (list(packages or []) if c == SECURITY else []) for c, r in results.items()},
            {c: selected(n or []) for c, n in expected.items()},
            run_id,
            *run_window(dag_run, data_interval_start, data_interval_end, WEEK, TZ),
            params["dry_run"],
            fail_run_on=INVENTORY.fail_run_on,
            scheduled=is_scheduled(run_type_of(dag_run)),
        )
        print(f"overall: {report.verdict} ({report.mode})")
        for reason in report.summary.reasons:
            print(f"  [{reason.level}] {reason.target}: {reason.message}")
        return report.to_dict()

    chosen = select_targets()
    expected, results, packages = {}, {}, None
    for concern in ALL_CONCERNS:
        with TaskGroup(concern, tooltip=f"weekly maintenance: {concern}"):
            expected[concern] = targets.override(task_id="targets")(concern, chosen)
            if concern == SECURITY:
                results[concern] = expand_by_queue(check_configuration, INVENTORY, target_name=expected[concern])
                packages = vulnerable_packages(chosen)
            elif concern == TRENDS:
                results[concern] = compare_weeks(expected[concern])
            else:
                budget = timedelta(seconds=longest_budget(INVENTORY, concern) + 120)
                pool = POSTGRES_POOL if concern == "postgres" else None
                results[concern] = expand_by_queue(
                    maintain.override(task_id="maintain", pool=pool, execution_timeout=budget),
                    INVENTORY,
                    target_name=expected[concern],
                )
    publish_check_report(INVENTORY)(evaluate(chosen, expected, results, packages))


weekly_maintenance()
