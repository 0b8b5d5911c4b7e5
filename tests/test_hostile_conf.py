"""Hostile trigger conf and inventory values: each refused with an error naming the field, or honoured."""

from __future__ import annotations

import pytest

from include.inventory import InventoryError, load_inventory
from tests.helpers import load_dag, use_inventory, write_inventory

INVENTORY = """
catalog: {path: catalog.db}
artifacts: {base: artifacts}
targets:
  - {name: pg-a, kind: postgres, conn_id: aegis_none_a, backup: {enabled: true}, tags: [team-a]}
  - {name: pg-b, kind: postgres, conn_id: aegis_none_b, backup: {enabled: true}, tags: [team-b]}
"""


def selected_sets(run) -> list[str]:
    """What the run's ``select_sets`` task returned (its XCom)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id="select_sets", key="return_value")
            .one()
        )
        return XComModel.deserialize_value(row)


def test_verify_backups_honours_the_tags_field(airflow_db, tmp_path, monkeypatch):
    """The form's tags pick the targets whose newest set is verified (they were ignored: every target's was)."""
    from include.catalog import Catalog

    path = use_inventory(monkeypatch, tmp_path, INVENTORY)
    catalog = Catalog.for_inventory(load_inventory(path))
    for target in ("pg-a", "pg-b"):
        catalog.backup_started(f"{target}-set", target, "postgres", f"file:///nowhere/{target}")
        catalog.backup_state(f"{target}-set", "complete")
    dag = load_dag("verify_backups").partial_subset(task_ids=["select_sets"], include_downstream=False)
    run = dag.test(run_conf={"tags": ["team-b"]})
    assert selected_sets(run) == ["pg-b-set"]


@pytest.mark.parametrize(
    "body, field, reason",
    [
        ("schedules: {daily_health: {cron: '0 9 * * *'}}", "schedules.daily_health", "unknown routine"),
        ("schedules: {backup: {cron: '0 2 * * *', timezone: 'Mars/Olympus'}}", "schedules.backup.timezone", "unknown"),
        ("targets: [{name: a, kind: host, timeout_seconds: .nan}]", "targets[0].timeout_seconds", "positive"),
        ("targets: [{name: a, kind: host, timeout_seconds: .inf}]", "targets[0].timeout_seconds", "finite"),
        (
            "targets: [{name: a, kind: postgres, conn_id: c, thresholds: {blocked_warning_s: .nan}}]",
            "targets[0].thresholds.blocked_warning_s",
            "finite",
        ),
    ],
)
def test_inventory_values_that_would_be_silently_ignored_are_refused(tmp_path, body, field, reason):
    text = body if body.startswith("targets") else body + "\ntargets: [{name: a, kind: host}]"
    with pytest.raises(InventoryError) as err:
        load_inventory(write_inventory(tmp_path, text))
    assert f"field '{field}'" in str(err.value) and reason in str(err.value)


def test_daily_threshold_override_that_is_not_a_finite_number_is_refused(tmp_path):
    from include.daily_health import select_targets

    inventory = load_inventory(write_inventory(tmp_path, "targets: [{name: a, kind: host}]"))
    with pytest.raises(ValueError, match="disk_warning_pct"):
        select_targets(inventory, [], [], {"disk_warning_pct": float("nan")})


def first_task_outcome(dag_id: str, task_id: str, conf: dict, capfd, caplog) -> tuple[str, str]:
    """(state, everything logged) of ``task_id`` run alone with ``conf``."""
    run = load_dag(dag_id).partial_subset(task_ids=[task_id], include_downstream=False).test(run_conf=conf)
    (ti,) = run.get_task_instances()
    out, err = capfd.readouterr()
    return str(getattr(ti.state, "value", ti.state)), out + err + caplog.text


@pytest.mark.parametrize(
    "dag_id, task_id, conf, message",
    [  # roots that run beside the one test_dags checks: each refuses a bad conf itself
        ("troubleshoot_high_cpu", "pods", {"kubernetes_targte": "k8s"}, "unknown conf key(s) ['kubernetes_targte']"),
        ("troubleshoot_high_cpu", "autoscalers", {"replica": 3}, "unknown conf key(s) ['replica']"),
        ("troubleshoot_memory", "growth", {"host": "web"}, "unknown conf key(s) ['host']"),
        ("troubleshoot_memory", "growth", {"host_target": "../../etc/passwd"}, "no target named '../../etc/passwd'"),
    ],
)
def test_troubleshooting_roots_refuse_bad_conf_naming_it(
    airflow_db, tmp_path, monkeypatch, capfd, caplog, dag_id, task_id, conf, message
):
    use_inventory(monkeypatch, tmp_path, INVENTORY)
    state, logged = first_task_outcome(dag_id, task_id, conf, capfd, caplog)
    assert state == "failed" and message in logged, (state, logged[-2000:])


@pytest.mark.parametrize(
    "conf, message",
    [
        ({"target": "nope"}, "no target named 'nope'"),
        ({"target": "web"}, "target 'web' is host; slow queries are PostgreSQL or MySQL only"),
    ],
)
def test_slow_queries_refuses_a_wrong_target_at_once_without_retry(
    airflow_db, tmp_path, monkeypatch, capfd, caplog, conf, message
):
    use_inventory(monkeypatch, tmp_path, INVENTORY + "  - {name: web, kind: host}\n")
    run = (
        load_dag("troubleshoot_slow_queries")
        .partial_subset(task_ids=["find_slow"], include_downstream=False)
        .test(run_conf=conf)
    )
    (ti,) = run.get_task_instances()
    out, err = capfd.readouterr()
    assert str(getattr(ti.state, "value", ti.state)) == "failed" and ti.try_number == 1
    assert message in out + err + caplog.text


@pytest.mark.parametrize(
    "dag_id, conf",
    [
        ("restore", {"target": "pg-a", "set_id": "../../etc/passwd"}),
        ("restore", {"target": "pg-a", "set_id": "pg-a-20260101T000000Z\x00"}),
        ("restore", {"target": "pg-a", "set_id": "pg-a-20260101T000000Z" + "x" * 100_000}),
        ("verify_backups", {"set_ids": ["pg-a-20260101T000000Z", "../../etc/passwd"]}),
        ("verify_backups", {"set_ids": ["x" * 100_000]}),  # over the 250 characters of a mapped task's label
    ],
)
def test_a_set_id_that_no_backup_can_have_is_refused_when_triggered(airflow_db, tmp_path, monkeypatch, dag_id, conf):
    from airflow.sdk.definitions.param import ParamValidationError

    use_inventory(monkeypatch, tmp_path, INVENTORY)
    with pytest.raises(ParamValidationError, match="Invalid input for param set_id"):
        load_dag(dag_id).test(run_conf=conf)


def test_the_set_id_pattern_takes_every_id_a_backup_makes():
    import re
    from datetime import UTC, datetime

    from include.backup.store import SET_ID_PATTERN, set_id_for

    for target in ("a", "pg-a", "x" * 63, "db.main_2"):
        assert re.match(SET_ID_PATTERN, set_id_for(target, datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)))
