"""Aegis's own runs read from Airflow's REST API: a real run of the monthly audit (dag.test) read back through
the API server's app (in process, over HTTP semantics) with its task durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from include.monthly.airflow_runs import percentiles, routine_runs
from tests.helpers import load_dag, write_inventory

LOGICAL = datetime(2026, 2, 1, 5, 0, tzinfo=UTC)


def test_percentiles():
    assert percentiles([]) == {"p50_s": None, "p95_s": None}
    assert percentiles([4.0]) == {"p50_s": 4.0, "p95_s": 4.0}
    assert percentiles([float(x) for x in range(1, 101)]) == {"p50_s": 50.5, "p95_s": 95.05}


def test_runs_and_task_durations_come_from_the_rest_api(airflow_db, tmp_path, monkeypatch):
    inventory = write_inventory(
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        schedules: {monthly_audit: {cron: "0 5 1 * *", timezone: UTC}}
        targets: [{name: box, kind: host}]
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inventory))
    dag = load_dag("monthly_audit")
    assert dag.test(logical_date=LOGICAL, run_conf={"alert": False, "sections": ["maintenance_log"]}).state == "success"

    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")  # a token without a password
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "test-only-secret")
    from airflow.api_fastapi.app import create_app, purge_cached_app
    from fastapi.testclient import TestClient

    purge_cached_app()
    with TestClient(create_app()) as client:
        client.headers["Authorization"] = f"Bearer {client.get('/auth/token').json()['access_token']}"
        rows = routine_runs(client, LOGICAL - timedelta(days=40), LOGICAL + timedelta(days=1))
    [monthly] = [r for r in rows if r["routine"] == "monthly_audit"]
    assert monthly["runs"] >= 1 and monthly["failures"] == 0
    assert {"select", "maintenance_log", "build_report", "write_report"} <= set(monthly["tasks"])
    assert all(t["p50_s"] is not None and t["p50_s"] >= 0 for t in monthly["tasks"].values())
    assert monthly["tasks"]["write_report"]["p95_s"] >= monthly["tasks"]["write_report"]["p50_s"]


def test_without_an_api_target_or_with_one_that_is_down_the_report_says_so(tmp_path, monkeypatch):
    from include.inventory import parse_inventory
    from include.monthly.audit import airflow_durations
    from tests.helpers import free_port

    plain = parse_inventory({"targets": [{"name": "box", "kind": "host"}]})
    assert airflow_durations(plain, LOGICAL, LOGICAL)["durations"].startswith("not read: set audit.airflow_target")
    monkeypatch.setenv("AIRFLOW_CONN_AF_API", f"http://admin:pw-never-shown@127.0.0.1:{free_port()}")
    down = parse_inventory(
        {
            "audit": {"airflow_target": "airflow"},
            "targets": [{"name": "airflow", "kind": "http_service", "conn_id": "af_api", "timeout_seconds": 2}],
        }
    )
    said = airflow_durations(down, LOGICAL, LOGICAL)["durations"]
    assert said.startswith("not read: Airflow's API answered ConnectError") and "pw-never-shown" not in said
