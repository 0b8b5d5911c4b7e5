"""The reports page lists what the catalog holds and serves the stored report."""

from datetime import UTC, datetime, timezone
from pathlib import Path

from fastapi.testclient import TestClient

from include.catalog import Catalog
from include.reports_view import build_app


def test_lists_runs_and_serves_their_report(tmp_path):
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    report = tmp_path / "report.html"
    report.write_text("<h1>the report</h1>")
    catalog.record_check_run("daily_health_check", datetime(2026, 5, 1, tzinfo=timezone.utc), "r1", "warning",
                             str(report), {}, [])
    client = TestClient(build_app(lambda: catalog, lambda uri: open(uri).read()))
    page = client.get("/")
    assert page.status_code == 200
    assert "2026-05-01T00:00:00Z" in page.text and "warning" in page.text
    served = client.get("/report", params={"routine": "daily_health_check", "interval_end": "2026-05-01T00:00:00Z"})
    assert served.text == "<h1>the report</h1>"
    missing = client.get("/report", params={"routine": "daily_health_check", "interval_end": "../../etc/passwd"})
    assert missing.status_code == 404


def test_the_runs_page_escapes_what_it_shows(tmp_path):
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    catalog.record_check_run("x<b>y", datetime(2026, 5, 1, tzinfo=timezone.utc), "<script>alert(1)</script>",
                             "critical", None, {}, [])
    client = TestClient(build_app(lambda: catalog, lambda uri: ""))
    page = client.get("/", params={"routine": "x<b>y"}).text
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "Aegis — x&lt;b&gt;y" in page
    assert "report?routine=x%3Cb%3Ey&amp;interval_end=2026-05-01T00%3A00%3A00Z" in page
    assert "#cf222e" in page  # critical keeps its colour
    assert "No run recorded yet." in client.get("/", params={"routine": "other"}).text


def test_plugin_registers_with_airflow():
    import importlib.util
    import pathlib

    spec = importlib.util.spec_from_file_location("aegis_reports", pathlib.Path(__file__).parent.parent / "plugins" / "aegis_reports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plugin = module.AegisReportsPlugin
    assert plugin.fastapi_apps[0]["url_prefix"] == "/aegis"
    client = TestClient(plugin.fastapi_apps[0]["app"])
    assert client.get("/").status_code in (401, 403)  # not logged in: refused


def test_a_user_without_read_access_to_a_dag_gets_403_on_its_reports(tmp_path, monkeypatch, airflow_db):
    """The plugin's permission check asks Airflow's auth manager (is_authorized_dag) for the routine's DAG.
    The auth manager here is a labelled fake that denies ``backup`` to the user ``no-backup``."""
    import importlib.util
    import pathlib

    from airflow.api_fastapi.core_api import security

    spec = importlib.util.spec_from_file_location(
        "aegis_reports_perm", pathlib.Path(__file__).parent.parent / "plugins" / "aegis_reports.py")
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)

    asked = []

    class FakeAuthManager:  # FAKE: stands in for an auth manager with per-DAG permissions
        def is_authorized_dag(self, *, method, access_entity=None, details=None, user=None):
            asked.append((method, details.id, user.name))
            return not (user.name == "no-backup" and details.id == "backup")

    class User:
        def __init__(self, name):
            self.name = name

    monkeypatch.setattr(security, "get_auth_manager", lambda: FakeAuthManager())
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    report = tmp_path / "report.html"
    report.write_text("<h1>backup report</h1>")
    catalog.record_check_run("backup", datetime(2026, 5, 1, tzinfo=UTC), "r1", "healthy", str(report), {}, [])
    app = build_app(lambda: catalog, lambda uri: Path(uri).read_text(), dependencies=[plugin.may_read_routine])
    client = TestClient(app)
    wanted = {"routine": "backup", "interval_end": "2026-05-01T00:00:00Z"}
    for name, status in (("no-backup", 403), ("ops", 200)):
        app.dependency_overrides[security.get_user] = lambda name=name: User(name)
        assert client.get("/report", params=wanted).status_code == status, name
        assert client.get("/", params={"routine": "backup"}).status_code == status, name
    assert client.get("/report", params={**wanted, "routine": "daily_health_check"}).status_code == 404
    assert ("GET", "backup", "no-backup") in asked and ("GET", "daily_health_check", "ops") in asked
