"""A catalog that cannot be used, and a report that cannot be written: clear, bounded failures that name the file
and what to do; the daily check still checks its targets, writes its report, alerts and ends failed."""

import json
import shutil
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import load_dag, write_inventory


@pytest.fixture
def no_retries(monkeypatch):
    """The failure under test is final; a retry (one minute later in production) would only slow the test."""
    from include import dag_defaults

    monkeypatch.setitem(dag_defaults.DEFAULT_ARGS, "retries", 0)


@pytest.fixture
def good_catalog(tmp_path):
    from include.catalog import Catalog

    path = tmp_path / "made.db"
    Catalog(f"sqlite:///{path}").backup_sets_of()
    return path


def open_catalog(path, url=None):
    from include.catalog import Catalog

    catalog = Catalog(url or f"sqlite:///{path}")
    catalog.backup_started("s-1", "t", "postgres", "file:///x")  # a write, as every routine's publishing does
    return catalog


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda p: p.write_bytes(b"not a database at all\n" * 200), "not an SQLite database"),
        (lambda p: p.write_bytes(p.read_bytes()[:3000]), "damaged (truncated?)"),
        (lambda p: p.write_bytes(p.read_bytes()[:100]), "damaged (truncated?)"),
    ],
    ids=["garbage", "truncated", "cut to its header"],
)
def test_a_damaged_catalog_file_is_named_with_what_to_do(tmp_path, good_catalog, damage, words):
    from include.catalog import CatalogUnavailable

    path = tmp_path / "catalog.db"
    shutil.copy(good_catalog, path)
    damage(path)
    with pytest.raises(CatalogUnavailable, match="restore it from a copy, or move it aside") as err:
        open_catalog(path)
    assert f"SQLite file {path}" in str(err.value) and words in str(err.value)


def test_a_catalog_from_a_newer_aegis_is_refused_naming_both_revisions(tmp_path, good_catalog):
    from include.catalog import CatalogUnavailable, head_revision

    path = tmp_path / "catalog.db"
    shutil.copy(good_catalog, path)
    with sqlite3.connect(path) as c:
        c.execute("update aegis_alembic_version set version_num = '0042_from_the_future'")
    with pytest.raises(CatalogUnavailable, match="a newer Aegis migrated it") as err:
        open_catalog(path)
    message = str(err.value)
    assert str(path) in message and "'0042_from_the_future'" in message and repr(head_revision()) in message


def test_a_read_only_catalog_names_the_file_and_the_permission(tmp_path, good_catalog):
    """Opened read-only by SQLite itself (the machine's tests run as root, which file permissions do not stop)."""
    from include.catalog import CatalogUnavailable

    with pytest.raises(CatalogUnavailable, match="cannot be written: give the user Airflow runs as write access") as e:
        open_catalog(None, f"sqlite:///file:{good_catalog}?mode=ro&uri=true")
    assert str(good_catalog) in str(e.value)


def test_a_catalog_locked_by_another_writer_fails_within_its_bounds(tmp_path, monkeypatch):
    from include.catalog import CatalogUnavailable
    from include.clients import catalog as catalog_db

    monkeypatch.setattr(catalog_db, "SQLITE_BUSY_TIMEOUT_S", 0.2)
    path = tmp_path / "catalog.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("create table held (x)")
    other.execute("begin exclusive")  # another process's writer, holding the lock
    t0 = time.monotonic()
    try:
        with pytest.raises(CatalogUnavailable, match="another process holds its write lock") as err:
            open_catalog(path)
    finally:
        other.execute("rollback")
        other.close()
    assert time.monotonic() - t0 < 15  # three attempts of 0.2 s, 1 s and 2 s apart
    assert f"SQLite file {path}" in str(err.value) and "database is locked" in str(err.value)


def healthy_report(run_id: str):
    from include.report import Report

    end = datetime(2026, 5, 4, 7, 30, tzinfo=UTC)
    row = {"target": "box", "kind": "host", "status": "ok", "findings": [], "metrics": {}, "details": {}}
    return Report.build("daily_health_check", "t", run_id, end - timedelta(days=1), end, [{**row, "duration_s": 0}])


def test_a_report_folder_that_cannot_be_written_still_records_alerts_and_fails(tmp_path, capfd, caplog):
    from include.catalog import Catalog
    from include.inventory import load_inventory
    from include.publish import publish

    inventory = load_inventory(
        write_inventory(
            tmp_path,
            """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        targets:
          - {name: box, kind: host}
    """,
        )
    )
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "reports").write_text("a file where the reports folder should be\n")
    with pytest.raises(RuntimeError, match="publishing failed: write the report: .*Error") as err:
        publish(healthy_report("manual__unwritable"), inventory)  # healthy: alerted all the same
    assert "reports" in str(err.value)
    recorded = Catalog.for_inventory(inventory).runs("daily_health_check")
    assert [(r["run_id"], r["report_uri"]) for r in recorded] == [("manual__unwritable", None)]
    out, err = capfd.readouterr()
    logged = "\n".join([out, err, caplog.text])  # structlog prints; the records reach caplog too
    assert "alert logged only" in logged and "HEALTHY (0 reason(s)) — publishing failed" in logged
    assert "- write the report: " in logged and "Full report: (not written)" in logged


def test_the_daily_check_with_a_damaged_catalog_checks_reports_alerts_and_fails(
    airflow_db, tmp_path, monkeypatch, no_retries, capfd, caplog
):
    inv = write_inventory(
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        targets:
          - {name: box, kind: host}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inv))
    (tmp_path / "catalog.db").write_bytes(b"garbage, not SQLite\n" * 100)
    run = load_dag("daily_health_check").test(logical_date=datetime(2026, 5, 4, tzinfo=UTC))
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()}
    assert states["check_targets"] == "success"  # the host was checked, without the previous values
    assert run.state == "failed"
    report = json.loads(next((tmp_path / "artifacts").rglob("report.json")).read_text())
    box = next(r for r in report["results"] if r["target"] == "box")
    assert box["metrics"]["host.disk_pct[/]"] > 0 and "unreachable" not in json.dumps(box["findings"])
    assert "no previous run recorded" in box["details"]["oom_kills"]  # measured, without the previous values
    out, err = capfd.readouterr()
    text = "\n".join([out, err, caplog.text])
    assert f"catalog SQLite file {tmp_path / 'catalog.db'} cannot be used: file is not a database" in text
    assert "— publishing failed" in text and "- record in the catalog: CatalogUnavailable" in text  # the alert


def test_the_backup_with_a_damaged_catalog_still_reports_alerts_and_fails(
    airflow_db, tmp_path, monkeypatch, no_retries, capfd, caplog
):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.yaml").write_text("a: 1\n")
    inv = write_inventory(
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        targets:
          - {name: conf, kind: files, paths: [conf]}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inv))
    (tmp_path / "catalog.db").write_bytes(b"garbage, not SQLite\n" * 100)
    run = load_dag("backup").test(logical_date=datetime(2026, 5, 4, tzinfo=UTC))
    assert run.state == "failed"
    report = json.loads(next((tmp_path / "artifacts").rglob("report.json")).read_text())
    row = next(r for r in report["results"] if r["target"] == "conf")
    assert row["status"] == "critical" and "catalog that would say why cannot be used" in json.dumps(row)
    out, err = capfd.readouterr()
    text = "\n".join([out, err, caplog.text])
    assert f"catalog SQLite file {tmp_path / 'catalog.db'} cannot be used: file is not a database" in text
    assert "— publishing failed" in text and "- record in the catalog: CatalogUnavailable" in text
