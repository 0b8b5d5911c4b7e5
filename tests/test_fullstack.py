"""The daily health check on a REAL Airflow: standalone (api-server, scheduler, dag-processor, triggerer)
in its own AIRFLOW_HOME, driven only over the REST API, against the local PostgreSQL, Redis, a log file
and this host.

What it proves that dag.test() does not: the DAG file parses in the dag-processor, the scheduler maps
``check_targets`` over exactly the requested targets, task workers reach the execution API, the run form
(conf) is honoured, and task logs are readable through the API.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.airflow_server import AirflowServer
from tests.helpers import write_inventory

pytestmark = pytest.mark.fullstack

DAG_ID = "daily_health_check"
PG, CACHE, LOGS, HOST = "fs-pg", "fs-cache", "fs-logs", "fs-host"
REQUESTED = [PG, LOGS]  # the host is in the inventory but not requested: its CPU on a busy CI box is not the point


def write_log_file(folder: Path, now: datetime) -> None:
    """Two ERROR lines inside the last 24 h (one signature), one too old to count, some noise."""
    folder.mkdir()
    ts = lambda d: f"{d:%Y-%m-%dT%H:%M:%S}"  # noqa: E731 - naive timestamps are read as UTC
    (folder / "app.log").write_text(
        "\n".join(
            [
                f"{ts(now - timedelta(hours=30))} ERROR stale failure that is outside the window (job 1)",
                f"{ts(now - timedelta(hours=2))} INFO service started",
                f"{ts(now - timedelta(hours=2))} ERROR settlement batch failed after 3 retries (batch 881)",
                f"{ts(now - timedelta(hours=1))} ERROR settlement batch failed after 4 retries (batch 882)",
                f"{ts(now - timedelta(minutes=30))} INFO all good",
            ]
        )
        + "\n"
    )


@pytest.fixture
def world(tmp_path):
    """An inventory in tmp_path (relative catalog / artifacts / logs) and the connections for it."""
    now = datetime.now(UTC)
    write_log_file(tmp_path / "logs", now)
    # Generous host / PostgreSQL thresholds: the verdict must come from the log target alone,
    # whatever this (busy, 2-core) machine's CPU and load are while Airflow starts.
    inventory = write_inventory(
        tmp_path,
        f"""
        version: 1
        catalog: {{path: catalog.db}}
        artifacts: {{base: artifacts}}
        defaults: {{timeout_seconds: 10}}
        targets:
          - name: {PG}
            kind: postgres
            conn_id: fs_pg
            tags: [db]
            thresholds: {{connections_warning_pct: 99, connections_critical_pct: 100,
                          long_transaction_warning_s: 86400, long_transaction_critical_s: 172800,
                          cache_hit_warning_min_pct: 0, cache_hit_critical_min_pct: 0}}
          - {{name: {CACHE}, kind: redis, conn_id: fs_cache, tags: [cache]}}
          - {{name: {LOGS}, kind: log_source, tags: [logs], paths: ["logs/*.log"]}}
          - name: {HOST}
            kind: host
            tags: [host]
            mounts: ["/"]
            thresholds: {{cpu_warning_pct: 100, cpu_critical_pct: 100, memory_warning_pct: 100,
                          memory_critical_pct: 100, swap_warning_pct: 100, swap_critical_pct: 100,
                          load_per_cpu_warning: 1000, load_per_cpu_critical: 2000,
                          disk_warning_pct: 100, disk_critical_pct: 100}}
    """,
    )
    env = {
        "AEGIS_INVENTORY": str(inventory),
        "AIRFLOW_CONN_FS_PG": "postgresql://postgres@127.0.0.1:5432/postgres",
        "AIRFLOW_CONN_FS_CACHE": "redis://127.0.0.1:6379/0",
    }
    return tmp_path, env


@pytest.fixture
def airflow(world, request):
    tmp_path, env = world
    server = AirflowServer(tmp_path / "airflow-home", extra_env=env)
    started = time.monotonic()
    failed_before = request.session.testsfailed
    server.start()
    try:
        yield server
    finally:
        # The call's report is logged before fixture teardown: a failed test has bumped the counter.
        if request.session.testsfailed > failed_before:
            print(f"\n----- Airflow logs (test failed after {time.monotonic() - started:.0f} s) -----")
            print(server.log_tails())
        server.stop()


def wait_for_dag(server: AirflowServer, timeout: float = 180, dag_id: str = DAG_ID) -> dict:
    """The DAG as the API shows it, once the dag-processor has parsed it without import errors."""

    def probe():
        errors = server.get("/api/v2/importErrors")
        assert errors["total_entries"] == 0, f"import errors: {json.dumps(errors['import_errors'], indent=1)}"
        r = server.request("GET", f"/api/v2/dags/{dag_id}", expect=(200, 404))
        return r.json() if r.status_code == 200 else None

    return server.wait_until(f"DAG {dag_id} to be parsed", probe, timeout, interval=2)


def wait_for_run(server: AirflowServer, run_id: str, timeout: float = 240, dag_id: str = DAG_ID) -> dict:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"

    def probe():
        run = server.get(path)
        return run if run["state"] in {"success", "failed"} else None

    return server.wait_until(f"run {run_id} to finish", probe, timeout, interval=2)


def test_daily_health_check_runs_on_a_real_airflow(world, airflow):
    tmp_path, _ = world
    t0 = time.monotonic()
    health = airflow.wait_healthy(timeout=180)
    assert health["metadatabase"]["status"] == "healthy", health
    airflow.login()

    dag = wait_for_dag(airflow)
    if dag["is_paused"]:
        dag = airflow.patch(f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    assert dag["is_paused"] is False

    # A manual run as the trigger form makes it (no logical date): it looks back 24 h from its run_after.
    run = airflow.trigger(DAG_ID, {"targets": REQUESTED, "thresholds": {"errors_warning": 1}, "alert": False})
    run_id = run["dag_run_id"]
    run_path = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}"
    run = wait_for_run(airflow, run_id)

    tis = airflow.get(f"{run_path}/taskInstances", params={"limit": 100})["task_instances"]
    states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in tis}
    assert run["state"] == "success", f"run {run_id} ended {run['state']}; task states: {states}"
    assert all(s == "success" for s in states.values()), states

    checks = [ti for ti in tis if ti["task_id"] == "check_targets"]
    assert sorted(ti["rendered_map_index"] for ti in checks) == sorted(REQUESTED), checks
    assert sorted(ti["map_index"] for ti in checks) == list(range(len(REQUESTED)))
    assert CACHE not in {ti["rendered_map_index"] for ti in checks}, "the Redis target was not requested"
    assert {ti["task_id"] for ti in tis} == {"select_targets", "check_targets", "evaluate_health", "write_report"}

    # evaluate_health's log, read through the API: the verdict and the log target's finding.
    evaluate_log = airflow.task_log(DAG_ID, run_id, "evaluate_health")
    assert "overall: warning" in evaluate_log.splitlines(), evaluate_log
    assert f"[warning] {LOGS}: 2 error line(s) in 1 file(s)" in evaluate_log, evaluate_log
    assert "settlement batch failed after <n> retries (batch <n>)" in evaluate_log, evaluate_log
    assert CACHE not in evaluate_log

    # write_report's log names the report; the file is there and says the same.
    report_log = airflow.task_log(DAG_ID, run_id, "write_report")
    named = [w.strip("'\",") for w in report_log.split() if w.strip("'\",").endswith("report.json")]
    assert named, f"write_report's log names no report.json:\n{report_log}"
    report_path = Path(named[0].removeprefix("file://"))
    assert report_path.is_file(), f"{report_path} (named in the log) does not exist"
    assert report_path.is_relative_to(tmp_path / "artifacts" / "reports" / DAG_ID), report_path
    report = json.loads(report_path.read_text())
    assert report["run_id"] == run_id
    assert report["summary"]["status"] == "warning", report["summary"]
    assert "report (warning) written" in report_log, report_log
    by = {r["target"]: r for r in report["results"]}
    assert set(by) == set(REQUESTED)
    assert by[LOGS]["metrics"]["logs.errors"] == 2
    assert by[PG]["status"] in {"ok", "warning"}, by[PG]
    assert HOST not in by
    logs_message = next(f["message"] for f in by[LOGS]["findings"] if f["level"] == "warning")
    assert f"[warning] {LOGS}: {logs_message}" in evaluate_log

    print(f"\nfull stack: Airflow up, run {run_id} succeeded and checked in {time.monotonic() - t0:.0f} s")
