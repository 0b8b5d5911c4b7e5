"""The planned update's steps, one function per task of ``dags/planned_update.py``.

Each step takes the plan as JSON (as XCom hands it; :class:`~include.update.plan.UpdatePlan` here)
and the outcomes of the steps it depends on as arguments, and returns its own outcome. Steps that
run whatever happened upstream (``all_done``) get ``None`` for an outcome that was never made.

A step that fails but has an outcome the later steps need (the pre-update backup, the update, the
rollback) hands it on as its return value first and then fails (:func:`hand_on_then_fail`): the
grid shows the failure, and the decision and the report still see what happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from include.inventory import Inventory
from include.update.plan import UpdatePlan, as_plan, describe
from include.update.rollback import PROMOTE, ROLLBACK, decide

#: the task id of each branch of the decision (``nothing`` runs neither)
BRANCH_TASKS = {PROMOTE: "promote", ROLLBACK: "rollback"}
Outcome = TypeVar("Outcome")
PlanJson = Mapping[str, Any]


def hand_on_then_fail(outcome: Outcome, failure: str | None, context: Mapping[str, Any]) -> Outcome:
    """Return ``outcome``; when ``failure`` is set, store it as this task's return value first, then fail
    (no retry) with ``failure``, so downstream tasks still receive it as their argument."""
    if not failure:
        return outcome
    from airflow.sdk.bases.xcom import BaseXCom
    from airflow.sdk.exceptions import AirflowFailException

    context["ti"].xcom_push(BaseXCom.XCOM_RETURN_KEY, outcome)
    raise AirflowFailException(failure)


def run_window_of(context: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """The run's interval (start, end), the same in every step."""
    from include.dag_defaults import run_window

    return run_window(context["dag_run"], context.get("data_interval_start"), context.get("data_interval_end"))


def make_plan(inventory: Inventory, params: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """The form validated into the plan's JSON; a mistake fails the step without a retry."""
    from include.dag_defaults import fail_without_retry
    from include.update.plan import PlanError, build_plan

    with fail_without_retry(PlanError):
        return build_plan(inventory, params, run_window_of(context)[1]).to_dict()


def planned(plan: PlanJson | None) -> UpdatePlan:
    """The run's plan, for steps that run whatever happened upstream; skipped when the form was refused."""
    if plan is None:
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException("no plan: the form was refused (see the plan task's log)")
    return as_plan(plan)


def announce(inventory: Inventory, plan: PlanJson, context: Mapping[str, Any]) -> dict[str, str]:
    """Announce the window and the change through the notifiers (logged only in a dry run)."""
    from include.alerting import send_alert
    from include.update.window import announcement

    subject, text, body = announcement(as_plan(plan))
    if plan["dry_run"]:
        print(f"DRY RUN: would announce:\n{subject}\n{text}")
        return {}
    return send_alert(inventory.alerting, subject, text, body, context=dict(context))


def create_silence(inventory: Inventory, plan: PlanJson, run_id: str) -> dict[str, str]:
    """A silence of the targets' alerts for the window on every Alertmanager."""
    from include.update.window import create_silences

    return create_silences(inventory, as_plan(plan), run_id)


def maintenance_on(inventory: Inventory, plan: PlanJson) -> dict[str, str]:
    """Maintenance mode on for every affected target (all or none)."""
    from include.update.window import maintenance

    return maintenance(inventory, as_plan(plan), True, f"planned update: {describe(plan)}")


def maintenance_off(inventory: Inventory, plan: PlanJson) -> dict[str, str]:
    """Maintenance mode off for every affected target (tries all, then fails if one could not be)."""
    from include.update.window import maintenance

    return maintenance(inventory, as_plan(plan), False, "")


def expire_silence(inventory: Inventory, plan: PlanJson, run_id: str) -> dict[str, list[str]]:
    """Every silence this run created, expired."""
    from include.update.window import expire_silences

    return expire_silences(inventory, as_plan(plan), run_id)


def pre_update_backup(inventory: Inventory, plan: PlanJson, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every affected target backed up; any failure fails the step (the update then never runs)."""
    from include.update.backups import back_up_all

    outcomes = back_up_all(inventory, as_plan(plan), run_window_of(context)[1])
    failed = [f"{o['target']}: {o.get('reason')}" for o in outcomes if o["state"] == "failed"]
    failure = "pre-update backup failed, the update will NOT run: " + "; ".join(failed) if failed else None
    return hand_on_then_fail(outcomes, failure, context)


def record_current_version(inventory: Inventory, plan: PlanJson) -> dict[str, Any]:
    """``{"from": version}``: what runs before the update, recorded in its own task (before the backup and the
    update), so a rerun of the update after a crash cannot take the new version for the previous one."""
    from include.update.apply import current_version

    typed = as_plan(plan)
    version = current_version(inventory, typed)
    print(f"version before the update ({typed.update_target or typed.kind}): {version}")
    return {"from": version}


def apply_update(
    inventory: Inventory, plan: PlanJson, previous: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, Any]:
    """The update from the ``previous`` version recorded before it; a failed one fails the step after handing
    its outcome on (for the decision)."""
    from include.update.apply import apply_update as apply

    typed = as_plan(plan)
    outcome = apply(inventory, typed, context["run_id"], typed.update_timeout_s, previous)
    failure = f"update failed: {outcome['reason']}" if outcome["state"] == "failed" else None
    return hand_on_then_fail(outcome, failure, context)


def post_update_tests(
    inventory: Inventory, plan: PlanJson | None, update: Mapping[str, Any] | None, context: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The plan's tests, unless the update did not succeed (then None: the decision rolls back)."""
    from include.update.post_tests import run_tests

    typed = planned(plan)
    if not typed.dry_run and (update or {}).get("state") != "updated":
        print(f"the update did not succeed ({(update or {}).get('state', 'no outcome')}): no post-update tests")
        return None
    return run_tests(inventory, typed, *run_window_of(context), with_assertions=not typed.dry_run)


def tests_after_rollback(inventory: Inventory, plan: PlanJson, context: Mapping[str, Any]) -> dict[str, Any]:
    """HTTP and health checks again (not the SQL assertions: they assert the new version)."""
    from include.update.post_tests import run_tests

    return run_tests(inventory, as_plan(plan), *run_window_of(context), with_assertions=False)


def choose_branch(
    plan: PlanJson | None,
    backups: list[dict[str, Any]] | None,
    update: dict[str, Any] | None,
    tests: dict[str, Any] | None,
) -> str | list[str]:
    """Log the decision and its reasons; the task id of the branch to run (none when there is nothing to do)."""
    branch, reasons = decide(planned(plan), backups, update, tests)
    print(f"DECISION: {branch.upper()}\n" + "\n".join(f"  because {r}" for r in reasons))
    return BRANCH_TASKS.get(branch, [])


def decided(
    plan: UpdatePlan,
    backups: list[dict[str, Any]] | None,
    update: dict[str, Any] | None,
    tests: dict[str, Any] | None,
    step: str,
) -> None:
    """Skip ``step`` unless the decision is ``step``. The branch task already skips the branch it did not
    choose; :func:`decide` is pure, so asking it again gives its answer even when the branch task itself died
    (a branch task hands no value on)."""
    branch, _ = decide(plan, backups, update, tests)
    if BRANCH_TASKS.get(branch) != step:
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(f"the decision is {branch}, not {step}")


def promote(
    plan: PlanJson | None,
    backups: list[dict[str, Any]] | None,
    update: dict[str, Any] | None,
    tests: dict[str, Any] | None,
) -> dict[str, Any]:
    """Keep the new version: log it (the report and the catalog record it); the pre-update backup stays."""
    typed = planned(plan)
    decided(typed, backups, update, tests, BRANCH_TASKS[PROMOTE])
    assert update is not None  # the decision promotes an update that ran
    print(f"PROMOTED: {typed.kind} {update.get('from')} -> {update.get('to')}")
    return {"from": update.get("from"), "to": update.get("to")}


def rollback(
    inventory: Inventory,
    plan: PlanJson | None,
    backups: list[dict[str, Any]] | None,
    update: dict[str, Any] | None,
    tests: dict[str, Any] | None,
    previous: dict[str, Any] | None,
    context: Mapping[str, Any],
) -> dict[str, Any]:
    """Undo the update (back to the ``previous`` version recorded before it) when the decision says so; a failed
    rollback fails the step after handing its outcome on."""
    from include.update.rollback import roll_back

    typed = planned(plan)
    decided(typed, backups, update, tests, BRANCH_TASKS[ROLLBACK])
    outcome = roll_back(inventory, typed, update, backups, previous)
    failure = f"ROLLBACK FAILED: {outcome.get('reason')}" if outcome["state"] != "rolled-back" else None
    return hand_on_then_fail(outcome, failure, context)


def write_report(
    inventory: Inventory, plan: PlanJson | None, outcomes: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, Any]:
    """The report of the whole run from every step's outcome; the decision is :func:`decide` again (it is pure,
    so it says what the branch task said). Fails unless the update was promoted (or this was a dry run)."""
    from include.update.report import finish

    if plan is None:  # refused: the report says why, the alert goes out, the run ends failed
        from include.dag_defaults import refusal, refuse_unknown_conf
        from include.publish import publish_refused
        from include.update.report import ROUTINE

        params = context["params"]
        name = str(params.get("update_target") or "")
        known = {t.name: t.kind for t in inventory.targets}

        def check() -> None:
            refuse_unknown_conf()
            make_plan(inventory, params, context)

        return publish_refused(
            ROUTINE,
            f"Aegis planned update of {name or '(no target)'} — refused",
            name or "(no target)",
            known.get(name, "unknown"),
            refusal(check),
            inventory,
            context,
        )
    typed = as_plan(plan)
    parts = dict(outcomes)
    branch, reasons = decide(typed, parts.get("backups"), parts.get("update"), parts.get("tests"))
    parts["branch"] = {"branch": branch, "reasons": reasons}
    return finish(inventory, dict(plan), parts, context["run_id"], *run_window_of(context), context=dict(context))
