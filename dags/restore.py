"""
### Restore

The seeds' restore procedure, run by hand from the form.

1. **plan** — target, backup set (empty: the newest *verified* set), `dry_run` (on by default) and `confirm`:
   restoring over a live target needs `dry_run` off **and** the target's name typed into `confirm`.
2. **maintenance_on** (setup) — the maintenance flag consumers read (Airflow Variable `aegis_maintenance.<target>`,
   and the Redis key `aegis:maintenance:<target>` when the inventory names a flag Redis): stop or drain.
3. **restore** — fetch the set (every file's checksum checked), load it over the target (PostgreSQL and
   MySQL/MariaDB: loaded into a side copy on the same server, compared, then swapped in — a failed load leaves the
   database as it was; Redis keys replaced and extra keys removed, Milvus collections recreated, files extracted,
   ConfigMaps/Secrets applied), then compare with the manifest.
4. **maintenance_off** (teardown: runs whatever happened) — the consumer comes back.
5. **health_check** — the daily check's code on the restored target.
6. **write_report** — the publish tail: what was restored, how fast, and the health afterwards; the run in the
   catalog; an alert when not healthy. A failed restore ends the run failed. A refused request (no or a wrong
   confirmation, a set not of this target) gets a report too: outcome `refused`, naming why; alerted; run failed.

**What it does to a target:** in a dry run, nothing (the set is downloaded and checked, the plan logged).
Otherwise it **replaces the target's data** with the backup's.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from include.backup.store import SET_ID_PATTERN
from include.dag_defaults import (
    SharedChoices,
    by_queue,
    expand_by_queue,
    fail_without_retry,
    manual_dag_args,
    recent_set_ids,
    refusal,
    refuse_unknown_conf,
    routes_by_queue,
    run_window,
)
from include.inventory import load_inventory
from include.kinds import spec

INVENTORY = load_inventory()
SET_IDS = recent_set_ids(INVENTORY)
RESTORABLE = SharedChoices(sorted(t.name for t in INVENTORY.targets if spec(t.kind).backup and t.backup.get("enabled")))


@dag(
    **manual_dag_args(__doc__),
    max_active_runs=1,
    tags=["aegis", "manual", "backup", "restore"],
    params={
        "target": Param(
            RESTORABLE[0] if RESTORABLE else "",
            type="string",
            enum=RESTORABLE or SharedChoices([""]),
            title="Target",
            description="The target whose data is replaced by the backup set "
            "(targets of a kind with backups and backups enabled).",
        ),
        "set_id": Param(
            "",
            type=["string", "null"],
            pattern=f"^$|{SET_ID_PATTERN}",
            title="Backup set id",
            examples=SET_IDS,
            description="A set of this target (suggestions: the newest complete or verified sets). "
            "Empty: the newest verified set of the target.",
        ),
        "dry_run": Param(
            True,
            type="boolean",
            title="Dry run",
            description="On (default): download and check the set, log the plan, change nothing. "
            "Off: replace the target's data (needs the confirmation below).",
        ),
        "confirm": Param(
            "",
            type=["string", "null"],
            title="Confirm",
            description="Only for a live restore (dry run off): type the target's name here.",
        ),
    },
)
def restore():
    def checked(params) -> dict:
        """The form checked into the plan (pure: the report of a refused run asks it again why)."""
        refuse_unknown_conf()
        from include.backup.restore import RestoreRefused, plan_restore
        from include.catalog import Catalog

        with fail_without_retry(RestoreRefused, KeyError):
            return plan_restore(
                INVENTORY,
                Catalog.for_inventory(INVENTORY),
                params["target"],
                params["set_id"] or None,
                params["dry_run"],
                params["confirm"],
            )

    @task
    def plan(params=None) -> dict:
        """Resolve the set and refuse an unconfirmed live restore."""
        return checked(params)

    @task
    def maintenance_on(plan: dict) -> None:
        """Raise the maintenance flag so consumers stop taking work (skipped in a dry run)."""
        from include.maintenance import maintenance_on as on

        if plan["dry_run"]:
            print(f"DRY RUN: would turn maintenance mode on for {plan['target']}")
            return
        on(plan["target"], f"restore of {plan['set_id']}", INVENTORY.maintenance_redis_conn_id)

    @task
    def plan_by_queue(plan: dict) -> list[dict] | dict[str, list[dict]]:
        """The plan on its target's queue (:func:`include.dag_defaults.by_queue`): the restore fetches and loads
        on a worker serving that queue."""
        return by_queue(INVENTORY, [plan], target_of=lambda p: p["target"])

    @task
    def restore_target(plan: dict) -> dict:
        """Fetch (checksums checked) and load the set over the target; compare with the manifest."""
        from include.backup.restore import restore_live
        from include.targets import endpoint_for

        target = INVENTORY.target(plan["target"])
        return restore_live(INVENTORY, target, endpoint_for(target), plan)

    @task
    def maintenance_off(plan: dict) -> None:
        """Lower the maintenance flag, whatever happened before."""
        from include.maintenance import maintenance_off as off

        if not plan["dry_run"]:
            off(plan["target"], INVENTORY.maintenance_redis_conn_id)

    @task
    def health_check(plan: dict, dag_run=None, data_interval_start=None, data_interval_end=None) -> dict:
        """The daily health check's code on the restored target."""
        from include.daily_health import check_one

        if not spec(INVENTORY.target(plan["target"]).kind).restore_health:
            return {}
        return check_one(INVENTORY, plan["target"], {}, *run_window(dag_run, data_interval_start, data_interval_end))

    @task(trigger_rule="all_done")  # the report and the alert go out whatever happened
    def write_report(
        plan: dict | None,
        outcome: dict | list[dict] | None,  # a list when routed by queue (the one mapped copy)
        health: dict | None,
        run_id=None,
        dag_run=None,
        data_interval_start=None,
        data_interval_end=None,
    ) -> dict:
        """What was restored, how fast, and how the target looks afterwards; published, alert when not healthy.
        A failed restore ends the run failed once its report is out (the publish tail decides)."""
        from include.backup.reporting import as_result, build
        from include.publish import publish, publish_refused

        if plan is None:  # refused: the report says why, the alert goes out, the run ends failed
            params = get_current_context()["params"]
            name = str(params.get("target") or "")
            kind = INVENTORY.target(name).kind if name in {t.name for t in INVENTORY.targets} else "unknown"
            return publish_refused(
                "restore",
                f"Aegis restore of {name or '(no target)'} — refused",
                name or "(no target)",
                kind,
                refusal(lambda: checked(params)),
                INVENTORY,
                get_current_context(),
            )
        if outcome is not None and not isinstance(outcome, dict):  # routed by queue: the one mapped copy's result
            outcome = next(iter(outcome), None)
        if outcome is None:  # the restore task died, timed out or could not fetch the set
            outcome = {
                **plan,
                "state": "failed",
                "reason": "the restore task left no outcome (it failed, timed out or was killed)",
            }
        _, end = run_window(dag_run, data_interval_start, data_interval_end)
        rows = [as_result(outcome, outcome["target"], outcome["kind"])] + ([health] if health else [])
        for row in rows[1:]:
            row["target"] = f"{row['target']} (health after restore)"
        report = build(
            f"Aegis restore of {outcome['target']} — {end:%Y-%m-%d %H:%M} UTC",
            "restore",
            run_id,
            end,
            end,
            rows,
            outcome=outcome["state"],
        )
        return publish(report, INVENTORY, context=get_current_context())

    the_plan = plan()
    on = maintenance_on(the_plan)
    if routes_by_queue(INVENTORY):  # on the target's queue: one mapped copy per queue, the target's has the plan
        restored = expand_by_queue(restore_target, INVENTORY, plan=plan_by_queue(the_plan))
    else:
        restored = restore_target(the_plan)
    off = maintenance_off(the_plan)
    on >> restored >> off
    off.as_teardown(setups=on)
    health = health_check(the_plan)
    off >> health
    write_report(the_plan, restored, health)


restore()
