"""Per-DAG read permission on the Aegis console through a REAL ``airflow api-server`` (issues 13, 15).

``airflow standalone`` forces the simple auth manager (roles only, no per-DAG rules), so this starts the API
server alone, after ``airflow db migrate``, with ``tests/restricted_auth.py`` (a labelled test double: the
simple auth manager plus "``no-backup`` may not read DAG ``backup``"). It proves that the plugin loads from
the plugins folder, is served under ``/aegis`` behind the login, and asks Airflow's auth manager per DAG:
a user who may not read ``backup`` gets 403 on its reports while the admin reads them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from include.catalog import Catalog
from tests.airflow_server import AirflowServer
from tests.helpers import write_inventory
from tests.restricted_auth import RESTRICTED_USER

pytestmark = pytest.mark.fullstack

AUTH_MANAGER = "tests.restricted_auth.RestrictedDagAuthManager"
RUN_END = datetime(2026, 5, 7, 11, 0, tzinfo=UTC)  # the recorded runs' interval end
RUN_END_ISO = "2026-05-07T11:00:00Z"


@pytest.fixture
def api_server(tmp_path):
    """The API server alone (no scheduler: nothing runs), a catalog with one backup and one daily run."""
    inventory = write_inventory(
        tmp_path,
        """
        version: 1
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        targets:
          - {name: app-logs, kind: log_source, tags: [logs], paths: ["/nonexistent/*.log"]}
        """,
    )
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    for routine, run_id in (("backup", "scheduled__b1"), ("daily_health_check", "scheduled__d1")):
        report = tmp_path / f"{routine}.html"
        report.write_text(f"<!doctype html><html><body><h1>{routine} report</h1></body></html>")
        catalog.record_check_run(routine, RUN_END, run_id, "healthy", f"file://{report}", {}, [])
    server = AirflowServer(
        tmp_path / "airflow-home",
        extra_env={"AEGIS_INVENTORY": str(inventory), "AIRFLOW__CORE__AUTH_MANAGER": AUTH_MANAGER},
        command=("api-server",),
        users={RESTRICTED_USER: "viewer"},
    )
    server.start()
    try:
        server.wait_until(
            "GET /api/v2/monitor/health",
            lambda: server.client.get("/api/v2/monitor/health", timeout=5).status_code == 200,
            timeout=120,
        )
        yield server
    finally:
        server.stop()


def test_a_user_who_may_not_read_backup_gets_403_on_its_reports_through_the_api_server(api_server):
    report = {"routine": "backup", "interval_end": RUN_END_ISO}
    assert api_server.client.get("/aegis/report", params=report).status_code in (401, 403)  # not logged in

    api_server.login()  # the admin
    served = api_server.request("GET", "/aegis/report", params=report)
    assert "<h1>backup report</h1>" in served.text
    assert "data-routine='backup'" in api_server.request("GET", "/aegis/reports").text

    api_server.login(RESTRICTED_USER)
    assert api_server.client.get("/aegis/report", params=report).status_code == 403
    assert api_server.client.get("/aegis/reports", params={"routine": "backup"}).status_code == 403
    listing = api_server.request("GET", "/aegis/reports").text
    assert "data-routine='daily_health_check'" in listing and "data-routine='backup'" not in listing
    daily = {"routine": "daily_health_check", "interval_end": RUN_END_ISO}
    assert "<h1>daily_health_check report</h1>" in api_server.request("GET", "/aegis/report", params=daily).text
    assert api_server.client.get("/aegis/backups").status_code == 403
