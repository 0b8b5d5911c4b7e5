"""Runs whose work failed end failed (red in the grid), after their report is written.

Through ``dag.test()`` on real services: a backup with one target on a closed port, a verification
of a set id the catalog does not know, a daily check whose verdict is critical (a target on a closed
port) with ``defaults.fail_run_on`` at its default and at ``never``; and the MySQL backup of a target
that lists no database (every non-system database of the server is dumped).
"""

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import free_port, load_dag, mysql_run, task_states, use_inventory, write_inventory

LOGICAL = datetime(2026, 4, 2, 2, 0, tzinfo=UTC)


def only_report(tmp_path, routine: str) -> dict:
    reports = list((tmp_path / "artifacts" / "reports" / routine).rglob("report.json"))
    assert len(reports) == 1, reports
    return json.loads(reports[0].read_text())


@pytest.fixture
def no_retries(monkeypatch):
    """The failure under test is final; a retry (one minute later in production) would only slow the test."""
    from include import dag_defaults

    monkeypatch.setitem(dag_defaults.DEFAULT_ARGS, "retries", 0)


def test_a_failed_backup_target_fails_the_run_after_the_report(airflow_db, tmp_path, monkeypatch, no_retries, caplog):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.yaml").write_text("a: 1\n")
    use_inventory(
        monkeypatch,
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        targets:
          - {name: conf, kind: files, paths: [conf]}
          - {name: maria-down, kind: mysql, conn_id: rf_down, databases: [shop], timeout_seconds: 2}
    """,
    )
    monkeypatch.setenv("AIRFLOW_CONN_RF_DOWN", f"mysql://root@127.0.0.1:{free_port()}/")

    run = load_dag("backup").test(logical_date=LOGICAL)

    assert run.state == "failed"
    states = task_states(run)
    assert states["write_report"][0] == "failed"
    report = only_report(tmp_path, "backup")  # written before the run failed
    by = {r["target"]: r for r in report["results"]}
    assert by["conf"]["status"] == "ok"
    assert by["maria-down"]["status"] == "critical"
    assert report["summary"]["status"] == "critical"
    assert "maria-down" in caplog.text and "fail_run_on: critical" in caplog.text


def test_verifying_an_unknown_set_fails_the_run(airflow_db, tmp_path, monkeypatch, no_retries, caplog):
    use_inventory(
        monkeypatch,
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        targets:
          - {name: conf, kind: files, paths: [conf]}
    """,
    )

    run = load_dag("verify_backups").test(logical_date=LOGICAL, run_conf={"set_ids": ["conf-19990101T000000Z"]})

    assert run.state == "failed"
    report = only_report(tmp_path, "verify_backups")
    [row] = report["results"]
    assert row["target"] == "conf-19990101T000000Z" and row["status"] == "critical"
    assert "no backup set conf-19990101T000000Z in the catalog" in caplog.text


@pytest.mark.parametrize("fail_run_on, state", [(None, "failed"), ("never", "success")])
def test_a_critical_daily_verdict_fails_the_run_unless_never(
    airflow_db, tmp_path, monkeypatch, caplog, fail_run_on, state
):
    defaults = f"defaults: {{fail_run_on: {fail_run_on}}}" if fail_run_on else ""
    use_inventory(
        monkeypatch,
        tmp_path,
        f"""
        catalog: {{path: catalog.db}}
        artifacts: {{base: artifacts}}
        {defaults}
        targets:
          - {{name: pg-down, kind: postgres, conn_id: rf_pg_down, timeout_seconds: 2}}
    """,
    )
    monkeypatch.setenv("AIRFLOW_CONN_RF_PG_DOWN", f"postgresql://postgres@127.0.0.1:{free_port()}/x")
    logical = LOGICAL + timedelta(days=1 if fail_run_on else 2)

    run = load_dag("daily_health_check").test(logical_date=logical, run_conf={"alert": False})

    assert run.state == state
    report = only_report(tmp_path, "daily_health_check")
    assert report["summary"]["status"] == "critical"
    states = task_states(run)
    assert states["write_report"] == (state, 1)  # a verdict is not retried: it would not change
    if state == "failed":
        assert "pg-down" in caplog.text and "run fails (fail_run_on: critical)" in caplog.text


def test_a_critical_weekly_verdict_fails_the_run_after_its_report(airflow_db, tmp_path, monkeypatch, capfd, caplog):
    """The weekly maintenance of a PostgreSQL target on a closed port, ``fail_run_on`` at its default: the run is
    red, its report (critical) is written first, and the failing task's log names the target and why."""
    use_inventory(
        monkeypatch,
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        targets:
          - {name: pg-down, kind: postgres, conn_id: rf_wk_down, timeout_seconds: 2, weekly: {connect_timeout_s: 2}}
    """,
    )
    monkeypatch.setenv("AIRFLOW_CONN_RF_WK_DOWN", f"postgresql://postgres@127.0.0.1:{free_port()}/x")

    run = load_dag("weekly_maintenance").test(
        logical_date=LOGICAL + timedelta(days=3), run_conf={"concerns": ["postgres"]}
    )

    assert run.state == "failed"
    report = only_report(tmp_path, "weekly_maintenance")
    assert report["summary"]["status"] == "critical"
    assert task_states(run)["write_report"] == ("failed", 1)
    logs = "".join(capfd.readouterr()) + caplog.text  # dag.test() runs the tasks here: their log is in either
    assert "pg-down" in logs and "run fails (fail_run_on: critical)" in logs


def test_run_failure_follows_the_level(tmp_path):
    from include.publish import run_failure
    from include.report import Report

    def report(status: str, fail_run_on: str | None):
        rows = [
            {
                "target": "t",
                "kind": "host",
                "status": status,
                "findings": [{"level": status, "message": "disk 91% used"}],
                "metrics": {},
                "details": {},
                "duration_s": 0,
            }
        ]
        return Report.build("daily_health_check", "x", "r1", LOGICAL, LOGICAL, rows, fail_run_on=fail_run_on)

    assert run_failure(report("warning", "critical")) is None
    assert "t: disk 91% used" in str(run_failure(report("warning", "warning")))
    assert run_failure(report("critical", "never")) is None
    assert run_failure(report("critical", None)) is None  # routines without the setting: only outcomes fail
    round_tripped = Report.from_dict(report("critical", "critical").to_dict())
    assert run_failure(round_tripped) is not None


def test_fail_run_on_is_validated(tmp_path):
    from include.inventory import InventoryError, load_inventory

    path = write_inventory(
        tmp_path,
        """
        defaults: {fail_run_on: sometimes}
        targets:
          - {name: box, kind: host}
    """,
    )
    with pytest.raises(InventoryError, match="defaults.fail_run_on.*'sometimes'"):
        load_inventory(path)


@pytest.fixture
def mysql_user_with_two_databases():
    """A user who sees exactly two databases of its own (the shared server holds others' too)."""
    stamp = f"{int(time.time() * 1000) % 10**9}"
    user, dbs = f"aegis_all_{stamp}", [f"aegis_all_{stamp}_a", f"aegis_all_{stamp}_b"]
    for db in dbs:
        mysql_run(
            f"CREATE DATABASE `{db}`",
            f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)",
            f"INSERT INTO `{db}`.t VALUES (1), (2)",
        )
    mysql_run(
        f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-all'",
        f"CREATE USER '{user}'@'localhost' IDENTIFIED BY 'pw-all'",
        *(f"GRANT ALL ON `{db}`.* TO '{user}'@'{h}'" for db in dbs for h in ("%", "localhost")),
    )
    yield user, dbs
    mysql_run(
        *(f"DROP DATABASE IF EXISTS `{db}`" for db in dbs),
        f"DROP USER IF EXISTS '{user}'@'%'",
        f"DROP USER IF EXISTS '{user}'@'localhost'",
    )


def test_mysql_backup_without_listed_databases_dumps_every_user_database(tmp_path, mysql_user_with_two_databases):
    from include.backup import mysql
    from include.inventory import load_inventory
    from include.targets import Endpoint

    user, dbs = mysql_user_with_two_databases
    target = load_inventory(
        write_inventory(
            tmp_path,
            """
        targets:
          - {name: maria, kind: mysql, conn_id: x}
    """,
        )
    ).target("maria")
    endpoint = Endpoint(host="127.0.0.1", port=3306, login=user, password="pw-all")
    workdir = tmp_path / "work"
    workdir.mkdir()

    result = mysql.dump(target, endpoint, workdir)

    assert sorted(result.facts["databases"]) == dbs  # no information_schema, no mysql
    assert result.facts["databases"][dbs[0]] == {"tables": {"t": 2}}
    assert sorted(p.name for p in workdir.iterdir()) == [f"{db}.sql.gz" for db in dbs]


def test_two_runs_in_the_same_second_keep_two_reports_and_two_catalog_entries(tmp_path):
    """Two manual triggers in one second share the interval end (cut to seconds) but not the run id."""
    import sqlalchemy as sa

    from include.catalog import Catalog
    from include.inventory import load_inventory
    from include.publish import AlertWhen, publish
    from include.report import Report

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
    end = datetime(2026, 5, 4, 7, 30, 12, tzinfo=UTC)

    def run(run_id: str, disk_pct: float) -> dict[str, str]:
        rows = [
            {
                "target": "box",
                "kind": "host",
                "status": "ok",
                "findings": [],
                "metrics": {"host.disk_pct[/]": disk_pct},
                "details": {},
                "duration_s": 0,
            }
        ]
        report = Report.build("daily_health_check", "t", run_id, end - timedelta(days=1), end, rows)
        return publish(report, inventory, alert=AlertWhen.NEVER, record_metrics=True)

    a = run("manual__2026-05-04T07:30:12.101010+00:00", 40.0)
    b = run("manual__2026-05-04T07:30:12.909090+00:00", 60.0)
    a_again = run("manual__2026-05-04T07:30:12.101010+00:00", 41.0)  # a retry of A replaces A's own

    assert a["json"] != b["json"] and a_again["json"] == a["json"]
    by_run = {json.loads(Path(p["json"].removeprefix("file://")).read_text())["run_id"]: p for p in (a, b)}
    assert len(by_run) == 2
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    with engine.connect() as c:
        runs = c.execute(sa.text("select run_id, report_uri from aegis_check_runs order by run_id")).all()
        values = dict(c.execute(sa.text("select run_id, value from aegis_metrics")).all())
    assert [r.run_id for r in runs] == sorted(by_run) and {r.report_uri for r in runs} == {a["html"], b["html"]}
    assert values == {
        "manual__2026-05-04T07:30:12.101010+00:00": 41.0,
        "manual__2026-05-04T07:30:12.909090+00:00": 60.0,
    }
    assert len(Catalog.for_inventory(inventory).runs("daily_health_check")) == 2
