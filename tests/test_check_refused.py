"""A refused check form (an unknown target; the form offers names as a closed list only up to
``MAX_ENUM_CHOICES`` targets, set to 0 here as for a large inventory) through the daily, weekly and monthly DAGs (dag.test): nothing is
checked, and still the report (outcome ``refused``, naming the unknown target) is written, recorded in the catalog
and notified, and the run ends failed without retry (:func:`include.dag_defaults.require_selection`)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import load_dag, task_states, use_inventory


@pytest.mark.parametrize(
    ("dag_id", "report_task"),
    [("daily_health_check", "evaluate_health"), ("weekly_maintenance", "evaluate"), ("monthly_audit", "build_report")],
)
def test_a_refused_check_form_writes_its_report_notifies_and_fails(
    airflow_db, tmp_path, monkeypatch, capfd, caplog, dag_id, report_task
):
    use_inventory(
        monkeypatch,
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        targets:
          - {name: cache, kind: redis, conn_id: rf_never_used}
        """,
    )
    from include import dag_defaults

    monkeypatch.setattr(dag_defaults, "MAX_ENUM_CHOICES", 0)  # names only suggested: the run's select refuses

    run = load_dag(dag_id).test(run_conf={"targets": ["no-such-target"]})

    states = task_states(run)
    assert run.state == "failed", states
    assert states["select_targets" if dag_id != "monthly_audit" else "select"][0] == "failed", states
    assert states[report_task] == ("failed", 1), states  # a refusal is not retried: the same form is refused again
    assert not any(state == "success" for task, (state, _) in states.items() if "[" in task), states  # none checked
    reports = [json.loads(p.read_text()) for p in (tmp_path / "artifacts" / "reports" / dag_id).rglob("report.json")]
    assert [r["run_id"] for r in reports] == [run.run_id], reports
    report = reports[0]
    assert report["outcome"] == "refused", report
    assert [(r["target"], r["status"]) for r in report["results"]] == [("(trigger form)", "critical")]
    reason = report["results"][0]["details"]["reason"]
    assert "unknown target name(s) ['no-such-target']" in reason and "cache" in reason, reason

    from include.catalog import Catalog
    from include.inventory import load_inventory

    recorded = [r for r in Catalog.for_inventory(load_inventory()).runs(dag_id) if r["run_id"] == run.run_id]
    assert [r["status"] for r in recorded] == ["refused"]  # the catalog keeps the run too
    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    assert "alert logged only" in logs and f"{dag_id} of (trigger form) REFUSED" in logs
