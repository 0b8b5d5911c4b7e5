"""The trigger forms help: pick lists from the inventory and catalog, optional filters, schedules in words."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from include.catalog import Catalog
from include.dag_defaults import dag_doc, describe_schedule, recent_set_ids, schedule_of, target_params
from include.inventory import Schedule, load_inventory
from tests.helpers import write_inventory


def inventory(tmp_path, schedules: str = ""):
    return load_inventory(
        write_inventory(
            tmp_path,
            f"""
        version: 1
        catalog: {{path: catalog.db}}
        {schedules}
        targets:
          - {{name: pg-b, kind: postgres, conn_id: pg, tags: [db, prod]}}
          - {{name: pg-a, kind: postgres, conn_id: pg, tags: [db]}}
          - {{name: box, kind: host, tags: [hosts]}}
    """,
        )
    )


def test_target_and_tag_fields_are_optional_pick_lists_of_the_capable_targets(tmp_path):
    fields = target_params(inventory(tmp_path), "backup")
    targets, tags = fields["targets"].schema, fields["tags"].schema
    assert targets["items"]["enum"] == ["pg-a", "pg-b"]  # the host has no backups
    assert tags["items"]["enum"] == ["db", "prod"]
    for schema in (targets, tags):
        assert "null" in schema["type"] and "array" in schema["type"], schema  # not marked required
    assert "leave empty for every one of the 2 target(s)" in fields["targets"].description
    fields["targets"].resolve(None)  # an emptied field validates
    fields["targets"].resolve(["pg-a"])


def test_schedules_read_in_the_inventorys_timezone(tmp_path):
    inv = inventory(tmp_path, 'schedules: {backup: {cron: "30 1 * * 1-5", timezone: Europe/Berlin}}')
    assert schedule_of(inv, "backup") == Schedule("30 1 * * 1-5", "Europe/Berlin")
    assert schedule_of(inv, "daily_health_check") == Schedule("0 9 * * *", "Asia/Seoul")  # the default
    assert (
        describe_schedule(schedule_of(inv, "daily_health_check"))
        == "At 09:00, every day (Asia/Seoul; cron `0 9 * * *`)"
    )
    assert "Monday through Friday (Europe/Berlin" in describe_schedule(schedule_of(inv, "backup"))
    assert dag_doc("### Backup\n", schedule_of(inv, "backup")).endswith(
        "**Schedule:** At 01:30, Monday through Friday (Europe/Berlin; cron `30 1 * * 1-5`).\n"
    )
    assert "run from the form" in dag_doc("### Restore", None)


def test_set_id_suggestions_are_the_newest_usable_sets(tmp_path):
    inv = inventory(tmp_path)
    catalog = Catalog.for_inventory(inv)
    for day, state in ((1, "verified"), (2, "failed"), (3, "complete")):
        with time_machine.travel(datetime(2026, 5, day, tzinfo=UTC), tick=False):
            catalog.backup_started(f"pg-a-{day}", "pg-a", "postgres", "file:///x")
            catalog.backup_state(f"pg-a-{day}", state)
    assert recent_set_ids(inv) == ["pg-a-3", "pg-a-1"]
    broken = load_inventory(
        write_inventory(
            tmp_path / "b" if (tmp_path / "b").mkdir() is None else tmp_path,
            """
        version: 1
        catalog: {conn_id: no_such_connection}
        targets: [{name: box, kind: host}]
    """,
        )
    )
    assert recent_set_ids(broken) == []  # a catalog that cannot be read offers no suggestions


def test_every_dags_doc_ends_with_its_schedule_in_the_inventorys_timezone(tmp_path, monkeypatch):
    """Scheduled DAGs say when they run in words, in the timezone of the inventory's schedules (the monthly
    audit by default in the daily check's timezone); DAGs run from their form say they have no schedule."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.helpers import REPO, use_inventory

    use_inventory(
        monkeypatch,
        tmp_path,
        """
        version: 1
        catalog: {path: catalog.db}
        schedules:
          daily_health_check: {cron: "0 7 * * *", timezone: Europe/Berlin}
          backup: {cron: "30 1 * * *", timezone: Europe/Berlin}
        targets: [{name: box, kind: host}]
    """,
    )
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {} and len(bag.dags) >= 10
    for dag_id, dag in bag.dags.items():
        last = dag.doc_md.rstrip().splitlines()[-1]
        assert last.startswith("**Schedule:** "), (dag_id, last)
        if type(dag.timetable).__name__ == "NullTimetable":  # the SDK's or the core's (schedule=None)
            assert last == "**Schedule:** none, run from the form.", (dag_id, last)
        else:  # the inventory's timezone for the routines it schedules, the default (Asia/Seoul) for the others
            assert "(Europe/Berlin; cron `" in last or "(Asia/Seoul; cron `" in last, (dag_id, last)
    assert bag.dags["daily_health_check"].doc_md.rstrip().endswith("(Europe/Berlin; cron `0 7 * * *`).")
    assert (
        bag.dags["monthly_audit"]
        .doc_md.rstrip()
        .endswith("**Schedule:** At 05:00, on day 1 of the month (Europe/Berlin; cron `0 5 1 * *`).")
    )
    assert bag.dags["weekly_maintenance"].doc_md.rstrip().endswith("(Asia/Seoul; cron `0 3 * * 0`).")  # default


#: empty-by-default fields that are a closed pick list whose empty choice is one of the list's own items
EMPTY_CHOICE_IN_LIST = {("planned_update", "update_target")}


def test_no_form_marks_a_field_required_that_may_stay_empty(tmp_path, monkeypatch):
    """Airflow's trigger form marks a field required unless its type allows null: every field whose default
    is empty (meaning "all", "none" or "not given") allows null, so the form lets it stay empty."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.helpers import REPO, use_inventory

    use_inventory(
        monkeypatch,
        tmp_path,
        """
        version: 1
        catalog: {path: catalog.db}
        targets: [{name: box, kind: host}, {name: pg, kind: postgres, conn_id: pg, tags: [db]}]
    """,
    )
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    required_but_empty = []
    for dag_id, dag in sorted(bag.dags.items()):
        for name in dag.params:
            param = dag.params.get_param(name)
            types = param.schema.get("type")
            types = types if isinstance(types, list) else [types]
            if param.value in ("", []) and "null" not in types and (dag_id, name) not in EMPTY_CHOICE_IN_LIST:
                required_but_empty.append(f"{dag_id}.{name}")
            if "null" in types:
                param.resolve(None)  # an emptied field validates
    assert required_but_empty == []
    assert "monthly_audit" in bag.dags and "planned_update" in bag.dags


def test_a_planned_update_whose_emptied_fields_arrive_as_null_plans_as_with_their_defaults():
    """An optional field the user emptied reaches the run as null: the plan is the one its default gives."""
    from include.inventory import parse_inventory
    from include.update.form import update_form
    from include.update.plan import build_plan

    inv = parse_inventory({"targets": [{"name": "box", "kind": "host", "update": {"packages": ["bash"]}}]})
    form = update_form(inv)
    defaults = {name: param.value for name, param in form.items()}
    chosen = {"update_kind": "host_packages", "update_target": "box", "packages": ["bash"]}
    nullable = [n for n, p in form.items() if "null" in p.schema["type"] and n not in chosen]
    assert {"confirm", "targets", "window_start", "sql_assertions", "http_checks", "image"} <= set(nullable)
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    as_defaults = build_plan(inv, {**defaults, **chosen}, now)
    as_nulls = build_plan(inv, {**defaults, **dict.fromkeys(nullable), **chosen}, now)
    assert as_nulls == as_defaults and as_nulls.packages.packages == ["bash"] and as_nulls.dry_run


def test_the_monthly_audits_emptied_fields_choose_everything():
    from include.inventory import parse_inventory
    from include.monthly import SECTIONS
    from include.monthly.audit import select

    inv = parse_inventory({"targets": [{"name": "box", "kind": "host"}, {"name": "web", "kind": "host"}]})
    assert select(inv, None, None, None) == {"targets": ["box", "web"], "sections": list(SECTIONS)}
    assert select(inv, [], [], ["updates"]) == {"targets": ["box", "web"], "sections": ["updates"]}
