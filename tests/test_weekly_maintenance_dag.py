"""dag.test() of the weekly maintenance against real services and an inventory written in tmp_path.

The world: a PostgreSQL database with a bloated and a clean table, a private redis-server with idle
keys without a TTL under the seeds' patterns (and keys that must stay), a log folder with old and
recent compressed logs, a MariaDB table with expired sessions, a PostgreSQL target on a closed port,
and a catalog holding two weeks of daily metrics. The first run is a dry run (the form's default):
VACUUM still runs, nothing is deleted. The second, in earnest for the cache, the logs and MySQL,
deletes exactly the idle keys, the archived old log and the expired rows. Both runs succeed; the
down target is reported unreachable. The whole test runs on Python's clock moved to calendar edges
(``edge_clock``): rows and file ages are built from it and the run's cut-offs come from it.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import redis
import sqlalchemy as sa
import time_machine

from include.catalog import Catalog
from include.clients.mysql import quote_ident as q
from tests.clock_edges import CALENDAR_EDGES
from tests.helpers import free_port, load_dag, mysql_run, task_states, use_inventory, write_inventory
from tests.test_weekly_postgres import flush_stats, make_bloated, make_clean

LOGICAL = datetime(2026, 3, 15, 0, 0, tzinfo=UTC)
IDLE = ["aegis:cache:user:1", "aegis:session:abc", "aegis:temp:upload:9"]
KEEP = ["aegis:cache:with_ttl", "app:other:1"]
OLD_GZ, RECENT_GZ = "app.log.20260101T000000Z.gz", "app.log.20260312T000000Z.gz"


@pytest.fixture(params=["31-dec", "dst-spring-berlin"])
def edge_clock(request):
    """Python's clock moved to a calendar edge and ticking from there (Airflow's dag.test needs time to pass;
    the 31-Dec edge crosses into the new year mid-run). The weekly run pins its MariaDB session's clock to
    it (include/weekly/mysql/session.py), and the rows and file times below are built from it."""
    when = CALENDAR_EDGES[request.param]
    with time_machine.travel(when, tick=True):
        yield when


@pytest.fixture
def maria_database(edge_clock):
    """A MariaDB database whose sessions table has 20 rows older than 30 days and 5 recent ones (relative to
    the moved clock, not the server's); dropped after."""
    name = f"aegis_wkdag_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    mysql_run(f"CREATE DATABASE {q(name)}")
    t = f"{q(name)}.{q('sessions')}"
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    mysql_run(f"CREATE TABLE {t} (id INT AUTO_INCREMENT PRIMARY KEY, created DATETIME NOT NULL)")
    mysql_run(
        f"INSERT INTO {t} (created) SELECT %s - INTERVAL 40 DAY - INTERVAL seq MINUTE FROM {q(name)}.seq_1_to_20",
        f"INSERT INTO {t} (created) SELECT %s - INTERVAL seq HOUR FROM {q(name)}.seq_1_to_5",
        args=(now,),
    )
    yield name
    mysql_run(f"DROP DATABASE IF EXISTS {q(name)}")


def session_rows(db: str) -> int:
    return mysql_run(f"SELECT COUNT(*) FROM {q(db)}.{q('sessions')}")[0][0]


@pytest.fixture
def weekly_world(tmp_path, monkeypatch, pg_database, redis_server, maria_database):
    """Real states on real services, a catalog with two weeks of metrics, and an inventory pointing at them."""
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=pg_database, autocommit=True) as c:
        make_bloated(c, "public", "bloated")
        make_clean(c, "public", "clean")
        flush_stats(c, {("public", "bloated"): 1500, ("public", "clean"): 0})
    client = redis.Redis(port=redis_server, socket_timeout=5)
    client.set("aegis:cache:user:1", "x" * 500)
    client.hset("aegis:session:abc", mapping={"user": "1"})
    client.rpush("aegis:temp:upload:9", *range(50))
    client.set("aegis:cache:with_ttl", "v", ex=3600)
    client.set("app:other:1", "v")
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text("2026-03-14T10:00:00 INFO started\n" * 100)
    for name, days in ((OLD_GZ, 40), (RECENT_GZ, 2)):  # compressed by an earlier rotation
        with gzip.open(logs / name, "wt") as f:
            f.write("old lines\n")
        os.utime(logs / name, (time.time() - days * 86400,) * 2)
    inventory = write_inventory(
        tmp_path,
        f"""
        catalog: {{path: catalog.db}}
        artifacts: {{base: artifacts}}
        defaults: {{timeout_seconds: 3, fail_run_on: never}}  # a down server on purpose: critical
        targets:
          - name: pg
            kind: postgres
            conn_id: t_pg
            tags: [db]
            weekly: {{dead_tuples_min: 100, analyze_mod_min: 100, connect_timeout_s: 3, max_seconds: 60}}
          - {{name: pg-down, kind: postgres, conn_id: t_pg_down, tags: [db], weekly: {{connect_timeout_s: 2}}}}
          - {{name: cache, kind: redis, conn_id: t_cache, tags: [cache], weekly: {{idle_seconds: 2, max_seconds: 30}}}}
          - {{name: app-logs, kind: log_source, tags: [logs], paths: ["logs/*.log"]}}
          - name: maria
            kind: mysql
            conn_id: t_maria
            databases: [{maria_database}]
            weekly:
              purge: [{{table: {maria_database}.sessions, column: created, older_than_days: 30, batch_size: 8}}]
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inventory))
    monkeypatch.setenv("AIRFLOW_CONN_T_PG", f"postgresql://postgres@127.0.0.1:5432/{pg_database}")
    monkeypatch.setenv("AIRFLOW_CONN_T_PG_DOWN", f"postgresql://postgres:s3cret-never-logged@127.0.0.1:{free_port()}/x")
    monkeypatch.setenv("AIRFLOW_CONN_T_CACHE", f"redis://127.0.0.1:{redis_server}/0")
    monkeypatch.setenv("AIRFLOW_CONN_T_MARIA", "mysql://root@127.0.0.1:3306/")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    for days, connections in ((8, 10), (1, 30)):  # previous week 10 connections, this week 30
        catalog.record_check_run(
            "daily_health_check",
            LOGICAL - timedelta(days=days),
            f"d{days}",
            "healthy",
            None,
            {},
            [{"target": "pg", "kind": "postgres", "metrics": {"pg.connections": connections, "pg.xid_age": 1000}}],
        )
    time.sleep(3)  # the keys are now idle longer than idle_seconds
    yield {"tmp": tmp_path, "db": pg_database, "redis": client, "maria": maria_database}
    client.close()


def dead_tuples(db: str) -> dict[str, int]:
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=db) as c:
        return dict(c.execute("select relname, n_dead_tup from pg_stat_user_tables").fetchall())


def load_report(tmp) -> tuple[dict, dict]:
    intervals = list((tmp / "artifacts" / "reports" / "weekly_maintenance").iterdir())
    assert len(intervals) == 1, intervals  # one folder per interval, one per run inside it
    newest = max(intervals[0].iterdir(), key=lambda p: (p / "report.json").stat().st_mtime)
    assert {p.name for p in newest.iterdir()} == {"report.json", "report.md", "report.html"}
    report = json.loads((newest / "report.json").read_text())
    texts = {p.suffix: p.read_text() for p in newest.iterdir()}
    return report, texts


def rows(report: dict, concern: str) -> dict[str, dict]:
    return {r["target"]: r for r in report["results"] if r["concern"] == concern}


def test_weekly_run_dry_run_then_in_earnest(airflow_db, weekly_world):
    tmp, db, client, maria = weekly_world["tmp"], weekly_world["db"], weekly_world["redis"], weekly_world["maria"]
    dag = load_dag("weekly_maintenance")
    assert dag.params["dry_run"] is True

    started = time.monotonic()
    run = dag.test(logical_date=LOGICAL, run_conf={"alert": True})
    elapsed = time.monotonic() - started
    assert run.state == "success"
    report, texts = load_report(tmp)
    assert report["dry_run"] is True

    # PostgreSQL: VACUUM runs even in a dry run, on the bloated table only; the down server is a result.
    pg = rows(report, "postgres")
    assert pg["pg"]["status"] in ("ok", "warning"), pg["pg"]["findings"]
    tables = {t["table"]: t for t in pg["pg"]["details"]["tables"]}
    assert set(tables) == {"bloated"} and tables["bloated"]["action"] == "done"
    assert dead_tuples(db)["bloated"] == 0
    assert pg["pg"]["metrics"]["pg.vacuum.tables"] == 1
    assert pg["pg-down"]["status"] == "unreachable" and pg["pg-down"]["duration_s"] < 10

    # Redis: the idle keys without a TTL are found and measured, and nothing is deleted.
    cache = rows(report, "redis")["cache"]
    assert cache["metrics"]["redis.cleanup.matched_keys"] == len(IDLE)
    assert cache["metrics"]["redis.cleanup.deleted_keys"] == 0
    assert sorted(client.keys("*")) == sorted(k.encode() for k in IDLE + KEEP)

    # MySQL: the expired sessions are counted, not deleted.
    [purge] = rows(report, "mysql")["maria"]["details"]["purge"]
    assert (purge["expired"], purge["deleted"], purge["action"]) == (20, 0, "would do")
    assert session_rows(maria) == 25

    # Logs: a dry run only reads: the live log is not rotated, the old .gz not archived, both only listed.
    logs = rows(report, "logs")["app-logs"]
    steps = {(r["step"], os.path.basename(r["file"])): r for r in logs["details"]["files"]}
    assert steps[("rotate", "app.log")]["action"] == "would do" and (tmp / "logs" / "app.log").stat().st_size > 0
    assert steps[("archive", OLD_GZ)]["action"].startswith("would do")
    assert (tmp / "logs" / OLD_GZ).exists() and (tmp / "logs" / RECENT_GZ).exists()
    assert not list((tmp / "artifacts" / "logs").rglob(OLD_GZ))

    # Security: this machine's PostgreSQL trusts local logins, the private Redis has no password.
    security = rows(report, "security")
    assert any("uses trust" in f["message"] and f["level"] == "critical" for f in security["pg"]["findings"])
    assert any("without a password" in f["message"] for f in security["cache"]["findings"])
    assert security["pg-down"]["status"] == "unreachable"
    assert "skipped" in security["airflow-environment"]["details"]["note"]
    # Aegis itself: the standalone's SimpleAuthManager (generated passwords, no per-DAG roles) is a finding
    assert any(
        "SimpleAuthManager" in f["message"] and "Fix:" in f["message"]
        for f in security["airflow-configuration"]["findings"]
    ), security["airflow-configuration"]

    # Trends: 10 → 30 connections week over week is flagged; the flat xid age is not.
    trend = rows(report, "trends")["pg"]
    changes = {c["metric"]: c for c in trend["details"]["changes"]}
    assert changes["pg.connections"]["flagged"] and changes["pg.connections"]["change_pct"] == 200
    assert not changes["pg.xid_age"]["flagged"]
    assert set(rows(report, "trends")) == {"pg", "pg-down", "cache", "app-logs", "maria"}

    assert report["summary"]["status"] == "critical"
    for text in texts.values():
        assert "s3cret-never-logged" not in text
        for section in ("Database optimisation", "Cache", "Security", "Trends"):
            assert section in text
    assert "dry run" in texts[".md"] and "bloated: done" in texts[".md"]

    engine = sa.create_engine(f"sqlite:///{tmp / 'catalog.db'}")
    with engine.connect() as c:
        runs = c.execute(sa.text("select status from aegis_check_runs where routine = 'weekly_maintenance'")).all()
        vacuumed = c.execute(
            sa.text(
                "select value from aegis_metrics where routine = 'weekly_maintenance'"
                " and target = 'pg' and metric = 'pg.vacuum.tables'"
            )
        ).scalar()
    assert runs == [("critical",)] and vacuumed == 1

    # In earnest, cache and logs only: exactly the idle keys without a TTL under the patterns go, and the
    # archived old log is deleted locally; the recent one stays (within archive_after_days).
    run = dag.test(
        logical_date=LOGICAL, run_conf={"dry_run": False, "concerns": ["redis", "logs", "mysql"], "alert": False}
    )
    assert run.state == "success"
    assert session_rows(maria) == 5
    assert sorted(client.keys("*")) == sorted(k.encode() for k in KEEP)
    assert not (tmp / "logs" / OLD_GZ).exists() and (tmp / "logs" / RECENT_GZ).exists()
    archived = list((tmp / "artifacts" / "logs" / "app-logs").rglob(OLD_GZ))
    assert len(archived) == 1
    assert (tmp / "logs" / "app.log").stat().st_size == 0  # rotated in earnest
    report, _ = load_report(tmp)
    assert report["dry_run"] is False
    assert {r["concern"] for r in report["results"]} == {"redis", "logs", "mysql"}
    assert rows(report, "mysql")["maria"]["details"]["purge"][0]["deleted"] == 20
    assert rows(report, "redis")["cache"]["metrics"]["redis.cleanup.deleted_keys"] == len(IDLE)
    with engine.connect() as c:  # a second run of the same interval is a record of its own (keyed by run id)
        assert (
            c.execute(sa.text("select count(*) from aegis_check_runs where routine = 'weekly_maintenance'")).scalar()
            == 2
        )
    print(f"first weekly dag.test took {elapsed:.1f}s")


def test_a_refused_form_fails_the_run_at_once_with_a_refused_report(airflow_db, tmp_path, monkeypatch):
    """A form that chooses no concern: select_targets fails on its first try (no retry), nothing is
    maintained, and the report says the form was refused and why (no "healthy" report of an empty run)."""
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
    dag = load_dag("weekly_maintenance")
    run = dag.test(logical_date=LOGICAL + timedelta(days=70), run_conf={"concerns": []})
    assert run.state == "failed"
    states = task_states(run)
    assert states["select_targets"] == ("failed", 1)
    assert states["evaluate"] == ("failed", 1)
    [report] = [json.loads(p.read_text()) for p in tmp_path.rglob("report.json")]
    assert report["outcome"] == "refused" and report["summary"]["status"] == "critical", report
    assert [r["target"] for r in report["results"]] == ["(trigger form)"]  # nothing reported as if maintained
    assert "no concern chosen" in report["results"][0]["details"]["reason"]
