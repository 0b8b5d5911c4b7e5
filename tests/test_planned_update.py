"""planned_update through dag.test(), with faults injected, on the real PostgreSQL, MariaDB, Redis and a
release folder (tmp_path), a real local HTTP service and the labelled fake Alertmanager.

Faults: a migration failing halfway (PostgreSQL and MariaDB), a post-update test failing (SQL assertion,
HTTP check), the migration's connection killed from outside (pg_terminate_backend, MariaDB KILL), the
pre-update backup failing. In every case the target's tables (columns, rows) are identical to before,
maintenance mode is off (Variable and Redis key), the silence is expired and the report names the cause.
A passing update leaves the new version in place; the other branch's tasks are skipped and the branch
task's log names the reason.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import MySQLdb
import psycopg
import pytest
import redis

from tests.content_state import my_checksums, pg_checksums, redis_state
from tests.helpers import load_dag, write_inventory

PG_SECRET = "pu-Secret-never-shown-7"
RELAXED = """thresholds: {connections_warning_pct: 99, connections_critical_pct: 100,
                          long_transaction_warning_s: 86400, long_transaction_critical_s: 172800,
                          cache_hit_warning_min_pct: 0, cache_hit_critical_min_pct: 0}"""
MY_RELAXED = """thresholds: {connections_warning_pct: 99, connections_critical_pct: 100,
                          slow_queries_growth_warning: 1000000000, slow_queries_growth_critical: 1000000000,
                          long_query_s: 100000, long_queries_critical: 1000,
                          deadlocks_warning: 1000000, deadlocks_critical: 1000000}"""
# (deadlocks are counted server-wide: on the shared MariaDB other sessions' deadlocks must not fail the retest)


def the_dag():
    return load_dag("planned_update")


def states(run) -> dict[str, str]:
    return {
        ti.task_id: str(ti.state.value if hasattr(ti.state, "value") else ti.state) for ti in run.get_task_instances()
    }


def output(capfd, caplog) -> str:
    """What the run's tasks printed and logged (dag.test() runs them in this process; no log files)."""
    out, err = capfd.readouterr()
    return out + err + caplog.text


def report_of(world, run) -> dict:
    files = list((world["tmp"] / "artifacts" / "reports" / "planned_update").rglob("report.json"))
    reports = [json.loads(p.read_text()) for p in files]
    return next(r for r in reports if r["run_id"] == run.run_id)


class ReleaseService(BaseHTTPRequestHandler):
    """A service whose /health answers from the release ``current`` points to (its ``health`` file)."""

    root: Path

    def log_message(self, *args):
        pass

    def do_GET(self):
        health = self.root / "current" / "health"
        ok = health.exists() and health.read_text().strip() == "ok"
        body = b"ok" if ok else b"broken"
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def release_app(tmp_path: Path, health_by_version: dict[str, str]) -> tuple[Path, ThreadingHTTPServer]:
    """``tmp_path/app/releases/<v>/health``, ``current`` -> the first version, and the service serving it."""
    root = tmp_path / "app"
    for version, health in health_by_version.items():
        (root / "releases" / version).mkdir(parents=True)
        (root / "releases" / version / "health").write_text(health)
    (root / "current").symlink_to(Path("releases") / next(iter(health_by_version)))
    service = ThreadingHTTPServer(("127.0.0.1", 0), type("Svc", (ReleaseService,), {"root": root}))
    service.daemon_threads = True
    threading.Thread(target=service.serve_forever, daemon=True).start()
    return root, service


@pytest.fixture
def world(tmp_path, monkeypatch, pg_database, redis_server, alertmanager_server):
    my_db = f"aegis_pu_{int(time.time() * 1000) % 10**9}"
    admin = MySQLdb.connect(host="127.0.0.1", user="root", autocommit=True)
    cur = admin.cursor()
    cur.execute(f"CREATE DATABASE `{my_db}`")
    cur.execute(f"USE `{my_db}`")
    cur.execute(f"CREATE TABLE `{my_db}`.players (id INT PRIMARY KEY, name VARCHAR(50), score INT)")
    cur.execute(f"INSERT INTO `{my_db}`.players SELECT seq, CONCAT('p', seq), seq * 7 FROM seq_1_to_2000")
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=pg_database, autocommit=True) as c:
        c.execute("create table players (id int primary key, name text, score int)")
        c.execute("insert into players select g, 'p' || g, g * 7 from generate_series(1, 5000) g")
        c.execute('create table "odd; name ""x""" (k text)')
        c.execute('insert into "odd; name ""x""" values (\'a\'), (\'b\')')
    r = redis.Redis(port=redis_server)
    for i in range(200):
        r.set(f"game:player:{i}", f"state-{i}")
    r.close()

    root, service = release_app(tmp_path, {"v1": "ok", "v2": "broken", "v3": "ok"})
    am = alertmanager_server

    inv = write_inventory(
        tmp_path,
        f"""
        catalog: {{path: catalog.db}}
        artifacts: {{base: artifacts}}
        maintenance: {{redis_conn_id: pu_cache}}
        update: {{release_roots: ["{root}"], http_hosts: [127.0.0.1]}}
        targets:
          - name: pg
            kind: postgres
            conn_id: pu_pg
            databases: [{pg_database}]
            update: {{migration_roots: ["{tmp_path}"]}}
            {RELAXED}
          - name: maria
            kind: mysql
            conn_id: pu_maria
            databases: [{my_db}]
            update: {{migration_roots: ["{tmp_path}"]}}
            {MY_RELAXED}
          - {{name: cache, kind: redis, conn_id: pu_cache}}
          - {{name: am, kind: alertmanager, conn_id: pu_am}}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inv))
    # trust auth ignores it, but every tool and driver is handed this password: it must show up nowhere
    monkeypatch.setenv("AIRFLOW_CONN_PU_PG", f"postgresql://postgres:{PG_SECRET}@127.0.0.1:5432/postgres")
    monkeypatch.setenv("AIRFLOW_CONN_PU_MARIA", "mysql://root@127.0.0.1:3306/")
    monkeypatch.setenv("AIRFLOW_CONN_PU_CACHE", f"redis://127.0.0.1:{redis_server}/0")
    monkeypatch.setenv("AIRFLOW_CONN_PU_AM", f"http://127.0.0.1:{am.port}")
    yield {
        "tmp": tmp_path,
        "pg": pg_database,
        "my": my_db,
        "redis": redis_server,
        "root": root,
        "am": am,
        "health_url": f"http://127.0.0.1:{service.server_address[1]}/health",
    }
    service.shutdown()
    cur.execute(f"DROP DATABASE IF EXISTS `{my_db}`")
    admin.close()


def migrations(tmp_path: Path, name: str, files: dict[str, str]) -> str:
    folder = tmp_path / name
    folder.mkdir()
    for filename, text in files.items():
        (folder / filename).write_text(text)
    return str(folder)


def conf(**kw) -> dict:
    return {
        "dry_run": False,
        "drain_timeout_minutes": 0.2,
        "confirm": kw.get("update_target") or kw.get("release_root"),
        **kw,
    }


def assert_left_clean(world, run) -> None:
    """Maintenance mode off (Variable and Redis key) and the run's silence created, then expired."""
    from airflow.sdk import Variable

    for target in ("pg", "maria", "cache"):
        assert Variable.get(f"aegis_maintenance.{target}", default=None) is None
    assert not list(redis.Redis(port=world["redis"]).scan_iter("aegis:maintenance:*"))
    created = world["am"].silences(run.run_id)
    assert created, "no silence was created: the 'silence gone' check would prove nothing"
    assert world["am"].active_silences(run.run_id) == []
    assert all(s["status"]["state"] == "expired" for s in created)


def assert_rolled_back(world, run, contents, before, *causes, update_state: str = "failed") -> None:
    """The rollback branch ran (promote skipped), ``contents()`` is back to ``before``, nothing is left on,
    and the report's reasons name every one of ``causes``."""
    s = states(run)
    assert run.state == "failed", s  # the update did not happen: the run says so
    assert s["apply_update"] == update_state and s["rollback"] == "success", s
    assert s["promote"] == "skipped" and s["tests_after_rollback"] == "success", s
    assert s["maintenance_off"] == "success" and s["expire_silence"] == "success", s
    assert contents() == before
    assert_left_clean(world, run)
    report = report_of(world, run)
    assert report["outcome"] == "rolled-back"
    why = json.dumps(report["summary"]["reasons"])
    assert all(cause in why for cause in causes), why


GOOD_PG = {
    "001_add_level.sql": "alter table players add column level int not null default 1;\n"
    "update players set level = 2 where id <= 10;",
    "002_add_guilds.sql": "create table guilds (id int primary key, name text);\n"
    "insert into guilds values (1, 'first');",
}


# ----------------------------------------------------------------------------------------- PostgreSQL
def test_pg_migration_failing_halfway_is_rolled_back(airflow_db, world, capfd, caplog):
    before_redis = redis_state(world["redis"])
    folder = migrations(
        world["tmp"],
        "bad",
        {
            "001_add_level.sql": GOOD_PG["001_add_level.sql"],
            "002_half.sql": "create table audit (id int);\nselect * from no_such_table;",
            "003_never.sql": "create table never_applied (id int);",
        },
    )
    before = pg_checksums(world["pg"])
    run = the_dag().test(
        run_conf=conf(update_kind="sql_migration", update_target="pg", targets=["cache"], migrations_folder=folder)
    )
    assert_rolled_back(world, run, lambda: pg_checksums(world["pg"]), before, "002_half.sql failed", "no_such_table")
    assert redis_state(world["redis"]) == before_redis  # the other affected target: flagged, drained, untouched
    text = output(capfd, caplog)
    assert "DECISION: ROLLBACK" in text
    reports = "".join(p.read_text() for p in (world["tmp"] / "artifacts" / "reports").rglob("report.*"))
    assert "pg_restore" in text or "restored" in text  # the rollback's restore ran and logged
    assert PG_SECRET not in text and PG_SECRET not in reports


def test_pg_passing_update_is_promoted_and_rollback_branch_skipped(airflow_db, world, capfd, caplog):
    folder = migrations(world["tmp"], "good", GOOD_PG)
    # a session busy in a transaction when the run starts: the drain must defer and wait for it
    busy = psycopg.connect(host="127.0.0.1", user="postgres", dbname=world["pg"])
    busy.execute("select 1")  # now idle in transaction

    def release_when_flagged():  # a consumer that sees maintenance mode and finishes its work 3 s later
        r = redis.Redis(port=world["redis"])
        for _ in range(1200):
            if r.exists("aegis:maintenance:pg"):
                break
            time.sleep(0.1)
        time.sleep(3)
        busy.close()

    threading.Thread(target=release_when_flagged, daemon=True).start()
    run = the_dag().test(
        run_conf=conf(
            update_kind="sql_migration",
            update_target="pg",
            migrations_folder=folder,
            drain_timeout_minutes=2,
            sql_assertions=[
                {"target": "pg", "sql": "select count(*) from players where level = 2", "expect": 10},
                {"target": "pg", "sql": "select name from guilds", "expect": "first"},
            ],
        )
    )
    s = states(run)
    assert run.state == "success", s
    assert s["promote"] == "success"
    assert s["rollback"] == "skipped" and s["tests_after_rollback"] == "skipped"
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=world["pg"]) as c:
        assert c.execute("select count(*) from players where level = 2").fetchone()[0] == 10
        assert [r[0] for r in c.execute("select filename from aegis_schema_version order by 1")] == sorted(GOOD_PG)
    decision = output(capfd, caplog)
    assert "DECISION: PROMOTE" in decision and "all 3 post-update test(s) passed" in decision
    drain = decision
    assert "deferring" in drain and "drained after" in drain
    assert report_of(world, run)["outcome"] == "promoted"
    assert_left_clean(world, run)


def test_pg_failing_assertion_rolls_back(airflow_db, world, capfd, caplog):
    before = pg_checksums(world["pg"])
    folder = migrations(world["tmp"], "good", GOOD_PG)
    run = the_dag().test(
        run_conf=conf(
            update_kind="sql_migration",
            update_target="pg",
            migrations_folder=folder,
            sql_assertions=[{"target": "pg", "sql": "select count(*) from guilds", "expect": 2}],
        )
    )
    assert_rolled_back(
        world,
        run,
        lambda: pg_checksums(world["pg"]),
        before,
        "post-update test failed",
        "returned 1, expected 2",
        update_state="success",
    )


def kill_when_seen(find, kill) -> tuple[threading.Thread, list]:
    """A thread that polls ``find()`` (ids of the sessions to kill) and kills the first ones it sees."""
    killed: list = []

    def run():
        for _ in range(600):
            ids = find()
            if ids:
                killed.extend(kill(i) for i in ids)
                return
            time.sleep(0.1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, killed


def test_pg_connection_killed_during_migration_rolls_back(airflow_db, world, capfd, caplog):
    before = pg_checksums(world["pg"])
    folder = migrations(
        world["tmp"],
        "slow",
        {
            "001_add_level.sql": GOOD_PG["001_add_level.sql"],
            "002_slow.sql": "create table half_done (id int);\nselect pg_sleep(60);\ncreate table never (id int);",
        },
    )
    admin = psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True)
    thread, killed = kill_when_seen(
        lambda: [
            r[0]
            for r in admin.execute(
                "select pid from pg_stat_activity where application_name = 'aegis-update'"
                " and datname = %s and query like '%%pg_sleep%%'",
                (world["pg"],),
            )
        ],
        lambda pid: admin.execute("select pg_terminate_backend(%s)", (pid,)).fetchone()[0],
    )
    run = the_dag().test(run_conf=conf(update_kind="sql_migration", update_target="pg", migrations_folder=folder))
    thread.join()
    admin.close()
    assert killed == [True]
    assert_rolled_back(world, run, lambda: pg_checksums(world["pg"]), before, "002_slow.sql failed", "terminat")


def test_pg_backup_failure_means_the_update_never_runs(airflow_db, world, capfd, caplog, monkeypatch, tmp_path):
    before = pg_checksums(world["pg"])
    folder = migrations(world["tmp"], "good", GOOD_PG)
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # pg_dump is not installed: the backup cannot be made
    run = the_dag().test(run_conf=conf(update_kind="sql_migration", update_target="pg", migrations_folder=folder))
    s = states(run)
    assert run.state == "failed"
    assert s["pre_update_backup"] == "failed" and s["apply_update"] == "upstream_failed"
    assert s["promote"] == "skipped" and s["rollback"] == "skipped"
    assert pg_checksums(world["pg"]) == before
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=world["pg"]) as c:
        assert c.execute("select to_regclass('aegis_schema_version')").fetchone()[0] is None
    assert_left_clean(world, run)
    report = report_of(world, run)
    assert report["outcome"] == "not-run"
    why = json.dumps(report["summary"]["reasons"])
    assert "pre-update backup failed" in why and "NOT run" in why and "pg_dump" in why

    from include.catalog import Catalog
    from include.inventory import load_inventory

    sets = Catalog.for_inventory(load_inventory()).backup_sets_of("pg")
    assert [s["state"] for s in sets] == ["failed"]


# ----------------------------------------------------------------------------------------- MariaDB
def test_mariadb_migration_failing_halfway_is_rolled_back(airflow_db, world, capfd, caplog):
    before = my_checksums(world["my"])
    folder = migrations(
        world["tmp"],
        "my-bad",
        {
            "001_add_level.sql": "ALTER TABLE players ADD COLUMN level INT NOT NULL DEFAULT 1;"
            " UPDATE players SET level = 2 WHERE id <= 10;",
            "002_half.sql": "CREATE TABLE audit (id INT); INSERT INTO audit VALUES (1); SELECT * FROM no_such_table;",
        },
    )
    run = the_dag().test(run_conf=conf(update_kind="sql_migration", update_target="maria", migrations_folder=folder))
    # the DDL MariaDB committed before the failure (a column, a table) is gone again
    assert_rolled_back(world, run, lambda: my_checksums(world["my"]), before, "002_half.sql failed", "no_such_table")


def test_mariadb_connection_killed_during_migration_rolls_back(airflow_db, world, capfd, caplog):
    before = my_checksums(world["my"])
    folder = migrations(
        world["tmp"],
        "my-slow",
        {
            "001_add_level.sql": "ALTER TABLE players ADD COLUMN level INT NOT NULL DEFAULT 1;",
            "002_slow.sql": "CREATE TABLE half_done (id INT); SELECT SLEEP(60); CREATE TABLE never (id INT);",
        },
    )
    admin = MySQLdb.connect(host="127.0.0.1", user="root", autocommit=True)
    cur = admin.cursor()

    def find():
        cur.execute(
            "SELECT id FROM information_schema.processlist WHERE db = %s AND info LIKE %s", (world["my"], "%SLEEP(60)%")
        )
        return [r[0] for r in cur.fetchall()]

    thread, killed = kill_when_seen(find, lambda i: cur.execute(f"KILL {int(i)}"))
    run = the_dag().test(run_conf=conf(update_kind="sql_migration", update_target="maria", migrations_folder=folder))
    thread.join()
    admin.close()
    assert killed
    assert_rolled_back(world, run, lambda: my_checksums(world["my"]), before, "002_slow.sql failed", "Lost connection")


# ----------------------------------------------------------------------------------------- release folder
def test_release_with_failing_health_check_switches_back(airflow_db, world, capfd, caplog):
    current = lambda: (world["root"] / "current").resolve()  # noqa: E731
    before = current()
    run = the_dag().test(
        run_conf=conf(
            update_kind="release_switch",
            release_root=str(world["root"]),
            release_version="v2",
            http_checks=[world["health_url"]],
            targets=["cache"],
        )
    )
    assert_rolled_back(world, run, current, before, "answered 503", update_state="success")
    assert before == (world["root"] / "releases" / "v1").resolve()
    assert "back to releases/v1" in json.dumps(report_of(world, run)["results"])


def test_release_passing_update_stays(airflow_db, world, capfd, caplog):
    run = the_dag().test(
        run_conf=conf(
            update_kind="release_switch",
            release_root=str(world["root"]),
            release_version="v3",
            http_checks=[world["health_url"]],
            targets=["cache"],
        )
    )
    assert run.state == "success"
    assert states(run)["rollback"] == "skipped"
    assert (world["root"] / "current").resolve() == (world["root"] / "releases" / "v3").resolve()
    assert_left_clean(world, run)


def test_dry_run_changes_nothing_and_lists_the_plan(airflow_db, world, capfd, caplog):
    before = pg_checksums(world["pg"])
    folder = migrations(world["tmp"], "good", GOOD_PG)
    run = the_dag().test(run_conf={"update_kind": "sql_migration", "update_target": "pg", "migrations_folder": folder})
    assert run.state == "success"
    assert pg_checksums(world["pg"]) == before
    assert world["am"].silences(run.run_id) == []
    assert "DRY RUN: would apply 2 migration file(s)" in output(capfd, caplog)
    assert report_of(world, run)["outcome"] == "dry-run"


def test_assertion_that_writes_is_refused_in_plan_without_retry(airflow_db, world, capfd, caplog):
    before = pg_checksums(world["pg"])
    folder = migrations(world["tmp"], "good", GOOD_PG)
    run = the_dag().test(
        run_conf=conf(
            update_kind="sql_migration",
            update_target="pg",
            migrations_folder=folder,
            sql_assertions=[{"target": "pg", "sql": "DELETE FROM players", "expect": 0}],
        )
    )
    assert run.state == "failed"
    plan_ti = next(ti for ti in run.get_task_instances() if ti.task_id == "plan")
    assert str(getattr(plan_ti.state, "value", plan_ti.state)) == "failed" and plan_ti.try_number == 1
    assert "field 'sql_assertions[0].sql'" in output(capfd, caplog)
    assert pg_checksums(world["pg"]) == before and world["am"].silences(run.run_id) == []


def test_folder_outside_the_migration_roots_is_refused_in_plan(airflow_db, world, capfd, caplog, tmp_path_factory):
    before = pg_checksums(world["pg"])
    elsewhere = tmp_path_factory.mktemp("not-allowed")
    (elsewhere / "001.sql").write_text("DROP TABLE players;")
    run = the_dag().test(
        run_conf=conf(update_kind="sql_migration", update_target="pg", migrations_folder=str(elsewhere))
    )
    assert run.state == "failed" and states(run)["plan"] == "failed"
    assert "outside the allowed roots" in output(capfd, caplog)
    assert pg_checksums(world["pg"]) == before and world["am"].silences(run.run_id) == []


def test_bad_form_fails_in_plan_naming_the_field(airflow_db, world, capfd, caplog):
    run = the_dag().test(run_conf=conf(update_kind="sql_migration", update_target="pg", migrations_folder="/nowhere"))
    assert run.state == "failed"
    assert states(run)["plan"] == "failed" and states(run)["write_report"] == "failed", states(run)
    logs = output(capfd, caplog)
    assert "field 'migrations_folder'" in logs
    assert world["am"].silences(run.run_id) == []
    report = report_of(world, run)  # refused: still a report naming the field, and the alert
    assert report["outcome"] == "refused" and "field 'migrations_folder'" in json.dumps(report), report
    assert "planned_update of pg REFUSED" in logs and "alert logged only" in logs


# ----------------------------------------------------------------------------------------- nothing applied
def pg_oid(db: str) -> int:
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as c:
        return c.execute("select oid from pg_database where datname = %s", (db,)).fetchone()[0]


def write_after_backup(monkeypatch, db: str) -> None:
    """An application write between the pre-update backup and the update: a rollback would lose it."""
    from include.update import backups

    real = backups.back_up_all

    def then_write(*args, **kwargs):
        out = real(*args, **kwargs)
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname=db, autocommit=True) as c:
            c.execute("insert into players values (90001, 'after the backup', 1)")
        return out

    monkeypatch.setattr(backups, "back_up_all", then_write)


def pg_snapshot(db: str) -> dict:
    """Every table's checksum and the database's owner, ACL, settings and comment, read from the catalogs."""
    from include.backup.postgres import database_properties

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as c:
        properties = database_properties(c, db)
    return {"contents": pg_checksums(db), "properties": properties}


def give_database_properties(db: str) -> None:
    """A comment, a setting and a revoked PUBLIC connect (so "the same properties after" compares something)."""
    from psycopg import sql

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as c:
        c.execute(sql.SQL("comment on database {} is 'the game'").format(sql.Identifier(db)))
        c.execute(sql.SQL("alter database {} set work_mem = '9MB'").format(sql.Identifier(db)))
        c.execute(sql.SQL("revoke connect on database {} from public").format(sql.Identifier(db)))


def assert_not_applied(world, run, oid, before, cause) -> None:
    s = states(run)
    assert run.state == "failed", s
    assert s["apply_update"] == "failed" and s["rollback"] == "skipped" and s["promote"] == "skipped", s
    assert pg_oid(world["pg"]) == oid  # the database was not dropped and recreated
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=world["pg"], autocommit=True) as c:
        assert c.execute("select name from players where id = 90001").fetchone() == ("after the backup",)
        c.execute("delete from players where id = 90001")  # without the later write: everything as before the run
    after = pg_snapshot(world["pg"])
    if "public.aegis_schema_version" not in before["contents"]:  # Aegis's bookkeeping table, created by the run:
        created = after["contents"].pop("public.aegis_schema_version", "0:")  # it records no applied file
        assert created.startswith("0:"), created
    assert after == before
    report = report_of(world, run)
    assert report["outcome"] == "not-applied"
    why = json.dumps(report["summary"]["reasons"])
    assert "NOT APPLIED" in why and cause in why, why
    assert_left_clean(world, run)


def test_pg_first_migration_file_failing_is_not_applied_and_keeps_later_writes(
    airflow_db, world, capfd, caplog, monkeypatch
):
    give_database_properties(world["pg"])
    oid, before = pg_oid(world["pg"]), pg_snapshot(world["pg"])
    assert before["properties"]["comment"] == "the game" and before["properties"]["settings"]
    write_after_backup(monkeypatch, world["pg"])
    folder = migrations(
        world["tmp"],
        "first-bad",
        {
            "001_bad.sql": "alter table players add column level int;\nselect * from no_such_table;",
            "002_never.sql": "create table never_applied (id int);",
        },
    )
    run = the_dag().test(run_conf=conf(update_kind="sql_migration", update_target="pg", migrations_folder=folder))
    assert_not_applied(world, run, oid, before, "001_bad.sql failed")  # the column list is in the checksums too
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=world["pg"]) as c:
        cols = [
            r[0] for r in c.execute("select column_name from information_schema.columns where table_name = 'players'")
        ]
        assert "level" not in cols  # the failing file's own transaction left nothing
    assert "DECISION: NOT APPLIED" in output(capfd, caplog)


def test_pg_refused_checksum_is_not_applied(airflow_db, world, capfd, caplog, monkeypatch):
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=world["pg"], autocommit=True) as c:
        c.execute(
            "create table aegis_schema_version (filename text primary key, sha256 text not null,"
            " applied_at timestamptz not null default now(), run_id text)"
        )
        c.execute("insert into aegis_schema_version values ('001_add_level.sql', 'an older content', now(), 'r0')")
    oid, before = pg_oid(world["pg"]), pg_snapshot(world["pg"])
    write_after_backup(monkeypatch, world["pg"])
    folder = migrations(world["tmp"], "changed", GOOD_PG)
    run = the_dag().test(run_conf=conf(update_kind="sql_migration", update_target="pg", migrations_folder=folder))
    assert_not_applied(world, run, oid, before, "applied before with different content")


def test_migration_of_a_database_not_in_the_backup_is_refused_before_anything_runs(airflow_db, world, capfd, caplog):
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as c:
        c.execute(f'create database "{world["pg"]}_other"')
    try:
        folder = migrations(world["tmp"], "good", GOOD_PG)
        run = the_dag().test(
            run_conf=conf(
                update_kind="sql_migration",
                update_target="pg",
                migrations_folder=folder,
                database=f"{world['pg']}_other",
            )
        )
        s = states(run)
        assert run.state == "failed" and s["plan"] == "failed", s
        assert all(s[t] in ("upstream_failed", "skipped") for t in ("pre_update_backup", "apply_update", "announce")), s
        text = output(capfd, caplog)
        assert "field 'database'" in text and "is not backed up by 'pg'" in text
        assert world["am"].silences(run.run_id) == []  # nothing announced, silenced or changed
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname=f"{world['pg']}_other") as c:
            assert c.execute("select to_regclass('aegis_schema_version')").fetchone()[0] is None
    finally:
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as c:
            c.execute(f'drop database "{world["pg"]}_other" with (force)')
