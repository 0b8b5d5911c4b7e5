"""Weekly MySQL/MariaDB maintenance against the real local server: OPTIMIZE of a fragmented table
(hostile name), ANALYZE of zero-cardinality indexes, purge and partition rotation in dry run and in
earnest, settings validation and a down target.

Purge and partition tests run on a frozen clock at each calendar edge (``calendar_edge``): their data
are built from Python's "now", and the code pins the MariaDB session's clock to the run's, so the
server's date is the frozen one too."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import MySQLdb
import pytest

from include.clients.mysql import quote_ident as q
from include.inventory import Target
from include.targets import Endpoint
from include.weekly import mysql as wmy
from tests import clock_edges
from tests.helpers import free_port
from tests.helpers import mysql_run as run

calendar_edge = clock_edges.calendar_edge  # the fixture: a frozen clock at each calendar edge

HOSTILE = 'frag`mented "t"; drop table plain; --'


@pytest.fixture
def my_database():
    """A fresh MariaDB database, dropped afterwards."""
    name = f"aegis_wk_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    run(f"CREATE DATABASE {q(name)}")
    yield name
    run(f"DROP DATABASE IF EXISTS {q(name)}")


def target(db) -> Target:
    return Target("my-weekly-test", "mysql", None, (), {}, 10.0, {"databases": [db]})


def endpoint(**kw) -> Endpoint:
    return Endpoint(**{"host": "127.0.0.1", "port": 3306, "login": "root", **kw})


def settings(**kw) -> dict:
    return {**wmy.DEFAULTS, "fragmentation_min_bytes": 1024, **kw}


def now() -> str:
    """The (frozen) clock as a MariaDB DATETIME literal, UTC."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def today() -> date:
    return datetime.now(UTC).date()


def test_fragmented_tables_are_optimized_and_zero_cardinality_indexes_analyzed(my_database):
    """In earnest (a dry run only lists them: tests/test_weekly_dry_run.py). Thresholds at 0 make every InnoDB
    table qualify: the hostile-named one is rebuilt with its rows, and its name drops nothing."""
    db = my_database
    t = f"{q(db)}.{q(HOSTILE)}"
    run(
        f"CREATE TABLE {t} (id INT PRIMARY KEY, pad VARCHAR(300)) ENGINE=InnoDB",
        f"INSERT INTO {t} SELECT seq, REPEAT('x', 250) FROM {q(db)}.seq_1_to_2000",
        f"DELETE FROM {t} WHERE id % 2 = 0",
    )
    run(
        f"CREATE TABLE {q(db)}.plain (id INT PRIMARY KEY) ENGINE=InnoDB",
        f"INSERT INTO {q(db)}.plain SELECT seq FROM {q(db)}.seq_1_to_100",
        f"ANALYZE TABLE {q(db)}.plain",
    )
    run(
        f"CREATE TABLE {q(db)}.unanalyzed (id INT, k INT, KEY by_k (k)) ENGINE=MyISAM",
        # one row first: a bulk load into an empty MyISAM table would compute the statistics at once
        f"INSERT INTO {q(db)}.unanalyzed VALUES (0, 0)",
        f"INSERT INTO {q(db)}.unanalyzed SELECT seq, seq % 10 FROM {q(db)}.seq_1_to_500",
    )
    assert run(
        "SELECT cardinality FROM information_schema.statistics WHERE table_schema = %s AND table_name = 'unanalyzed'",
        args=(db,),
    )[0][0] in (None, 0)

    result = wmy.maintain(
        target(db), endpoint(), settings(fragmentation_min_bytes=0, fragmentation_ratio=0), dry_run=False
    )

    optimized = {r["table"]: r for r in result.details["tables"] if r["operation"] == "OPTIMIZE TABLE"}
    assert optimized[HOSTILE]["action"] == "done" and optimized["plain"]["action"] == "done"
    assert optimized["unanalyzed"]["action"].startswith("left alone: engine MyISAM")
    assert run(f"SELECT COUNT(*) FROM {t}")[0][0] == 1000
    assert run(f"SELECT COUNT(*) FROM {q(db)}.plain")[0][0] == 100  # the hostile name dropped nothing
    un = next(r for r in result.details["tables"] if r["operation"] == "ANALYZE TABLE")
    assert un["table"] == "unanalyzed" and un["action"] == "done"
    assert un["zero_cardinality_before"] == ["by_k"] and un["zero_cardinality_after"] == []
    assert (
        run(
            "SELECT cardinality FROM information_schema.statistics WHERE table_schema = %s"
            " AND table_name = 'unanalyzed'",
            args=(db,),
        )[0][0]
        == 10
    )
    assert result.metrics["mysql.optimize.tables"] == 2 and result.metrics["mysql.analyze.tables"] == 1
    assert result.metrics["mysql.zero_cardinality_indexes"] == 0


def make_sessions(db, table="ses`sions; x"):
    t = f"{q(db)}.{q(table)}"
    run(f"CREATE TABLE {t} (id INT AUTO_INCREMENT PRIMARY KEY, created DATETIME NOT NULL, KEY (created))")
    run(
        f"INSERT INTO {t} (created) SELECT %s - INTERVAL 40 DAY - INTERVAL seq MINUTE FROM {q(db)}.seq_1_to_250",
        f"INSERT INTO {t} (created) SELECT %s - INTERVAL 29 DAY + INTERVAL seq MINUTE FROM {q(db)}.seq_1_to_30",
        args=(now(),),
    )
    return table, t


@pytest.mark.usefixtures("calendar_edge")
def test_purge_counts_in_dry_run_and_deletes_in_batches_in_earnest(my_database, caplog):
    db = my_database
    table, t = make_sessions(db)
    purge = [{"table": f"{db}.{table}", "column": "created", "older_than_days": 30, "batch_size": 100}]
    caplog.set_level(logging.INFO, logger="include.weekly.mysql")

    dry = wmy.maintain(target(db), endpoint(), settings(purge=purge), dry_run=True)
    assert run(f"SELECT COUNT(*) FROM {t}")[0][0] == 280
    [row] = dry.details["purge"]
    assert (row["expired"], row["deleted"], row["action"]) == (250, 0, "would do")
    assert f"would delete 250 row(s) of {db}.{table}" in caplog.text

    spent = wmy.maintain(target(db), endpoint(), settings(purge=purge, max_seconds=0), dry_run=False)
    assert spent.details["purge"][0]["action"].startswith("skipped: max_seconds budget")
    assert run(f"SELECT COUNT(*) FROM {t}")[0][0] == 280

    done = wmy.maintain(target(db), endpoint(), settings(purge=purge), dry_run=False)
    [row] = done.details["purge"]
    assert (row["deleted"], row["batches"], row["action"]) == (250, 3, "done")
    assert run(f"SELECT COUNT(*), MIN(created) > %s - INTERVAL 30 DAY FROM {t}", args=(now(),))[0] == (30, 1)
    assert done.metrics["mysql.purge.deleted_rows"] == 250

    again = wmy.maintain(target(db), endpoint(), settings(purge=purge), dry_run=False)  # a retry deletes nothing more
    assert again.details["purge"][0]["deleted"] == 0
    assert run(f"SELECT COUNT(*) FROM {t}")[0][0] == 30


def month(day: date, shift: int) -> date:
    index = day.year * 12 + day.month - 1 + shift
    return date(index // 12, index % 12 + 1, 1)


def partition_layout(db, table):
    return [
        (n, d)
        for n, d in run(
            "SELECT partition_name, partition_description FROM information_schema.partitions"
            " WHERE table_schema = %s AND table_name = %s ORDER BY partition_ordinal_position",
            args=(db, table),
        )
    ]


def setup_daily(db):
    """RANGE (TO_DAYS(created)) by day with a MAXVALUE catch-all; a row every day from -25 to +5 days."""
    d = today()
    bounds = {"p_a": d - timedelta(20), "p_b": d - timedelta(10), "p_c": d - timedelta(3), "p_d": d + timedelta(1)}
    parts = ", ".join(f"PARTITION {n} VALUES LESS THAN (TO_DAYS('{b}'))" for n, b in bounds.items())
    run(
        f"CREATE TABLE {q(db)}.events (id INT AUTO_INCREMENT, created DATE NOT NULL, PRIMARY KEY (id, created))"
        f" PARTITION BY RANGE (TO_DAYS(created)) ({parts}, PARTITION pmax VALUES LESS THAN MAXVALUE)"
    )
    run(
        f"INSERT INTO {q(db)}.events (created) SELECT %s - INTERVAL seq DAY FROM {q(db)}.seq_0_to_25",
        f"INSERT INTO {q(db)}.events (created) SELECT %s + INTERVAL seq DAY FROM {q(db)}.seq_1_to_5",
        args=(str(d),),
    )
    item = {"table": f"{db}.events", "interval": "day", "premake": 2, "retention_days": 7}
    added = [f"p{(d + timedelta(i)):%Y%m%d}" for i in (1, 2)]
    return item, bounds, ["p_c", "p_d"] + added + ["pmax"], d - timedelta(7)


def setup_monthly(db):
    """RANGE COLUMNS(created) by month, no catch-all; a row every day from the 1st four months back to the
    end of this month, so every partition (the oldest one too, whatever today's date) holds rows."""
    d = today()
    bounds = {"p_old": month(d, -3), "p_prev": month(d, -1), "p_cur": month(d, 0), "p_next": month(d, 1)}
    parts = ", ".join(f"PARTITION {n} VALUES LESS THAN ('{b}')" for n, b in bounds.items())
    run(
        f"CREATE TABLE {q(db)}.events (id INT AUTO_INCREMENT, created DATETIME NOT NULL, PRIMARY KEY (id, created))"
        f" PARTITION BY RANGE COLUMNS(created) ({parts})"
    )
    days = (month(d, 1) - month(d, -4)).days
    run(
        f"INSERT INTO {q(db)}.events (created) SELECT %s + INTERVAL seq DAY FROM {q(db)}.seq_0_to_{days - 1}",
        args=(str(month(d, -4)),),
    )
    item = {"table": f"{db}.events", "interval": "month", "premake": 2, "retention_days": 40}
    cutoff = d - timedelta(40)
    kept = [n for n, b in bounds.items() if b > cutoff]
    return item, bounds, kept + [f"p{month(d, 1):%Y%m}", f"p{month(d, 2):%Y%m}"], cutoff


@pytest.mark.usefixtures("calendar_edge")
@pytest.mark.parametrize("setup", [setup_daily, setup_monthly], ids=["day-to_days-maxvalue", "month-columns"])
def test_partition_rotation_dry_run_then_in_earnest(my_database, caplog, setup):
    db = my_database
    item, bounds, expected, cutoff = setup(db)
    layout, rows_before = partition_layout(db, "events"), run(f"SELECT COUNT(*) FROM {q(db)}.events")[0][0]
    dropped = [n for n, b in bounds.items() if b <= cutoff]
    assert dropped  # the set-up always has something past retention
    caplog.set_level(logging.INFO, logger="include.weekly.mysql")

    added = set(expected) - set(bounds) - {"pmax"}
    dry = wmy.maintain(target(db), endpoint(), settings(partitions=[item]), dry_run=True)
    # a dry run adds the missing partitions (it only adds) and drops nothing
    assert {n for n, _ in partition_layout(db, "events")} == {n for n, _ in layout} | added
    assert run(f"SELECT COUNT(*) FROM {q(db)}.events")[0][0] == rows_before
    plan = dry.details["partitions"]
    drops, adds = ([r for r in plan if r["operation"] == op] for op in ("drop", "add"))
    assert {r["partition"] for r in drops} == set(dropped) and all(r["action"] == "would do" for r in drops)
    assert {r["partition"] for r in adds} == added and all(r["action"] == "done" for r in adds)
    assert dry.metrics["mysql.partitions.added"] == len(added) and dry.metrics["mysql.partitions.dropped"] == 0
    for statement in {r["ddl"] for r in drops}:
        assert f"dry run: would run {statement}" in caplog.text
    assert not [f for f in dry.findings if "partition" in f.message], dry.findings
    doomed = sum(r["rows"] for r in drops)
    assert (
        doomed
        == run(f"SELECT COUNT(*) FROM {q(db)}.events WHERE created < %s", args=(str(max(bounds[n] for n in dropped)),))[
            0
        ][0]
        > 0
    )

    done = wmy.maintain(target(db), endpoint(), settings(partitions=[item]), dry_run=False)
    assert [n for n, _ in partition_layout(db, "events")] == expected
    assert all(r["action"] == "done" for r in done.details["partitions"])
    assert run(f"SELECT COUNT(*) FROM {q(db)}.events")[0][0] == rows_before - doomed
    assert done.metrics["mysql.partitions.dropped"] == len(dropped)
    assert done.metrics["mysql.partitions.added"] == 0  # the dry run added them already

    again = wmy.maintain(target(db), endpoint(), settings(partitions=[item]), dry_run=False)
    assert again.details["partitions"] == [{"table": item["table"], "action": "done: nothing to change"}]


def test_bad_settings_are_named():
    ok = {"table": "db.t", "column": "created", "older_than_days": 30, "batch_size": 500}
    wmy.check_settings(settings(purge=[ok]))
    with pytest.raises(ValueError, match=r"^purge\[0\]\.column: missing"):
        wmy.check_settings(settings(purge=[{k: v for k, v in ok.items() if k != "column"}]))
    with pytest.raises(ValueError, match=r"^purge\[0\]\.table: must be 'database.table'"):
        wmy.check_settings(settings(purge=[{**ok, "table": "sessions"}]))
    with pytest.raises(ValueError, match=r"^partitions\[0\]\.interval: must be one of day, month"):
        wmy.check_settings(
            settings(partitions=[{"table": "db.t", "interval": "week", "premake": 2, "retention_days": 30}])
        )
    with pytest.raises(ValueError, match=r"^partitions\[0\]: unknown key\(s\) keep"):
        wmy.check_settings(
            settings(partitions=[{"table": "db.t", "interval": "day", "premake": 2, "retention_days": 30, "keep": 1}])
        )


def test_unpartitioned_table_is_reported_not_fatal(my_database):
    db = my_database
    run(f"CREATE TABLE {q(db)}.flat (id INT PRIMARY KEY)")
    item = {"table": f"{db}.flat", "interval": "day", "premake": 1, "retention_days": 7}
    result = wmy.maintain(target(db), endpoint(), settings(partitions=[item]), dry_run=False)
    assert result.details["partitions"] == [{"table": f"{db}.flat", "action": f"failed: {db}.flat: not partitioned"}]
    assert result.status == "warning"


def test_down_target_fails_within_the_connect_timeout():
    started = time.monotonic()
    with pytest.raises(MySQLdb.OperationalError):
        wmy.maintain(target("x"), endpoint(port=free_port()), settings(connect_timeout_s=2), dry_run=True)
    assert time.monotonic() - started < 5


def test_weekly_db_modules_import_no_driver():
    """The inventory imports DEFAULTS at DAG parse time: no database driver may come with them."""
    code = (
        "import sys, include.weekly.mysql, include.weekly.postgres;"
        "print(sorted(m for m in ('MySQLdb', 'psycopg') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=60,
    ).stdout
    assert out.strip() == "[]"
