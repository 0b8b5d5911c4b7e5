"""A weekly dry run only reads: on the real MariaDB and a real log folder, a dry run of the MySQL and log
concerns leaves every table's and partition's ``information_schema`` version (create/update time, sizes,
data_free, rows) and every log file's inode, size and content as they were; in earnest OPTIMIZE touches
InnoDB tables only, and only when the free disk exceeds the table's size.

Adding missing partitions ahead is non-destructive upkeep and runs in a dry run too (by design). So the
partitioned table here already HAS its partitions ahead: the dry run has nothing to add, and an unchanged
table proves it neither dropped the partitions past retention nor purged the old rows it plans to."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from include.clients.mysql import quote_ident as q
from include.weekly import mysql as wmy
from tests.helpers import mysql_run as run
from tests.helpers import write_inventory

VERSION = (
    "SELECT table_name, engine, create_time, update_time, data_length, index_length, data_free"
    " FROM information_schema.tables WHERE table_schema = %s ORDER BY table_name"
)
PARTITIONS = (
    "SELECT table_name, partition_name, partition_description, table_rows, data_length, create_time, update_time"
    " FROM information_schema.partitions WHERE table_schema = %s AND partition_name IS NOT NULL"
    " ORDER BY table_name, partition_ordinal_position"
)


@pytest.fixture
def my_database():
    name = f"aegis_dry_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    run(f"CREATE DATABASE {q(name)}")
    yield name
    run(f"DROP DATABASE IF EXISTS {q(name)}")


@pytest.fixture
def world(tmp_path, monkeypatch, my_database):
    """A fragmented MyISAM table, an InnoDB table, an unanalysed MyISAM index, a daily-partitioned table with two
    partitions past retention, old rows to purge and its partitions ahead already there (up to 6 days ahead,
    ``premake: 3`` asks for 3), and a live log and a rotated one."""
    db = my_database
    today = datetime.now(UTC).date()
    bounds = {"p_old1": today - timedelta(20), "p_old2": today - timedelta(10), "p_ahead": today + timedelta(6)}
    parts = ", ".join(f"PARTITION {n} VALUES LESS THAN (TO_DAYS('{b}'))" for n, b in bounds.items())
    run(
        f"CREATE TABLE {q(db)}.frag (id INT PRIMARY KEY, pad VARCHAR(300)) ENGINE=MyISAM",
        f"INSERT INTO {q(db)}.frag SELECT seq, REPEAT('x', 250) FROM {q(db)}.seq_1_to_2000",
        f"DELETE FROM {q(db)}.frag WHERE id % 2 = 0",
        f"CREATE TABLE {q(db)}.inno (id INT PRIMARY KEY, pad VARCHAR(300)) ENGINE=InnoDB",
        f"INSERT INTO {q(db)}.inno SELECT seq, REPEAT('y', 250) FROM {q(db)}.seq_1_to_2000",
        f"CREATE TABLE {q(db)}.unanalyzed (id INT, k INT, KEY by_k (k)) ENGINE=MyISAM",
        f"INSERT INTO {q(db)}.unanalyzed VALUES (0, 0)",
        f"INSERT INTO {q(db)}.unanalyzed SELECT seq, seq % 10 FROM {q(db)}.seq_1_to_500",
        f"CREATE TABLE {q(db)}.events (id INT AUTO_INCREMENT, created DATE NOT NULL, PRIMARY KEY (id, created))"
        f" ENGINE=InnoDB PARTITION BY RANGE (TO_DAYS(created)) ({parts})",
    )
    run(
        f"INSERT INTO {q(db)}.events (created) SELECT %s - INTERVAL seq DAY FROM {q(db)}.seq_0_to_25",
        args=(str(today),),
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_bytes(b"2026-11-27 10:00:00 ERROR boom\n" * 500)
    (logs / "app.log.20200101T000000Z.gz").write_bytes(b"\x1f\x8b" + b"\0" * 30)
    os.utime(logs / "app.log.20200101T000000Z.gz", (0, 0))  # far past archive_after_days and retention
    inventory = write_inventory(
        tmp_path,
        f"""
        catalog: {{path: catalog.db}}
        artifacts: {{base: artifacts}}
        targets:
          - name: maria
            kind: mysql
            conn_id: dry_maria
            databases: [{db}]
            weekly:
              fragmentation_min_bytes: 0
              fragmentation_ratio: 0
              partitions: [{{table: {db}.events, interval: day, premake: 3, retention_days: 7}}]
              purge: [{{table: {db}.events, column: created, older_than_days: 15, batch_size: 100}}]
          - {{name: app-logs, kind: log_source, paths: ["logs/*.log"]}}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inventory))
    monkeypatch.setenv("AIRFLOW_CONN_DRY_MARIA", "mysql://root@127.0.0.1:3306/")
    time.sleep(1.1)  # a change made by the run would show in the second-resolution create/update times
    return {"db": db, "logs": logs}


def files(folder) -> dict[str, tuple[int, int, int, bytes]]:
    return {
        p.name: (p.stat().st_ino, p.stat().st_size, int(p.stat().st_mtime_ns), p.read_bytes())
        for p in sorted(folder.iterdir())
    }


def test_a_weekly_dry_run_leaves_tables_and_logs_unchanged(world):
    from include.inventory import load_inventory
    from include.weekly.routine import maintain_target

    inventory = load_inventory()
    tables_before, logs_before = run(VERSION, args=(world["db"],)), files(world["logs"])
    partitions_before = run(PARTITIONS, args=(world["db"],))
    rows_before = run(f"SELECT COUNT(*), MIN(created) FROM {q(world['db'])}.events")

    maria = maintain_target(inventory, "maria", dry_run=True)
    app_logs = maintain_target(inventory, "app-logs", dry_run=True)

    assert run(VERSION, args=(world["db"],)) == tables_before
    assert run(PARTITIONS, args=(world["db"],)) == partitions_before
    assert run(f"SELECT COUNT(*), MIN(created) FROM {q(world['db'])}.events") == rows_before
    assert files(world["logs"]) == logs_before
    assert not list((world["logs"].parent / "artifacts").rglob("*.gz"))  # nothing archived either
    planned = {(r["operation"], r["table"]): r["action"] for r in maria["details"]["tables"]}
    assert planned[("OPTIMIZE TABLE", "inno")] == "would do"
    assert planned[("OPTIMIZE TABLE", "frag")].startswith("left alone: engine MyISAM")
    assert planned[("ANALYZE TABLE", "unanalyzed")] == "would do"
    assert maria["metrics"]["mysql.optimize.tables"] == 0
    partitions = {(r["operation"], r["partition"]): r["action"] for r in maria["details"]["partitions"]}
    assert partitions[("drop", "p_old1")] == partitions[("drop", "p_old2")] == "would do"
    assert not [key for key in partitions if key[0] == "add"]  # nothing missing: the upkeep had nothing to do
    assert maria["details"]["purge"][0]["action"] == "would do" and maria["details"]["purge"][0]["deleted"] == 0
    rotate = [r for r in app_logs["details"]["files"] if r["step"] == "rotate"]
    assert [r["action"] for r in rotate] == ["would do"]
    assert app_logs["metrics"]["logs.rotated_files"] == 0


def test_in_earnest_only_innodb_tables_are_optimized_and_only_with_room_on_disk(world):
    from include.inventory import load_inventory
    from include.weekly.routine import maintain_target

    inventory = load_inventory()
    before = {row[0]: row for row in run(VERSION, args=(world["db"],))}

    maria = maintain_target(inventory, "maria", dry_run=False)

    rows = {r["table"]: r for r in maria["details"]["tables"] if r["operation"] == "OPTIMIZE TABLE"}
    assert rows["inno"]["action"] == "done", rows["inno"]
    assert rows["frag"]["action"].startswith("left alone: engine MyISAM"), rows["frag"]
    after = {row[0]: row for row in run(VERSION, args=(world["db"],))}
    assert after["frag"] == before["frag"]  # the MyISAM table was not rebuilt
    assert after["inno"][2] != before["inno"][2]  # InnoDB rebuilt: a new create_time
    assert {t for t, r in rows.items() if r["action"] == "done"} == {"inno", "events"}  # the InnoDB ones only
    assert maria["metrics"]["mysql.optimize.tables"] == 2


def test_optimize_needs_more_free_disk_than_the_table():
    from include.weekly.mysql.optimize import optimize_refusal

    assert optimize_refusal("InnoDB", size=10 << 20, free_disk=11 << 20) is None
    assert "free disk" in optimize_refusal("InnoDB", size=10 << 20, free_disk=9 << 20)
    assert "free disk unknown" in optimize_refusal("InnoDB", size=1, free_disk=None)
    assert optimize_refusal("MyISAM", size=1, free_disk=10 << 20).startswith("left alone: engine MyISAM")
    assert wmy.DEFAULTS["fragmentation_ratio"] > 0
