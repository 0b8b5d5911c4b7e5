"""dag.test() of the daily health check against states created for real on the local services.

Created: an idle-in-transaction PostgreSQL session held open, a MariaDB query
running longer than the threshold, a Redis over its memory threshold, a target
on a closed port, a target that accepts but never answers, and a log file with
known errors inside and outside the run's data interval. The run must succeed
and its report must say exactly that.
"""

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import MySQLdb
import psycopg
import pytest
import redis
import sqlalchemy as sa

from tests.helpers import free_port, load_dag, task_states, use_inventory, write_inventory

LOGICAL = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)  # a backfilled interval: [03-09 00:00, 03-10 00:00)


def fill_redis_past(port: int, pct: float) -> None:
    """Set a small maxmemory and write data until used memory passes ``pct`` of it."""
    r = redis.Redis(port=port)
    r.config_set("maxmemory", 4 * 2**20)
    i = 0
    while 100.0 * r.info("memory")["used_memory"] / (4 * 2**20) < pct:
        r.set(f"aegis-test:fill:{i}", b"x" * 20_000)
        i += 1


def write_logs(folder: Path) -> None:
    folder.mkdir()
    inside = LOGICAL - timedelta(hours=12)
    lines = [
        f"{(LOGICAL - timedelta(hours=30)):%Y-%m-%dT%H:%M:%S} ERROR too old to count (order 1)",
        f"{inside:%Y-%m-%dT%H:%M:%S} INFO fine",
        f"{inside:%Y-%m-%dT%H:%M:%S} ERROR payment gateway timeout after 30s (order 1234)",
        f"{inside + timedelta(minutes=1):%Y-%m-%dT%H:%M:%S} ERROR payment gateway timeout after 31s (order 99)",
        "    at gateway.call(Gateway.java:42)",
        f"{inside + timedelta(minutes=2):%Y-%m-%d %H:%M:%S} ERROR cache miss storm on key 'user:42'",
        f"{(LOGICAL + timedelta(hours=1)):%Y-%m-%dT%H:%M:%S} ERROR after the interval: not this run's",
    ]
    (folder / "game.log").write_text("\n".join(lines) + "\n")


@pytest.fixture
def sick_world(tmp_path, monkeypatch, pg_database, redis_server, silent_server):
    """Real sick states on real services, and an inventory that points at them."""
    write_logs(tmp_path / "logs")
    closed_port = free_port()
    inventory = write_inventory(
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        defaults: {timeout_seconds: 3, fail_run_on: never}  # the verdict is critical on purpose
        targets:
          - {name: pg, kind: postgres, conn_id: t_pg, tags: [db]}
          - {name: maria, kind: mysql, conn_id: t_maria, tags: [db]}
          - {name: cache, kind: redis, conn_id: t_cache, tags: [cache], latency_samples: 5}
          - {name: pg-down, kind: postgres, conn_id: t_pg_down, tags: [db]}
          - {name: cache-hung, kind: redis, conn_id: t_cache_hung, tags: [cache], timeout_seconds: 2}
          - {name: game-logs, kind: log_source, tags: [logs], paths: ["logs/*.log"]}
          - {name: box, kind: host, tags: [host], mounts: ["/"]}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inventory))
    monkeypatch.setenv("AIRFLOW_CONN_T_PG", f"postgresql://postgres@127.0.0.1:5432/{pg_database}")
    monkeypatch.setenv("AIRFLOW_CONN_T_MARIA", "mysql://root@127.0.0.1:3306/")
    monkeypatch.setenv("AIRFLOW_CONN_T_CACHE", f"redis://127.0.0.1:{redis_server}/0")
    monkeypatch.setenv("AIRFLOW_CONN_T_PG_DOWN", f"postgresql://postgres:s3cret-never-logged@127.0.0.1:{closed_port}/x")
    monkeypatch.setenv("AIRFLOW_CONN_T_CACHE_HUNG", f"redis://127.0.0.1:{silent_server}/0")

    idle = psycopg.connect(host="127.0.0.1", user="postgres", dbname=pg_database)
    idle.execute("select 1")  # opens a transaction and leaves it open: idle in transaction
    slow = MySQLdb.connect(host="127.0.0.1", user="root")
    slow_id = slow.thread_id()
    sleeper = threading.Thread(target=lambda: slow.cursor().execute("SELECT SLEEP(120)"), daemon=True)
    sleeper.start()
    fill_redis_past(redis_server, 92)
    time.sleep(2.5)  # the transaction and the query are now older than the 1 s thresholds of the run
    yield tmp_path
    idle.close()
    killer = MySQLdb.connect(host="127.0.0.1", user="root")
    killer.cursor().execute("KILL QUERY %s", (slow_id,))
    killer.close()
    sleeper.join(10)
    slow.close()


def test_report_reflects_the_real_states_and_the_run_succeeds(airflow_db, sick_world):
    dag = load_dag("daily_health_check")
    started = time.monotonic()
    run = dag.test(
        logical_date=LOGICAL,
        run_conf={
            "thresholds": {"long_transaction_warning_s": 1, "long_query_s": 1},
            "alert": True,
        },
    )
    elapsed = time.monotonic() - started
    assert run.state == "success"

    report_dir = (
        sick_world
        / "artifacts"
        / "reports"
        / "daily_health_check"
        / "2026-03-10T000000Z"
        / run.run_id.replace(":", "_").replace("+", "_")
    )
    report = json.loads((report_dir / "report.json").read_text())
    assert {p.name for p in report_dir.iterdir()} == {"report.json", "report.md", "report.html"}
    by = {r["target"]: r for r in report["results"]}

    assert report["summary"]["status"] == "critical"
    assert report["interval"] == ["2026-03-09T00:00:00+00:00", "2026-03-10T00:00:00+00:00"]

    pg = by["pg"]
    assert pg["status"] == "warning"
    assert pg["metrics"]["pg.idle_in_transaction"] >= 1
    assert any("idle in transaction" in f["message"] for f in pg["findings"])

    maria = by["maria"]
    assert maria["metrics"]["mysql.long_queries"] >= 1
    assert any("SLEEP(?)" in f["message"] for f in maria["findings"])  # the statement, its literals redacted
    assert not any("SLEEP(120)" in f["message"] for f in maria["findings"])

    cache = by["cache"]
    assert cache["status"] == "critical"
    assert cache["metrics"]["redis.memory_pct"] >= 90
    assert any("maxmemory" in f["message"] for f in cache["findings"])

    assert by["pg-down"]["status"] == "unreachable"
    assert by["pg-down"]["duration_s"] < 5
    assert by["cache-hung"]["status"] == "unreachable"
    assert by["cache-hung"]["duration_s"] < 5  # bounded by its 2 s timeout, not hung

    logs = by["game-logs"]
    assert logs["metrics"]["logs.errors"] == 3  # only the three inside [03-09, 03-10)
    top = logs["details"]["top_signatures"][0]
    assert (top["signature"], top["count"]) == ("payment gateway timeout after <n>s (order <n>)", 2)

    assert by["box"]["status"] in {"ok", "warning", "critical"}
    assert "host.disk_pct[/]" in by["box"]["metrics"]

    md = (report_dir / "report.md").read_text()
    html = (report_dir / "report.html").read_text()
    for text in (md, html, json.dumps(report)):
        assert "s3cret-never-logged" not in text
        assert "cache-hung" in text and "CRITICAL".lower() in text.lower()

    engine = sa.create_engine(f"sqlite:///{sick_world / 'catalog.db'}")
    with engine.connect() as c:
        runs = c.execute(sa.text("select status, interval_end from aegis_check_runs")).all()
        metric = c.execute(
            sa.text("select value from aegis_metrics where target='game-logs' and metric='logs.errors'")
        ).scalar()
    assert runs == [("critical", "2026-03-10T00:00:00Z")]
    assert metric == 3
    assert elapsed < 120


#: The targets' metric rows (not Aegis's own, recorded by publish and not by these re-recordings).
TARGET_METRICS = "select count(*) from aegis_metrics where target != 'aegis'"


def test_recording_the_same_run_again_replaces_instead_of_adding(airflow_db, sick_world):
    dag = load_dag("daily_health_check")
    conf = {"targets": ["game-logs", "box"], "alert": False}
    assert dag.test(logical_date=LOGICAL, run_conf=conf).state == "success"
    first = json.loads(next((sick_world / "artifacts").rglob("report.json")).read_text())
    assert {r["target"] for r in first["results"]} == {"game-logs", "box"}
    engine = sa.create_engine(f"sqlite:///{sick_world / 'catalog.db'}")
    with engine.connect() as c:
        count_before = c.execute(sa.text(TARGET_METRICS)).scalar()
        # the run's own duration (pseudo-target ``aegis``) is recorded by publish beside the targets' metrics
        assert c.execute(sa.text("select metric from aegis_metrics where target = 'aegis'")).scalars().all() == [
            "aegis.daily_health_check.duration_s"
        ]
    # Same interval again (a retry / a second backfill): same rows, not twice as many.
    from include.catalog import Catalog
    from include.inventory import load_inventory

    catalog = Catalog.for_inventory(load_inventory())
    catalog.record_check_run(
        "daily_health_check",
        LOGICAL,
        first["run_id"],
        first["summary"]["status"],
        None,
        first["summary"],
        first["results"],
    )
    with engine.connect() as c:
        assert c.execute(sa.text(TARGET_METRICS)).scalar() == count_before
        assert c.execute(sa.text("select count(*) from aegis_check_runs")).scalar() == 1
    # another run of the same interval (a second manual trigger) is a record of its own
    catalog.record_check_run(
        "daily_health_check", LOGICAL, "another", first["summary"]["status"], None, first["summary"], first["results"]
    )
    with engine.connect() as c:
        assert c.execute(sa.text(TARGET_METRICS)).scalar() == 2 * count_before
        assert c.execute(sa.text("select count(*) from aegis_check_runs")).scalar() == 2


def test_a_wrong_form_fails_at_once_and_is_not_retried(airflow_db, tmp_path, monkeypatch):
    """An unknown threshold in the trigger form is refused by select_targets on its first try:
    bad input does not get better a minute later, so it must not be retried (retries: 1); the run's
    report says it was refused and why, never a verdict over nothing."""
    use_inventory(
        monkeypatch,
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        targets:
          - {name: box, kind: host}
    """,
    )
    dag = load_dag("daily_health_check")
    run = dag.test(
        logical_date=LOGICAL + timedelta(days=30), run_conf={"thresholds": {"disk_warnign_pct": 70}, "alert": False}
    )
    assert run.state == "failed"
    states = task_states(run)
    # neither the refused form nor the verdict over nothing waits a minute for a retry
    assert states["select_targets"] == ("failed", 1)
    assert states["evaluate_health"] == ("failed", 1)
    [report] = [json.loads(p.read_text()) for p in tmp_path.rglob("report.json")]
    assert report["outcome"] == "refused" and report["summary"]["status"] == "critical", report
    assert [r["target"] for r in report["results"]] == ["(trigger form)"]  # nothing reported as if checked
    assert "unknown threshold override(s) ['disk_warnign_pct']" in report["results"][0]["details"]["reason"]
