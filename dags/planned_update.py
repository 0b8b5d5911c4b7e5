"""
### Planned update

The seeds' `UpdateManager` and `planned-maintenance.sh`: one change, inside a maintenance window, promoted
only when the post-update tests pass and rolled back automatically otherwise.

1. **plan** — the form validated against the inventory (`dry_run` is on by default: every step says what it would do).
2. **announce** — the window and the change, through the configured notifiers.
3. **wait_for_window** — deferred (no worker slot) until `window_start` (empty: now).
4. **create_silence** (setup) — an Alertmanager silence `target=~"…"` for the window, on every `alertmanager` target.
5. **maintenance_on** (setup) — Variable `aegis_maintenance.<target>`, the Redis key `aegis:maintenance:<target>`,
   and `data.maintenance_mode` of a ConfigMap for Kubernetes targets.
6. **drain** — deferred until the targets' active sessions are zero, or the drain timeout passes.
7. **record_current_version** — what runs now (last migration file, `current` release, image), recorded once, so
   a rerun of the update after a crash still rolls back to the true previous version.
8. **pre_update_backup** — every affected target with backups, through the backup routine (recorded in the catalog).
   If one fails, **the update does not run**.
9. **apply_update** — SQL migration files (recorded in `aegis_schema_version`), a host release switch
   (`releases/<version>` + an atomic `current` link, optional command), or a deployment image + rollout status.
10. **post_update_tests** — SQL assertions, HTTP checks, the daily health check on the affected targets.
11. **decide** (branch) — all passed → **promote**; the update or a test failed → **rollback** (restore the backup /
    switch the link back / the previous image) → **tests_after_rollback**; the update failed before changing
    anything → **not applied** (neither branch: the target and its later writes are kept). The other branch shows
    as skipped; the decision and its reasons are in the task log.
12. **maintenance_off**, **expire_silence** (teardowns: always run) → **write_report** (what changed, each test,
    which branch and why) and a notification. A run that did not promote ends failed, so it is seen.

Steps are `include/update/steps.py` (the form: `include/update/form.py`; each update kind: one module of
`include/update/strategies/`); outcomes travel as task arguments.

**What it does to a target:** in a dry run, reads only. Otherwise (`confirm` = the update target's name) it changes
it (the update), and on a failure after a change **replaces the migrated database with its pre-update backup**.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import dag, task

from include.dag_defaults import manual_dag_args, refuse_unknown_conf
from include.inventory import load_inventory
from include.update import steps
from include.update.form import update_form
from include.update.triggers import DrainSessionsOperator

INVENTORY = load_inventory()
ALL_DONE = "all_done"  # runs whatever happened upstream; an outcome that was never made arrives as None
Outcome = Any  # an upstream task's return value (JSON), None when it made none


@dag(
    **manual_dag_args(__doc__),
    max_active_runs=1,
    tags=["aegis", "manual", "update", "maintenance"],
    params=update_form(INVENTORY),
)
def planned_update():
    @task
    def plan(**context) -> dict:
        """Validate the form against the inventory; a mistake fails here (no retry), before anything is touched."""
        refuse_unknown_conf()
        return steps.make_plan(INVENTORY, context["params"], context)

    @task
    def announce(plan: dict, **context) -> dict:
        """Announce the window and the change through the notifiers (logged only in a dry run)."""
        return steps.announce(INVENTORY, plan, context)

    @task
    def create_silence(plan: dict, run_id=None) -> dict:
        """Silence the targets' alerts for the window on every Alertmanager of the inventory."""
        return steps.create_silence(INVENTORY, plan, run_id)

    @task
    def maintenance_on(plan: dict) -> dict:
        """Maintenance mode on for every affected target (all or none: a failure undoes the rest)."""
        return steps.maintenance_on(INVENTORY, plan)

    @task
    def pre_update_backup(plan: dict, **context) -> list:
        """Back up every affected target through the backup routine; any failure stops the update here."""
        return steps.pre_update_backup(INVENTORY, plan, context)

    @task
    def record_current_version(plan: dict) -> dict:
        """What runs now (the last migration file, the current release, the image), recorded before any change."""
        return steps.record_current_version(INVENTORY, plan)

    @task(execution_timeout=timedelta(hours=6), retries=0)  # never retried blindly: a rerun is a decision
    def apply_update(plan: dict, previous: dict, **context) -> dict:
        """Apply the update; a failure hands its outcome on (for the branch) and fails this task without a retry."""
        return steps.apply_update(INVENTORY, plan, previous, context)

    @task(trigger_rule=ALL_DONE)
    def post_update_tests(plan: Outcome, update: Outcome, **context) -> Outcome:
        """SQL assertions, HTTP checks and the daily health check (skipped when the update did not succeed)."""
        return steps.post_update_tests(INVENTORY, plan, update, context)

    @task.branch(trigger_rule=ALL_DONE)
    def decide(plan: Outcome, backups: Outcome, update: Outcome, tests: Outcome) -> str | list[str]:
        """Promote when the update and every test passed; roll back when either failed. Logs why."""
        return steps.choose_branch(plan, backups, update, tests)

    @task(trigger_rule=ALL_DONE)  # the branch skips it unless chosen
    def promote(plan: Outcome, backups: Outcome, update: Outcome, tests: Outcome) -> dict:
        """Keep the new version: log it (the report and the catalog record it); the pre-update backup stays."""
        return steps.promote(plan, backups, update, tests)

    @task(trigger_rule=ALL_DONE)  # the branch skips it unless chosen
    def rollback(
        plan: Outcome, backups: Outcome, update: Outcome, tests: Outcome, previous: Outcome, **context
    ) -> dict:
        """Undo the update: restore the pre-update backup, switch the release back, or the previous image."""
        return steps.rollback(INVENTORY, plan, backups, update, tests, previous, context)

    @task
    def tests_after_rollback(plan: dict, **context) -> dict:
        """HTTP and health checks again: is the old version healthy?"""
        return steps.tests_after_rollback(INVENTORY, plan, context)

    @task
    def maintenance_off(plan: dict) -> dict:
        """Maintenance mode off for every affected target, whatever happened."""
        return steps.maintenance_off(INVENTORY, plan)

    @task
    def expire_silence(plan: dict, run_id=None) -> dict:
        """Expire every silence this run created, whatever happened."""
        return steps.expire_silence(INVENTORY, plan, run_id)

    @task(trigger_rule=ALL_DONE)
    def write_report(plan: Outcome, outcomes: dict, **context) -> dict:
        """The whole run (what changed, each test, which branch and why), published and sent; fails unless promoted."""
        return steps.write_report(INVENTORY, plan, outcomes, context)

    the_plan = plan()
    wait_for_window = DateTimeSensorAsync(  # a sensor takes its time as a template, not as an argument
        task_id="wait_for_window",
        target_time="{{ ti.xcom_pull(task_ids='plan')['window']['start'] }}",
        doc_md="Wait, deferred (no worker slot), until the window opens.",
    )
    drain = DrainSessionsOperator(
        task_id="drain",
        plan=the_plan,
        doc_md="Wait, deferred, until active sessions are zero or the drain timeout passes.",
    )
    silence_on, maint_on = create_silence(the_plan), maintenance_on(the_plan)
    previous = record_current_version(the_plan)
    backups = pre_update_backup(the_plan)
    updated = apply_update(the_plan, previous)
    tested = post_update_tests(the_plan, updated)
    outcomes = (the_plan, backups, updated, tested)
    branch, promoted, rolled_back = decide(*outcomes), promote(*outcomes), rollback(*outcomes, previous)
    retested = tests_after_rollback(the_plan)
    maint_off, silence_off = maintenance_off(the_plan), expire_silence(the_plan)

    announce(the_plan) >> wait_for_window >> silence_on >> maint_on >> drain >> previous >> backups >> updated
    branch >> [promoted, rolled_back]
    rolled_back >> retested >> maint_off
    promoted >> maint_off >> silence_off
    maint_off.as_teardown(setups=maint_on)
    silence_off.as_teardown(setups=silence_on)
    write_report(
        the_plan,
        {
            "drain": drain.output,
            "backups": backups,
            "update": updated,
            "tests": tested,
            "promoted": promoted,
            "rollback": rolled_back,
            "retest": retested,
            "teardown": {"maintenance_off": maint_off, "silence": silence_off},
        },
    )


planned_update()
