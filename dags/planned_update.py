"""
### Planned update

The seeds' `UpdateManager` and `planned-maintenance.sh`: one change, inside a maintenance window, promoted
only when the post-update tests pass and rolled back automatically otherwise.

1. **plan** — the form validated against the inventory (`dry_run` is on by default: every step says what it would do).
2. **announce** — the window and the change, through the configured notifiers.
3. **wait_for_window** — deferred (no worker slot) until `window_start` (empty: now).
4. **create_silence** (setup) — an Alertmanager silence `target=~"…"` for the window, on every `alertmanager` target.
5. **maintenance_on** (setup) — Airflow Variable `aegis_maintenance`, the Redis key `aegis:maintenance:<target>`,
   and `data.maintenance_mode` of a ConfigMap for Kubernetes targets.
6. **drain** — deferred until the targets' active sessions are zero, or the drain timeout passes.
7. **pre_update_backup** — every affected target with backups, through the backup routine (recorded in the catalog).
   If one fails, **the update does not run**.
8. **apply_update** — SQL migration files (recorded in `aegis_schema_version`), a host release switch
   (`releases/<version>` + an atomic `current` link, optional command), or a deployment image + rollout status.
9. **post_update_tests** — SQL assertions, HTTP checks, the daily health check on the affected targets.
10. **decide** (branch) — all passed → **promote**; the update or a test failed → **rollback** (restore the backup /
    switch the link back / the previous image) → **tests_after_rollback**. The other branch shows as skipped;
    the decision and its reasons are in the task log.
11. **maintenance_off**, **expire_silence** (teardowns: always run) → **write_report** (what changed, each test,
    which branch and why) and a notification. A run that did not promote ends failed, so it is seen.

**What it does to a target:** in a dry run, reads only. Otherwise it changes it (the update), and on failure
**replaces the update target's database with the pre-update backup**.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import Param, dag, get_current_context, task

from include.dag_defaults import DEFAULT_ARGS, SharedChoices, fail_without_retry, run_window
from include.inventory import load_inventory
from include.update.plan import KINDS, SQL_KINDS
from include.update.triggers import DrainSessionsOperator

INVENTORY = load_inventory()
ALL_TARGETS = SharedChoices(sorted(t.name for t in INVENTORY.targets))
UPDATABLE = SharedChoices([""] + sorted(t.name for t in INVENTORY.targets if t.kind in (*SQL_KINDS, "kubernetes")))


def _pull(task_id: str, key: str = "return_value"):
    """An upstream task's value, or None when it did not run or failed before recording one."""
    return get_current_context()["ti"].xcom_pull(task_ids=task_id, key=key)


def _plan() -> dict:
    """The run's plan, for tasks that run whatever happened upstream; skipped when the form was refused."""
    from airflow.sdk.exceptions import AirflowSkipException

    plan = _pull("plan")
    if plan is None:
        raise AirflowSkipException("no plan: the form was refused (see the plan task's log)")
    return plan


def _record(outcome, failure: str | None):
    """Keep the outcome (key ``outcome``) for later tasks; then fail at once (no retry) if ``failure``."""
    from airflow.sdk.exceptions import AirflowFailException

    get_current_context()["ti"].xcom_push(key="outcome", value=outcome)
    if failure:
        raise AirflowFailException(failure)
    return outcome


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["aegis", "manual", "update", "maintenance"],
    doc_md=__doc__,
    params={
        "dry_run": Param(True, type="boolean", title="Dry run",
                         description="On: check the plan and say what each step would do; change nothing."),
        "update_kind": Param(KINDS[0], type="string", enum=list(KINDS), title="Update kind"),
        "update_target": Param("", type="string", enum=UPDATABLE, title="Update target",
                               description="sql_migration: the PostgreSQL/MySQL target; k8s_image: the Kubernetes target."),
        "targets": Param([], type="array", items={"type": "string", "enum": ALL_TARGETS}, title="Also affected",
                         description="Other targets in the window: flagged, drained, backed up, health-checked."),
        "migrations_folder": Param("", type="string", title="Migrations folder",
                                   description="sql_migration: absolute folder of *.sql files, applied in name order."),
        "database": Param("", type="string", title="Database",
                          description="sql_migration: empty = the target's first database or its connection's."),
        "release_root": Param("", type="string", title="Release root",
                              description="release_switch: folder holding releases/<version>/ and the current link."),
        "release_version": Param("", type="string", title="Release version"),
        "release_command": Param([], type="array", items={"type": "string"}, title="Command after the switch",
                                 description="argv, no shell, e.g. [\"systemctl\", \"restart\", \"game\"]. No secrets."),
        "command_timeout_seconds": Param(300, type="integer", minimum=1),
        "deployment": Param("", type="string", title="Deployment"),
        "container": Param("", type="string", title="Container"),
        "image": Param("", type="string", title="New image"),
        "rollout_timeout_seconds": Param(300, type="integer", minimum=1),
        "sql_assertions": Param([], type="array", items={"type": "object"}, title="SQL assertions",
                                description='[{"target": "db", "sql": "select count(*) from t", "expect": 3}]'),
        "http_checks": Param([], type="array", items={"type": "string"}, title="HTTP health URLs (expect 200)"),
        "window_start": Param("", type="string", title="Window start",
                              description="ISO date-time with offset; empty: now. The run waits (deferred) for it."),
        "window_minutes": Param(60, type="integer", minimum=1, title="Window length (minutes)"),
        "drain_timeout_minutes": Param(10, type="number", minimum=0, title="Drain timeout (minutes)"),
        "update_timeout_minutes": Param(30, type="number", minimum=1, title="Update timeout (minutes)"),
        "maintenance_configmap": Param("", type="string", title="Maintenance ConfigMap",
                                       description="Kubernetes targets: ConfigMap whose data.maintenance_mode is set."),
        "silence_label": Param("target", type="string", title="Alert label naming the target"),
    },
)
def planned_update():
    @task
    def plan(params=None, dag_run=None, data_interval_start=None, data_interval_end=None) -> dict:
        """Validate the form against the inventory; a mistake fails here (no retry), before anything is touched."""
        from include.update.plan import PlanError, build_plan

        with fail_without_retry(PlanError):
            return build_plan(INVENTORY, params, run_window(dag_run, data_interval_start, data_interval_end)[1])

    @task
    def announce(plan: dict) -> dict:
        """Announce the window and the change through the notifiers (logged only in a dry run)."""
        from include.alerting import send_alert
        from include.update.window import announcement

        subject, text, body = announcement(plan)
        if plan["dry_run"]:
            print(f"DRY RUN: would announce:\n{subject}\n{text}")
            return {}
        return send_alert(INVENTORY.alerting, subject, text, body, context=get_current_context())

    wait_for_window = DateTimeSensorAsync(
        task_id="wait_for_window", target_time="{{ ti.xcom_pull(task_ids='plan')['window']['start'] }}",
        doc_md="Wait, deferred (no worker slot), until the window opens.")

    @task
    def create_silence(plan: dict, run_id=None) -> dict:
        """Silence the targets' alerts for the window on every Alertmanager of the inventory."""
        from include.update.window import create_silences

        return create_silences(INVENTORY, plan, run_id)

    @task
    def maintenance_on(plan: dict) -> dict:
        """Maintenance mode on for every affected target (all or none: a failure undoes the rest)."""
        from include.update.plan import describe
        from include.update.window import maintenance

        return maintenance(INVENTORY, plan, True, f"planned update: {describe(plan)}")

    @task
    def pre_update_backup(plan: dict, dag_run=None, data_interval_start=None, data_interval_end=None) -> list:
        """Back up every affected target through the backup routine; any failure stops the update here."""
        from include.update.backups import back_up_all

        outcomes = back_up_all(INVENTORY, plan, run_window(dag_run, data_interval_start, data_interval_end)[1])
        failed = [f"{o['target']}: {o.get('reason')}" for o in outcomes if o["state"] == "failed"]
        return _record(outcomes, failed and "pre-update backup failed, the update will NOT run: " + "; ".join(failed))

    @task(execution_timeout=timedelta(hours=6))
    def apply_update(plan: dict, run_id=None) -> dict:
        """Apply the update; a failure is recorded (for the branch) and fails this task without a retry."""
        from include.update.kinds import apply_update as apply

        outcome = apply(INVENTORY, plan, run_id, plan["update_timeout_s"])
        return _record(outcome, outcome["state"] == "failed" and f"update failed: {outcome['reason']}")

    @task(trigger_rule="all_done")
    def post_update_tests(dag_run=None, data_interval_start=None, data_interval_end=None):
        """SQL assertions, HTTP checks and the daily health check (skipped when the update did not succeed)."""
        from include.update.post_tests import run_tests

        plan = _plan()
        update = _pull("apply_update", "outcome")
        if not plan["dry_run"] and (update or {}).get("state") != "updated":
            print(f"the update did not succeed ({(update or {}).get('state', 'no outcome')}): no post-update tests")
            return None
        return run_tests(INVENTORY, plan, *run_window(dag_run, data_interval_start, data_interval_end),
                         with_assertions=not plan["dry_run"])

    @task.branch(trigger_rule="all_done")
    def decide():
        """Promote when the update and every test passed; roll back when either failed. Logs why."""
        from include.update.rollback import decide as choose

        plan = _plan()
        branch, reasons = choose(plan, _pull("pre_update_backup", "outcome"), _pull("apply_update", "outcome"),
                                 _pull("post_update_tests"))
        print(f"DECISION: {branch.upper()}\n" + "\n".join(f"  because {r}" for r in reasons))
        get_current_context()["ti"].xcom_push(key="decision", value={"branch": branch, "reasons": reasons})
        return {"promote": "promote", "rollback": "rollback"}.get(branch, [])

    @task
    def promote(plan: dict) -> dict:
        """Keep the new version: log it (the report and the catalog record it); the pre-update backup stays."""
        update = _pull("apply_update", "outcome")
        print(f"PROMOTED: {plan['kind']} {update.get('from')} -> {update.get('to')}")
        return {"from": update.get("from"), "to": update.get("to")}

    @task
    def rollback(plan: dict) -> dict:
        """Undo the update: restore the pre-update backup, switch the release back, or the previous image."""
        from include.update.rollback import roll_back

        outcome = roll_back(INVENTORY, plan, _pull("apply_update", "outcome"), _pull("pre_update_backup", "outcome"))
        return _record(outcome, outcome["state"] != "rolled-back" and f"ROLLBACK FAILED: {outcome.get('reason')}")

    @task
    def tests_after_rollback(plan: dict, dag_run=None, data_interval_start=None, data_interval_end=None) -> dict:
        """HTTP and health checks again: is the old version healthy?"""
        from include.update.post_tests import run_tests

        return run_tests(INVENTORY, plan, *run_window(dag_run, data_interval_start, data_interval_end),
                         with_assertions=False)

    @task
    def maintenance_off(plan: dict) -> dict:
        """Maintenance mode off for every affected target, whatever happened."""
        from include.update.window import maintenance

        return maintenance(INVENTORY, plan, False, "")

    @task
    def expire_silence(plan: dict, run_id=None) -> dict:
        """Expire every silence this run created, whatever happened."""
        from include.update.window import expire_silences

        return expire_silences(INVENTORY, plan, run_id)

    @task(trigger_rule="all_done")
    def write_report(run_id=None, dag_run=None, data_interval_start=None, data_interval_end=None) -> dict:
        """The whole run (what changed, each test, which branch and why), published and sent; fails unless promoted."""
        from include.update.report import finish

        plan = _plan()
        parts = {"drain": _pull("drain"), "backups": _pull("pre_update_backup", "outcome"),
                 "update": _pull("apply_update", "outcome"), "tests": _pull("post_update_tests"),
                 "branch": _pull("decide", "decision"), "promoted": _pull("promote"),
                 "rollback": _pull("rollback", "outcome"), "retest": _pull("tests_after_rollback"),
                 "teardown": {"maintenance_off": _pull("maintenance_off"), "silence": _pull("expire_silence")}}
        return finish(INVENTORY, plan, parts, run_id, *run_window(dag_run, data_interval_start, data_interval_end),
                      context=get_current_context())

    the_plan = plan()
    drain = DrainSessionsOperator(task_id="drain", plan=the_plan,
                                  doc_md="Wait, deferred, until active sessions are zero or the drain timeout passes.")
    silence_on, maint_on = create_silence(the_plan), maintenance_on(the_plan)
    maint_off, silence_off = maintenance_off(the_plan), expire_silence(the_plan)
    backups, updated, tested = pre_update_backup(the_plan), apply_update(the_plan), post_update_tests()
    branch, promoted, rolled_back = decide(), promote(the_plan), rollback(the_plan)
    retested = tests_after_rollback(the_plan)

    announce(the_plan) >> wait_for_window >> silence_on >> maint_on >> drain >> backups >> updated >> tested
    tested >> branch >> [promoted, rolled_back]
    rolled_back >> retested
    [promoted, retested] >> maint_off >> silence_off >> write_report()
    maint_off.as_teardown(setups=maint_on)
    silence_off.as_teardown(setups=silence_on)


planned_update()
