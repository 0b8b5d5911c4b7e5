"""The deeper MySQL/MariaDB checks (issue 20) on real states of the local MariaDB; the redundant
indexes are also found by ``pt-duplicate-key-checker`` (Percona Toolkit) and both must agree."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime

import MySQLdb
import pytest

from include.checks import Window, run_check
from include.inventory import parse_inventory
from include.targets import Endpoint
from tests.helpers import free_port, mysql_admin, mysql_run

NOW = datetime.now(UTC)
WINDOW = Window(NOW, NOW)
LOCAL = Endpoint(host="127.0.0.1", port=3306, login="root")


def check(databases: list[str], window: Window = WINDOW, **thresholds):
    target = parse_inventory(
        {"targets": [{"name": "db", "kind": "mysql", "conn_id": "c", "databases": databases, "thresholds": thresholds}]}
    ).targets[0]
    result = run_check(target, LOCAL, window)
    assert result.status != "unreachable", result.findings
    return result


def messages(result) -> str:
    return "\n".join(f"[{f.level}] {f.message}" for f in result.findings)


@pytest.fixture
def mysql_database():
    name = f"aegis_test_{uuid.uuid4().hex[:10]}"
    mysql_run(f"CREATE DATABASE `{name}`")
    yield name
    mysql_run(f"DROP DATABASE IF EXISTS `{name}`")


def test_not_a_replica_is_not_graded(mysql_database):
    result = check([mysql_database])
    assert result.details["replication"] == "not a replica: replication not graded"
    assert "mysql.replication_lag_s" not in result.metrics


def test_the_check_records_database_and_table_sizes(mysql_database):
    """Metrics only (the monthly capacity forecast's history), from information_schema.tables."""
    mysql_run(
        f"CREATE TABLE `{mysql_database}`.events (id INT PRIMARY KEY, body TEXT) ENGINE=InnoDB",
        f"INSERT INTO `{mysql_database}`.events SELECT seq, REPEAT('x', 500) FROM `{mysql_database}`.seq_1_to_2000",
        f"ANALYZE TABLE `{mysql_database}`.events",
    )
    [(size,)] = mysql_run(
        "SELECT data_length + index_length FROM information_schema.tables WHERE table_schema = %s"
        " AND table_name = 'events'",
        args=(mysql_database,),
    )
    result = check([mysql_database])
    assert result.metrics[f"mysql.table_bytes[{mysql_database}.events]"] == float(size) > 0
    assert result.metrics[f"mysql.database_bytes[{mysql_database}]"] >= float(size)


def test_tables_without_a_primary_key(mysql_database):
    mysql_run(
        f"CREATE TABLE `{mysql_database}`.events (at DATETIME, what TEXT)",
        f"CREATE TABLE `{mysql_database}`.users (id INT PRIMARY KEY)",
    )
    result = check([mysql_database])
    assert result.details["tables_without_primary_key"] == [f"{mysql_database}.events"]
    assert result.metrics["mysql.tables_without_pk"] == 1 and result.status == "warning"
    assert f"1 table(s) without a primary key ({mysql_database}.events)" in messages(result)


@pytest.mark.skipif(
    shutil.which("pt-duplicate-key-checker") is None,
    reason="pt-duplicate-key-checker (Debian package percona-toolkit) not installed",
)
def test_redundant_and_duplicate_indexes_agree_with_pt_duplicate_key_checker(mysql_database):
    mysql_run(
        f"CREATE TABLE `{mysql_database}`.t (id INT PRIMARY KEY, a INT, b INT, c INT, d INT, e INT,"
        " KEY idx_a (a), KEY idx_ab (a, b), KEY dup_c1 (c), KEY dup_c2 (c), UNIQUE KEY uk_d (d),"
        " KEY idx_d (d), KEY idx_id (id), UNIQUE KEY uk_e (e), KEY idx_eb (e, b))"
    )
    result = check([mysql_database])
    ours = {(r["table"], r["index"]): r for r in result.details["redundant_indexes"]}
    assert set(ours) == {("t", "idx_a"), ("t", "dup_c2"), ("t", "idx_d"), ("t", "idx_id")}  # uk_e stays: unique
    assert ours[("t", "idx_a")]["reason"] == "left prefix of idx_ab"
    assert ours[("t", "idx_id")]["reason"] == "duplicate of PRIMARY"
    assert result.metrics["mysql.redundant_indexes"] == 4 and result.status == "warning"
    assert "4 redundant index(es)" in messages(result) and "ALTER TABLE" in messages(result)
    peer = subprocess.run(
        ["pt-duplicate-key-checker", "h=127.0.0.1,u=root", "--databases", mysql_database, "--noclustered"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert set(re.findall(r"^ALTER TABLE .*?;$", peer, re.MULTILINE)) == {f"{r['alter']};" for r in ours.values()}
    reasons = dict(re.findall(r"^# (\S+) is a (?:duplicate of|left-prefix of) (\S+)$", peer, re.MULTILINE))
    assert reasons == {index: r["reason"].split()[-1] for (_, index), r in ours.items()}


def test_a_deadlock_between_two_sessions_is_counted_since_the_previous_run(mysql_database):
    mysql_run(
        f"CREATE TABLE `{mysql_database}`.acct (id INT PRIMARY KEY, v INT) ENGINE=InnoDB",
        f"INSERT INTO `{mysql_database}`.acct VALUES (1, 0), (2, 0)",
    )
    first = check([mysql_database])
    a, b = mysql_admin(), mysql_admin()
    errors: list[int] = []
    try:
        for conn in (a, b):
            conn.cursor().execute(f"USE `{mysql_database}`")
            conn.cursor().execute("SET SESSION innodb_lock_wait_timeout = 20")
            conn.autocommit(False)
        a.cursor().execute("UPDATE acct SET v = 1 WHERE id = 1")
        b.cursor().execute("UPDATE acct SET v = 2 WHERE id = 2")

        def cross(conn, row):
            try:
                conn.cursor().execute("UPDATE acct SET v = 3 WHERE id = %s", (row,))
            except MySQLdb.OperationalError as exc:
                errors.append(exc.args[0])

        waiting = threading.Thread(target=cross, args=(a, 2))
        waiting.start()
        time.sleep(0.5)
        cross(b, 1)  # closes the cycle: InnoDB rolls one of the two back at once
        waiting.join(25)
    finally:
        for conn in (a, b):
            conn.rollback()
            conn.close()
    assert 1213 in errors  # ER_LOCK_DEADLOCK
    second = check([mysql_database], Window(NOW, NOW, previous=first.metrics))
    assert second.metrics["mysql.deadlocks_total"] >= first.metrics["mysql.deadlocks_total"] + 1
    assert second.metrics["mysql.deadlocks"] == (
        second.metrics["mysql.deadlocks_total"] - first.metrics["mysql.deadlocks_total"]
    )
    assert "InnoDB deadlock(s) since the previous check" in messages(second)
    assert "LATEST DETECTED DEADLOCK" in second.details["latest_deadlock"]
    assert "acct" in second.details["latest_deadlock"]
    # nothing new since that run: nothing graded
    third = check([mysql_database], Window(NOW, NOW, previous=second.metrics))
    assert (
        third.metrics["mysql.deadlocks"] == 0
        or third.metrics["mysql.deadlocks_total"] > second.metrics["mysql.deadlocks_total"]
    )


def test_the_weekly_step_recommends_the_alter_and_never_runs_it(mysql_database):
    from include.inventory import Target
    from include.weekly import mysql as wmy

    mysql_run(f"CREATE TABLE `{mysql_database}`.t (id INT PRIMARY KEY, a INT, b INT, KEY idx_a (a), KEY idx_ab (a, b))")
    target = Target("my-weekly", "mysql", None, (), {}, 10.0, {"databases": [mysql_database]})
    result = wmy.maintain(target, LOCAL, dict(wmy.DEFAULTS), dry_run=False)
    alter = f"ALTER TABLE `{mysql_database}`.`t` DROP INDEX `idx_a`"
    assert result.metrics["mysql.recommend.redundant_indexes"] == 1
    assert any(
        "index idx_a is redundant (left prefix of idx_ab)" in f.message and alter in f.message for f in result.findings
    )
    indexes = mysql_run(
        "SELECT index_name FROM information_schema.statistics WHERE table_schema = %s", args=(mysql_database,)
    )
    assert ("idx_a",) in indexes  # recommended only, even outside a dry run


def _start_private_mariadb(folder, server_id: int, *options: str) -> tuple[subprocess.Popen, int]:
    """A private MariaDB (mariadb-install-db, mariadbd as user mysql) on a spare port in ``folder``."""
    folder.mkdir()
    shutil.chown(folder, "mysql", "mysql")
    subprocess.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={folder}/data",
            "--user=mysql",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            "runuser",
            "-u",
            "mysql",
            "--",
            "/usr/sbin/mariadbd",
            "--no-defaults",
            f"--datadir={folder}/data",
            f"--port={port}",
            f"--socket={folder}/sock",
            "--bind-address=127.0.0.1",
            f"--server-id={server_id}",
            *options,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(150):
        try:
            MySQLdb.connect(host="127.0.0.1", port=port, user="root", connect_timeout=1).close()
            break
        except MySQLdb.OperationalError:
            time.sleep(0.2)
    return proc, port


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.mark.skipif(shutil.which("mariadb-install-db") is None, reason="MariaDB server tools not installed")
def test_a_replica_whose_source_goes_away(tmp_path):
    import tempfile
    from pathlib import Path

    base = Path(tempfile.mkdtemp(prefix="aegis-mariadb-repl-"))  # not under tmp_path: user mysql must get in
    base.chmod(0o755)
    source = replica = None
    try:
        source, source_port = _start_private_mariadb(base / "source", 1, "--log-bin=binlog")
        replica, replica_port = _start_private_mariadb(base / "replica", 2)
        conn = MySQLdb.connect(host="127.0.0.1", port=replica_port, user="root", autocommit=True)
        conn.cursor().execute(
            "CHANGE MASTER TO master_host = '127.0.0.1', master_port = %s, master_user = 'root',"
            " master_connect_retry = 1",
            (source_port,),
        )
        conn.cursor().execute("START SLAVE")
        endpoint = Endpoint(host="127.0.0.1", port=replica_port, login="root")
        target = parse_inventory({"targets": [{"name": "replica", "kind": "mysql", "conn_id": "c"}]}).targets[0]
        for _ in range(100):
            healthy = run_check(target, endpoint, WINDOW)
            if healthy.details["replication"].get("io_running") == "Yes":
                break
            time.sleep(0.2)
        _stop(source)
        source = None
        for _ in range(100):
            broken = run_check(target, endpoint, WINDOW)
            if broken.details["replication"]["io_running"] != "Yes":
                break
            time.sleep(0.2)
        conn.cursor().execute("STOP SLAVE")
        conn.close()
    finally:
        for proc in (source, replica):
            if proc:
                _stop(proc)
        shutil.rmtree(base, ignore_errors=True)
    assert healthy.details["replication"]["sql_running"] == "Yes"
    assert (
        healthy.metrics["mysql.replication_running"] == 1 and healthy.metrics["mysql.replication_lag_s"] <= 5
    )  # seconds: 0 on a quiet machine
    assert "replication from" not in messages(healthy)
    assert broken.status == "critical" and broken.metrics["mysql.replication_running"] == 0
    assert f"replication from 127.0.0.1:{source_port} stopped: IO thread Connecting" in messages(broken)
    assert "error" in broken.details["replication"]["last_error"].lower()
