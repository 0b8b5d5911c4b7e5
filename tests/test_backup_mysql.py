"""MySQL/MariaDB backups against the real local server: dump, restore into scratch and over the
live database, CHECKSUM TABLE, a hostile table name, view/routine/trigger/event, and no password
on any command line."""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import subprocess
import time
from pathlib import Path

import MySQLdb
import pytest

from include.backup import mysql as myb
from include.backup.base import BackupToolError
from include.backup.mysql import quote_ident as q
from include.inventory import Target
from include.targets import Endpoint
from tests.helpers import free_port
from tests.helpers import mysql_admin as admin
from tests.helpers import mysql_run as run

HOSTILE = 'we`ird"; drop table plain; -- name'
PASSWORD = 'Sup3r"S3cret\\pw#never-in-argv'


def make_target(databases=()) -> Target:
    return Target(
        "my-test",
        "mysql",
        "my_test",
        (),
        {},
        10.0,
        {"databases": list(databases)},
        backup={"jobs": 2, "timeout_seconds": 120},
    )


def endpoint(db, **kw) -> Endpoint:
    return Endpoint(**{"host": "127.0.0.1", "port": 3306, "login": "root", "schema": db, **kw})


def db_exists(name) -> bool:
    return bool(run("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", args=(name,)))


def checksums(db) -> dict[str, int]:
    tables = [
        t
        for (t,) in run(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            args=(db,),
        )
    ]
    return {t: run(f"CHECKSUM TABLE {q(db)}.{q(t)}")[0][1] for t in tables}


def indexes(db) -> dict[str, list[str]]:
    """Every table's index lines of SHOW CREATE TABLE."""
    out = {}
    for (table,) in run(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = 'BASE TABLE'",
        args=(db,),
    ):
        ddl = run(f"SHOW CREATE TABLE {q(db)}.{q(table)}")[0][1]
        out[table] = sorted(line.strip().rstrip(",") for line in ddl.splitlines() if "KEY " in line)
    return out


def objects(db) -> dict[str, list]:
    """Names of the database's views, routines, triggers and events."""
    return {
        kind: sorted(
            r[0] for r in run(f"SELECT {col} FROM information_schema.{kind} WHERE {schema_col} = %s", args=(db,))
        )
        for kind, col, schema_col in [
            ("views", "table_name", "table_schema"),
            ("routines", "routine_name", "routine_schema"),
            ("triggers", "trigger_name", "trigger_schema"),
            ("events", "event_name", "event_schema"),
        ]
    }


@pytest.fixture
def source():
    """A database with tables (one with a hostile name), a view, a procedure, a trigger, an event and data."""
    db = f"aegis_test_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    try:
        conn = admin()
        cur = conn.cursor()
        cur.execute(f"CREATE DATABASE {q(db)} CHARACTER SET utf8mb4")
        cur.execute(f"USE {q(db)}")
        cur.execute(
            "CREATE TABLE plain (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64), payload BLOB,"
            " at DATETIME(6), KEY by_name (name), KEY `by at, name` (at, name(10)) COMMENT 'two'"
            ") ENGINE=InnoDB"
        )
        cur.execute(
            "INSERT INTO plain (name, payload, at) SELECT CONCAT('row ', seq), UNHEX(MD5(seq)),"
            " '2026-01-01' + INTERVAL seq SECOND FROM seq_1_to_20000"
        )
        cur.execute(f"CREATE TABLE {q(HOSTILE)} (k VARCHAR(16) PRIMARY KEY, v TEXT) ENGINE=InnoDB")
        cur.execute(f"INSERT INTO {q(HOSTILE)} VALUES ('a', 'x'), ('b;c', NULL), ('`q`', 'ünïcødé \\'\" \\n')")
        cur.execute("CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(64)) ENGINE=InnoDB")
        cur.execute("CREATE TABLE empty_one (x INT) ENGINE=InnoDB")
        cur.execute("CREATE VIEW plain_names AS SELECT name FROM plain")
        cur.execute("CREATE PROCEDURE count_plain() SELECT COUNT(*) FROM plain")
        cur.execute(
            "CREATE TRIGGER plain_audit AFTER INSERT ON plain FOR EACH ROW INSERT INTO audit (note) VALUES (NEW.name)"
        )
        cur.execute("CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit")
        cur.execute("INSERT INTO plain (name) VALUES ('fires the trigger')")
        conn.close()
        yield db
    finally:
        run(f"DROP DATABASE IF EXISTS {q(db)}")


def test_quote_ident():
    assert q("a`b") == "`a``b`" and q("plain") == "`plain`"


def test_stream_kills_a_hung_tool_at_its_timeout():
    t0 = time.perf_counter()
    with pytest.raises(BackupToolError, match="did not finish within 0.5s"):
        myb._stream(["sleep", "30"], timeout_s=0.5, sink=io.BytesIO())
    with pytest.raises(BackupToolError, match="did not finish within 0.5s"):
        myb._stream(["sleep", "30"], timeout_s=0.5, source=io.BytesIO(b"x" * 10_000_000))
    assert time.perf_counter() - t0 < 5
    with pytest.raises(BackupToolError, match="false exited 1"):
        myb._stream(["false"], timeout_s=5, source=io.BytesIO(b"x" * 10_000_000))


def test_dump_restore_into_scratch_matches_source(source, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    t0 = time.perf_counter()
    result = myb.dump(make_target(), endpoint(source), workdir)
    dump_s = time.perf_counter() - t0
    assert result.facts["databases"][source]["tables"] == {"plain": 20001, HOSTILE: 3, "audit": 1, "empty_one": 0}
    # jobs: 2 -> the schema, and the tables in two groups dumped side by side in one snapshot
    assert sorted(p.relative_to(workdir).as_posix() for p in workdir.rglob("*.sql.gz")) == [
        f"{source}.sql.gz",
        f"{source}.tables/0000.sql.gz",
        f"{source}.tables/0001.sql.gz",
    ]
    for part in workdir.rglob("*.sql.gz"):
        text = gzip.decompress(part.read_bytes()).decode()
        assert "CREATE DATABASE" not in text and f"USE {q(source)}" not in text
    assert set(result.tool_versions) == {"mysqldump"}

    before, source_objects = checksums(source), objects(source)
    with myb.scratch(endpoint(source), "my-test-20260101T000000Z", [source]) as (scratch_ep, names):
        scratch_db = names[source]
        assert scratch_db.startswith("aegis_scratch_") and scratch_ep.schema == scratch_db and db_exists(scratch_db)
        t0 = time.perf_counter()
        observed = myb.restore(scratch_ep, workdir, result.facts, database_map=names, timeout_s=120)
        restore_s = time.perf_counter() - t0
        assert observed == {"databases": result.facts["databases"]}  # a scratch load: no schema properties
        assert checksums(scratch_db) == before
        assert objects(scratch_db) == source_objects
        assert indexes(scratch_db) == indexes(source)  # dropped for the load, added back after it
        assert "KEY `by at, name` (`at`,`name`(10)) COMMENT 'two'" in indexes(scratch_db)["plain"]
        assert run(f"SELECT COUNT(*) FROM {q(scratch_db)}.plain_names")[0][0] == 20001
    assert not db_exists(scratch_db)
    print(
        f"\nmysql: dump {dump_s:.2f}s, restore into scratch {restore_s:.2f}s, "
        f"{(workdir / f'{source}.sql.gz').stat().st_size} bytes gzip"
    )


def test_scratch_is_dropped_on_error(source):
    with pytest.raises(RuntimeError, match="boom"):
        with myb.scratch(endpoint(source), "set-err", [source, "other db"]) as (_, names):
            assert all(db_exists(n) for n in names.values())
            raise RuntimeError("boom")
    assert not any(db_exists(n) for n in names.values())
    assert all(len(myb.scratch_name("s", "x" * 80 + c)) <= 64 for c in "ab")
    assert myb.scratch_name("s", "x" * 80 + "a") != myb.scratch_name("s", "x" * 80 + "b")


def test_restore_over_existing_database_brings_back_backup_state(source, tmp_path):
    result = myb.dump(make_target([source]), endpoint(None), tmp_path)
    before, source_objects = checksums(source), objects(source)
    run(
        f"UPDATE {q(source)}.plain SET name = 'changed' WHERE id <= 100",
        f"INSERT INTO {q(source)}.plain (name) VALUES ('new')",
        f"DROP TABLE {q(source)}.{q(HOSTILE)}",
        f"DROP PROCEDURE {q(source)}.count_plain",
    )
    assert checksums(source) != before
    t0 = time.perf_counter()
    observed = myb.restore(endpoint(None), tmp_path, result.facts, timeout_s=120)
    print(f"\nmysql: restore over existing {time.perf_counter() - t0:.2f}s")
    assert observed == {"databases": result.facts["databases"]}
    assert checksums(source) == before
    assert objects(source) == source_objects


@pytest.fixture
def pw_user(source):
    """A user with a real password, allowed on the source and on scratch databases; dropped afterwards."""
    user = f"aegis_t_{os.getpid()}"
    conn = admin()
    try:
        cur = conn.cursor()
        cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (PASSWORD,))
        cur.execute(f"GRANT ALL PRIVILEGES ON {q(source)}.* TO '{user}'@'%'")
        cur.execute(f"GRANT ALL PRIVILEGES ON `aegis\\_scratch\\_%`.* TO '{user}'@'%'")
        cur.execute(f"GRANT SELECT ON mysql.proc TO '{user}'@'%'")
        # the dump keeps DEFINER=root clauses: recreating them as another user needs SET USER
        cur.execute(f"GRANT SET USER ON *.* TO '{user}'@'%'")
        yield user
    finally:
        cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        conn.close()


def test_no_password_in_argv_and_defaults_file_first(source, pw_user, tmp_path, monkeypatch):
    calls = []

    class SpyPopen(subprocess.Popen):
        def __init__(self, args, *a, **kw):
            calls.append(list(args))
            defaults = next(
                (a[len("--defaults-extra-file=") :] for a in args if a.startswith("--defaults-extra-file=")), None
            )
            calls[-1].append(Path(defaults).read_text() if defaults else "")
            super().__init__(args, *a, **kw)

    monkeypatch.setattr(subprocess, "Popen", SpyPopen)
    workdir = tmp_path / "work"
    workdir.mkdir()
    try:
        ep = endpoint(source, login=pw_user, password=PASSWORD)
        result = myb.dump(make_target(), ep, workdir)
        with myb.scratch(endpoint(source), "set-pw", [source]) as (_, names):
            observed = myb.restore(ep, workdir, result.facts, database_map=names, timeout_s=60)
            assert observed == {"databases": result.facts["databases"]}
    finally:
        monkeypatch.undo()
    tool_calls = [c for c in calls if "--version" not in c]
    # this user may not lock tables for a shared snapshot (no RELOAD): one dump stream, one load stream
    assert [c[0] for c in tool_calls] == ["mysqldump", "mariadb"]
    for *argv, defaults_text in tool_calls:
        assert argv[1].startswith("--defaults-extra-file=")  # the first argument
        assert not Path(argv[1].split("=", 1)[1]).exists()  # removed afterwards
        assert workdir not in Path(argv[1].split("=", 1)[1]).parents
        assert not any(PASSWORD in a for a in argv)
        assert 'password="Sup3r\\"S3cret\\\\pw#never-in-argv"' in defaults_text
    assert "--databases" not in tool_calls[0]
    assert not any(PASSWORD.encode() in gzip.decompress(p.read_bytes()) for p in workdir.iterdir())


def test_wrong_password_and_closed_port_fail_fast_without_leaking(source, tmp_path):
    for ep in (endpoint(source, password=PASSWORD), endpoint(source, port=free_port(), password=PASSWORD)):
        t0 = time.perf_counter()
        with pytest.raises((BackupToolError, MySQLdb.OperationalError)) as info:
            myb.dump(make_target(), ep, tmp_path)
        assert time.perf_counter() - t0 < 10
        assert PASSWORD not in str(info.value) and PASSWORD not in repr(info.value)


def test_tool_failure_is_backup_tool_error_without_password(source, pw_user, tmp_path):
    (tmp_path / "broken.sql.gz").write_bytes(gzip.compress(b"CREATE TABLE ok (x INT);\nTHIS IS NOT SQL;\n"))
    facts = {"databases": {"broken": {"tables": {}}}}
    with myb.scratch(endpoint(source), "set-fail", ["broken"]) as (ep, names):
        with pytest.raises(BackupToolError, match="(?s)mariadb exited 1: .*SQL syntax") as info:
            myb.restore(
                dataclasses.replace(ep, login=pw_user, password=PASSWORD),
                tmp_path,
                facts,
                database_map=names,
                timeout_s=30,
            )
    assert PASSWORD not in str(info.value)
    assert not db_exists(names["broken"])


def test_parallel_dump_counts_are_those_of_its_snapshot_while_writes_go_on(source, tmp_path):
    """Rows inserted all through the dump: what the manifest counts is exactly what the dump restores."""
    import threading

    stop = threading.Event()
    inserted = []

    def keep_writing():
        conn = admin()
        try:
            cur = conn.cursor()
            while not stop.is_set():
                cur.execute(f"INSERT INTO {q(source)}.plain (name) VALUES ('during the dump')")  # + audit by trigger
                conn.commit()
                inserted.append(1)
        finally:
            conn.close()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        while len(inserted) < 20:
            time.sleep(0.01)
        result = myb.dump(make_target(), endpoint(source), tmp_path)
        during = len(inserted)
        time.sleep(0.1)
    finally:
        stop.set()
        writer.join()
    assert (tmp_path / f"{source}.tables").is_dir()  # the parallel dump, not the single stream
    tables = result.facts["databases"][source]["tables"]
    assert 20001 + 20 <= tables["plain"] <= 20001 + during and tables["audit"] == tables["plain"] - 20000
    with myb.scratch(endpoint(source), "my-test-during", [source]) as (scratch_ep, names):
        observed = myb.restore(scratch_ep, tmp_path, result.facts, database_map=names, timeout_s=120)
        assert observed == {"databases": result.facts["databases"]}
