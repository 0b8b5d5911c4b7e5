"""Scheduled runs do their job: what a scheduled / backfill run may change comes from the inventory
(``weekly.apply``, ``backup.apply_retention``), a manual run's from the form; adding partitions ahead always runs.

The DAG tests drive ``dag.test()`` as a *scheduled* run (:func:`tests.helpers.dag_test_as`) on a clock frozen
on New Year's Day (time-machine; the MariaDB session's clock follows it), against the real MariaDB and real
backup sets on disk.
"""

from __future__ import annotations

import json
import os
import time
from datetime import date, timedelta

import MySQLdb
import pytest
import time_machine

from include.clients.mysql import quote_ident as q
from include.inventory import InventoryError, parse_inventory
from include.run_policy import NOT_IN_APPLY, is_scheduled, retention_dry_run, run_type_of, weekly_steps
from tests.clock_edges import CALENDAR_EDGES
from tests.helpers import dag_test_as, load_dag, write_inventory
from tests.helpers import mysql_run as run

NOW = CALENDAR_EDGES["1-jan"]  # 2027-01-01 00:00:05 UTC: the partitions cross the year
MYSQL_STEPS = {"optimize", "purge", "partitions"}


# -- the decision, as pure functions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "run_type, scheduled",
    [("scheduled", True), ("backfill", True), ("manual", False), ("asset_triggered", False), (None, False)],
)
def test_scheduled_and_backfill_runs_follow_the_inventory_others_the_form(run_type, scheduled):
    from airflow.utils.types import DagRunType

    assert is_scheduled(run_type) is scheduled
    if run_type:
        assert is_scheduled(DagRunType(run_type)) is scheduled  # the enum the task context carries


def test_run_type_of_a_dag_run_or_none():
    from airflow.utils.types import DagRunType

    class Run:
        run_type = DagRunType.BACKFILL_JOB

    assert run_type_of(Run()) == "backfill" and run_type_of(None) == "manual"


def test_weekly_steps_scheduled_apply_exactly_the_configured_ones():
    plan = weekly_steps(MYSQL_STEPS, ["partitions"], scheduled=True, dry_run=True)
    assert plan.applied == {"partitions"}
    assert plan.planned == {"optimize": NOT_IN_APPLY, "purge": NOT_IN_APPLY}
    assert "applied: partitions" in plan.note() and "purge (not in weekly.apply)" in plan.note()
    # the form does not matter for a scheduled run; for a manual one only the form does
    assert weekly_steps(MYSQL_STEPS, [], scheduled=True, dry_run=False).applied == frozenset()
    assert weekly_steps(MYSQL_STEPS, [], scheduled=False, dry_run=False).applied == MYSQL_STEPS
    manual_dry = weekly_steps(MYSQL_STEPS, ["partitions"], scheduled=False, dry_run=True)
    assert manual_dry.applied == frozenset() and set(manual_dry.planned) == MYSQL_STEPS


def test_retention_scheduled_per_target_manual_per_form():
    assert retention_dry_run({"apply_retention": True}, scheduled=True, form_apply=False)[0] is False
    assert retention_dry_run({"apply_retention": False}, scheduled=True, form_apply=True)[0] is True
    assert retention_dry_run({"apply_retention": True}, scheduled=False, form_apply=False)[0] is True
    assert retention_dry_run({"apply_retention": False}, scheduled=False, form_apply=True)[0] is False


# -- the inventory --------------------------------------------------------------------------------------------


def inventory(targets: list[dict], defaults: dict | None = None):
    return parse_inventory({"defaults": defaults or {}, "targets": targets}, "inv.yaml")


def test_weekly_apply_defaults_to_the_kinds_steps_of_defaults_and_a_target_replaces_it():
    inv = inventory(
        [
            {"name": "db", "kind": "mysql", "conn_id": "c"},
            {"name": "cache", "kind": "redis", "conn_id": "r"},
            {"name": "db2", "kind": "mysql", "conn_id": "c", "weekly": {"apply": ["purge"]}},
            {"name": "pg", "kind": "postgres", "conn_id": "p"},
        ],
        {"weekly": {"apply": ["partitions", "redis_cleanup"]}, "backup": {"apply_retention": True}},
    )
    assert inv.target("db").weekly["apply"] == ["partitions"]
    assert inv.target("cache").weekly["apply"] == ["redis_cleanup"]
    assert inv.target("db2").weekly["apply"] == ["purge"]
    assert inv.target("pg").weekly["apply"] == []  # VACUUM is no step: nothing destructive to allow
    assert inv.target("db").backup["apply_retention"] is True
    assert inventory([{"name": "db", "kind": "mysql", "conn_id": "c"}]).target("db").backup["apply_retention"] is False


@pytest.mark.parametrize(
    "targets, defaults, message",
    [
        (
            [{"name": "db", "kind": "mysql", "conn_id": "c", "weekly": {"apply": ["partitions", "vacuum"]}}],
            None,
            r"targets\[0\]\.weekly\.apply': unknown step 'vacuum'; the steps of kind 'mysql': optimize, partitions, purge",
        ),
        (
            [{"name": "cache", "kind": "redis", "conn_id": "r", "weekly": {"apply": ["purge"]}}],
            None,
            r"weekly\.apply': unknown step 'purge'; the steps of kind 'redis': redis_cleanup",
        ),
        (
            [{"name": "db", "kind": "mysql", "conn_id": "c", "weekly": {"apply": "partitions"}}],
            None,
            r"weekly\.apply': must be a list",
        ),
        (
            [{"name": "db", "kind": "mysql", "conn_id": "c"}],
            {"weekly": {"apply": ["drop_everything"]}},
            r"defaults\.weekly\.apply': unknown step 'drop_everything'; the steps of any kind: .*log_rotation.*partitions",
        ),
        (
            [{"name": "db", "kind": "mysql", "conn_id": "c"}],
            {"weekly": {"max_seconds": 5}},
            r"defaults\.weekly\.max_seconds': unknown key; expected apply",
        ),
        (
            [{"name": "db", "kind": "mysql", "conn_id": "c", "backup": {"apply_retention": "yes"}}],
            None,
            r"backup\.apply_retention': must be true or false",
        ),
    ],
    ids=["unknown-step", "step-of-another-kind", "not-a-list", "unknown-default-step", "default-key", "retention"],
)
def test_bad_apply_settings_are_named(targets, defaults, message):
    with pytest.raises(InventoryError, match=message):
        inventory(targets, defaults)


# -- a scheduled weekly run on the real MariaDB -----------------------------------------------------------------


def layout(db: str) -> list[str]:
    rows = run(
        "SELECT partition_name FROM information_schema.partitions WHERE table_schema = %s AND table_name = 'events'"
        " ORDER BY partition_ordinal_position",
        args=(db,),
    )
    return [r[0] for r in rows]


def make_partitioned(db: str, today: date) -> None:
    """Daily RANGE (TO_DAYS) partitions, no catch-all: two past retention (7 days), the last one ends tomorrow;
    a row every day from 25 days ago to today. A row for the day after tomorrow has no partition yet."""
    bounds = {"p_old1": today - timedelta(20), "p_old2": today - timedelta(10), "p_cur": today + timedelta(1)}
    parts = ", ".join(f"PARTITION {n} VALUES LESS THAN (TO_DAYS('{b}'))" for n, b in bounds.items())
    run(
        f"CREATE DATABASE {q(db)}",
        f"CREATE TABLE {q(db)}.events (id INT AUTO_INCREMENT, created DATE NOT NULL, PRIMARY KEY (id, created))"
        f" PARTITION BY RANGE (TO_DAYS(created)) ({parts})",
    )
    run(
        f"INSERT INTO {q(db)}.events (created) SELECT %s - INTERVAL seq DAY FROM {q(db)}.seq_0_to_25",
        args=(str(today),),
    )


def insert_ahead(db: str, today: date) -> None:
    run(f"INSERT INTO {q(db)}.events (created) VALUES (%s)", args=(str(today + timedelta(2)),))


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=True):  # ticks: the run's own timeouts and polls go on
        yield NOW


@pytest.fixture
def partition_world(frozen, tmp_path, monkeypatch):
    """Two MariaDB targets with the same partitioned table: ``applies`` allows partitions in weekly.apply,
    ``plans`` does not. Both have a purge configured (never in weekly.apply: only planned)."""
    stamp = f"{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    dbs = {"applies": f"aegis_sched_a_{stamp}", "plans": f"aegis_sched_p_{stamp}"}
    today = frozen.date()
    for db in dbs.values():
        make_partitioned(db, today)
    targets = "".join(
        f"""
          - name: maria-{role}
            kind: mysql
            conn_id: sched_maria
            databases: [{db}]
            weekly:
              apply: {"[partitions]" if role == "applies" else "[]"}
              partitions: [{{table: {db}.events, interval: day, premake: 3, retention_days: 7}}]
              purge: [{{table: {db}.events, column: created, older_than_days: 15, batch_size: 100}}]
"""
        for role, db in dbs.items()
    )
    inv = write_inventory(
        tmp_path,
        f"""
        catalog: {{path: catalog.db}}
        artifacts: {{base: artifacts}}
        defaults: {{fail_run_on: never}}
        targets:{targets}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inv))
    monkeypatch.setenv("AIRFLOW_CONN_SCHED_MARIA", "mysql://root@127.0.0.1:3306/")
    yield {"tmp": tmp_path, "dbs": dbs, "today": today}
    for db in dbs.values():
        run(f"DROP DATABASE IF EXISTS {q(db)}")


def latest_report(tmp, routine: str) -> tuple[dict, str]:
    files = sorted((tmp / "artifacts" / "reports" / routine).rglob("report.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(files[-1].read_text()), (files[-1].parent / "report.md").read_text()


def test_a_scheduled_weekly_run_adds_partitions_and_drops_only_where_weekly_apply_allows(airflow_db, partition_world):
    dbs, today, tmp = partition_world["dbs"], partition_world["today"], partition_world["tmp"]
    for db in dbs.values():
        with pytest.raises(MySQLdb.OperationalError, match="no partition"):  # no catch-all: rejected before
            insert_ahead(db, today)
    rows_before = {role: run(f"SELECT COUNT(*) FROM {q(db)}.events")[0][0] for role, db in dbs.items()}
    dag = load_dag("weekly_maintenance")
    assert dag.params["dry_run"] is True  # a scheduled run gets the form's defaults: a dry run

    started = time.monotonic()
    dag_run = dag_test_as("scheduled", dag, logical_date=NOW)
    print(f"scheduled weekly dag.test: {time.monotonic() - started:.1f}s")
    assert dag_run.state == "success" and dag_run.run_type == "scheduled"

    added = [f"p{today + timedelta(i):%Y%m%d}" for i in (1, 2, 3)]  # up to the end of the 3rd day after today
    assert layout(dbs["applies"]) == ["p_cur", *added]  # old partitions dropped (weekly.apply: [partitions])
    assert layout(dbs["plans"]) == ["p_old1", "p_old2", "p_cur", *added]  # only planned: still there
    for db in dbs.values():
        insert_ahead(db, today)  # accepted now: the partitions ahead were added in both
    purged_rows = run(f"SELECT COUNT(*) FROM {q(dbs['plans'])}.events")[0][0]
    assert purged_rows == rows_before["plans"] + 1  # purge not in weekly.apply: no row deleted
    assert run(f"SELECT COUNT(*) FROM {q(dbs['applies'])}.events")[0][0] < rows_before["applies"]

    report, markdown = latest_report(tmp, "weekly_maintenance")
    assert report["scheduled"] is True and report["dry_run"] is False
    assert "scheduled run" in report["mode"]
    mysql = {r["target"]: r for r in report["results"] if r["concern"] == "mysql"}
    applies, plans = mysql["maria-applies"]["details"], mysql["maria-plans"]["details"]
    assert applies["steps"] == {"applied": ["partitions"], "planned": {"optimize": NOT_IN_APPLY, "purge": NOT_IN_APPLY}}
    assert plans["steps"] == {
        "applied": [],
        "planned": {"optimize": NOT_IN_APPLY, "partitions": NOT_IN_APPLY, "purge": NOT_IN_APPLY},
    }
    actions = {
        role: {(r["operation"], r["partition"]): r["action"] for r in d["partitions"]}
        for role, d in (("applies", applies), ("plans", plans))
    }
    for role in actions:
        assert {p for (op, p), a in actions[role].items() if op == "add" and a == "done"} == set(added)
    assert actions["applies"][("drop", "p_old1")] == actions["applies"][("drop", "p_old2")] == "done"
    assert actions["plans"][("drop", "p_old1")] == actions["plans"][("drop", "p_old2")] == "would do"
    assert plans["purge"][0]["action"] == "would do" and plans["purge"][0]["deleted"] == 0
    assert "destructive steps applied: partitions; only planned: optimize (not in weekly.apply)" in markdown
    assert "destructive steps applied: none; only planned: optimize (not in weekly.apply), partitions" in markdown
    # the report shows what the run ran with: the form's defaults and each target's weekly.apply
    assert report["settings"]["form"]["dry_run"] is True
    assert report["settings"]["inventory"]["targets"]["maria-applies"]["weekly"]["apply"] == ["partitions"]
    assert '"apply": ["partitions"]' in markdown


# -- a scheduled backup applies retention per target --------------------------------------------------------------


@pytest.fixture
def backup_world(tmp_path, monkeypatch):
    """Two file targets with two sets each from 60 and 45 days before NOW; only ``trim`` has apply_retention."""
    for name in ("trim", "keep"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "settings.yaml").write_text(f"{name}: 1\n")
    inv = write_inventory(
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        defaults: {backup: {retention_days: 30, keep_last: 1}}
        targets:
          - {name: trim, kind: files, paths: [trim], backup: {apply_retention: true}}
          - {name: keep, kind: files, paths: [keep]}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inv))
    from include.backup import runner
    from include.catalog import Catalog
    from include.inventory import load_inventory
    from include.targets import endpoint_for

    inventory = load_inventory()
    catalog = Catalog.for_inventory(inventory)
    old: dict[str, list[str]] = {"trim": [], "keep": []}
    for days in (60, 45):
        when = NOW - timedelta(days=days)
        with time_machine.travel(when, tick=True):
            for name in old:
                target = inventory.target(name)
                outcome = runner.backup_target(inventory, target, endpoint_for(target), when, catalog)
                old[name].append(outcome["set_id"])
    return {"tmp": tmp_path, "old": old, "catalog": catalog, "inventory": inventory}


@pytest.mark.parametrize("run_type", ["scheduled", "backfill"])
def test_a_scheduled_backup_applies_retention_only_where_the_inventory_says(airflow_db, backup_world, frozen, run_type):
    from include.backup.runner import sets_folder

    old, catalog, inventory = backup_world["old"], backup_world["catalog"], backup_world["inventory"]
    dag = load_dag("backup")
    assert dag.params["apply_retention"] is False  # the form's default, which a scheduled run gets

    started = time.monotonic()
    dag_run = dag_test_as(run_type, dag, logical_date=NOW)
    print(f"{run_type} backup dag.test: {time.monotonic() - started:.1f}s")
    assert dag_run.state == "success" and dag_run.run_type == run_type

    for set_id in old["trim"]:  # apply_retention: expired sets deleted, on disk and in the catalog
        assert catalog.backup_set(set_id)["state"] == "deleted"
        assert not sets_folder(inventory, "trim", set_id).exists()
    for set_id in old["keep"]:  # without it: kept, only listed
        assert catalog.backup_set(set_id)["state"] == "complete"
        assert sets_folder(inventory, "keep", set_id).exists()
    for name in old:  # the run's own set of each target is complete and kept
        assert [s["state"] for s in catalog.backup_sets_of(name) if s["set_id"] not in old[name]] == ["complete"]

    report, _ = latest_report(backup_world["tmp"], "backup")
    retention = {(a["target"], a["set_id"]): a for a in report["retention"]}
    assert {(t, a["action"], a["why"]) for (t, _), a in retention.items()} == {
        ("trim", "deleted", "scheduled run, backup.apply_retention on"),  # a backfill: as the scheduled run
        ("keep", "would delete", "scheduled run, backup.apply_retention off"),
    }
    assert {s for _, s in retention} == set(old["trim"] + old["keep"])
    # the report shows the form's apply_retention and the target that overrides it in the inventory
    assert report["settings"]["form"]["apply_retention"] is False
    assert report["settings"]["inventory"]["targets"]["trim"]["backup"]["apply_retention"] is True
    assert "apply_retention" not in report["settings"]["inventory"]["targets"].get("keep", {}).get("backup", {})
