"""Every DAG file imports cleanly, carries owner/tags/retries/docs, and does no network I/O at parse time."""

import socket

from airflow.dag_processing.dagbag import DagBag

from tests.helpers import REPO, write_inventory


def load_dagbag() -> DagBag:
    return DagBag(dag_folder=str(REPO / "dags"))


def test_dagbag_has_no_import_errors():
    bag = load_dagbag()
    assert bag.import_errors == {}
    assert "daily_health_check" in bag.dags


#: tasks that must not be retried blindly: a rerun of a live change is an operator's decision
NEVER_RETRIED = {("planned_update", "apply_update")}


def test_every_dag_has_owner_tags_retries_and_docs():
    bag = load_dagbag()
    assert bag.dags
    for dag_id, dag in bag.dags.items():
        assert dag.tags and "aegis" in dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md) > 200, dag_id
        for t in dag.tasks:
            assert t.owner and t.owner != "airflow", (dag_id, t.task_id)
            if (dag_id, t.task_id) in NEVER_RETRIED:
                assert t.retries == 0, (dag_id, t.task_id)
            else:
                assert t.retries >= 1, (dag_id, t.task_id)
            assert t.doc_md or t.doc or getattr(t, "python_callable", None).__doc__, (dag_id, t.task_id)


def test_parsing_opens_no_network_connection(monkeypatch):
    attempts = []

    def refuse(self, address):
        attempts.append(address)
        raise OSError(f"parse-time network I/O to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    bag = load_dagbag()
    assert bag.import_errors == {}
    assert attempts == []


def test_invalid_inventory_is_an_import_error_naming_file_field_and_reason(tmp_path, monkeypatch):
    bad = write_inventory(
        tmp_path,
        """
        targets:
          - {name: web, kind: host}
          - {name: db, kind: postgres, conn_id: pg, thresholds: {connections_warning_pct: lots}}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(bad))
    bag = load_dagbag()
    assert "daily_health_check" not in bag.dags
    errors = "\n".join(bag.import_errors.values())
    assert str(bad) in errors
    assert "targets[1].thresholds.connections_warning_pct" in errors
    assert "must be a number" in errors


FIRST_TASKS = {
    "daily_health_check": "select_targets",
    "backup": "select_targets",
    "verify_backups": "select_sets",
    "restore": "plan",
    "weekly_maintenance": "select_targets",
    "planned_update": "plan",
    "monthly_audit": "select",
    "incident": "open_incident",
    "troubleshoot_slow_queries": "find_slow",
    "troubleshoot_high_cpu": "top_processes",  # the root the approval waits for (pods runs beside it)
    "troubleshoot_memory": "top_consumers",  # likewise (growth runs beside it)
}


def test_unknown_conf_key_fails_the_first_task_at_once_naming_it(airflow_db, tmp_path, monkeypatch, capfd, caplog):
    """A typo in the trigger's conf is refused by every DAG's first task, without a retry, before anything runs."""
    inventory = write_inventory(
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        targets:
          - {name: web, kind: host}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inventory))
    bag = load_dagbag()
    assert set(FIRST_TASKS) == set(bag.dags)  # every DAG: a new one must name its first task here
    for dag_id, first in FIRST_TASKS.items():
        first_only = bag.get_dag(dag_id).partial_subset(task_ids=[first], include_downstream=False)
        run = first_only.test(run_conf={"dry-run": False})
        (ti,) = run.get_task_instances()
        state = str(getattr(ti.state, "value", ti.state))
        assert ti.task_id == first and state == "failed" and ti.try_number == 1, (dag_id, state)
        out, err = capfd.readouterr()
        logged = out + err + caplog.text
        known = sorted(bag.get_dag(dag_id).params)
        assert f"unknown conf key(s) ['dry-run']; this DAG knows: {known}" in logged, dag_id
        caplog.clear()
    # known keys only: the first task runs
    run = (
        bag.get_dag("daily_health_check")
        .partial_subset(task_ids=["select_targets"], include_downstream=False)
        .test(run_conf={"targets": ["web"]})
    )
    assert [str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()] == ["success"]


def test_the_slow_queries_form_defaults_to_a_sql_target_of_the_inventory(tmp_path, monkeypatch):
    """Triggered with its form's defaults on the demo inventory, the runbook looks at a target that exists."""
    from include.inventory import load_inventory

    def load_dag(dag_id):
        return DagBag(dag_folder=str(REPO / "dags" / f"{dag_id}.py")).dags[dag_id]

    demo = load_inventory(REPO / "config" / "inventory.yaml")
    monkeypatch.setenv("AEGIS_INVENTORY", str(REPO / "config" / "inventory.yaml"))
    target = load_dag("troubleshoot_slow_queries").params.get_param("target")
    assert demo.target(target.value).kind in ("postgres", "mysql")
    assert set(target.schema["examples"]) == {t.name for t in demo.targets if t.kind in ("postgres", "mysql")}
    other = write_inventory(tmp_path, "targets: [{name: db2, kind: mysql, conn_id: x}, {name: h, kind: host}]\n")
    monkeypatch.setenv("AEGIS_INVENTORY", str(other))
    assert load_dag("troubleshoot_slow_queries").params.get_param("target").value == "db2"
