"""Hostile names through backup, verification (scratch) and a live restore, on the real servers."""

from __future__ import annotations

import uuid

import pytest
from psycopg import sql

from include.backup import postgres as pgb
from include.targets import Endpoint
from tests.test_backup_postgres import admin, checksums, endpoint, make_target


def hostile_pg_name(tag: str) -> str:
    """A database / role name with quotes, a backtick, space, ``;``, ``--``, LIKE wildcards, unicode and
    uppercase, padded to exactly PostgreSQL's 63-byte identifier limit."""
    name = f"Ae'\"`; --%_é{tag}"
    return name + "x" * (63 - len(name.encode()))


@pytest.fixture
def hostile_pg_db():
    tag = uuid.uuid4().hex[:8]
    db, role = hostile_pg_name(tag), hostile_pg_name(tag)[:-1] + "R"
    assert len(db.encode()) == 63
    with admin() as c:
        c.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
        c.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(db), sql.Identifier(role)))
        c.execute(sql.SQL("comment on database {} is {}").format(sql.Identifier(db), sql.Literal("it's; -- %_")))
    with admin(db) as c:
        c.execute(sql.SQL("create schema {}").format(sql.Identifier("Sch'em a;--%")))
        c.execute(
            sql.SQL("create table {} ({} int primary key, {} text)").format(
                sql.Identifier("Sch'em a;--%", 'Ta"ble `x`_%'), sql.Identifier("I d"), sql.Identifier("Va'l;--")
            )
        )
        c.execute(
            sql.SQL("insert into {} select g, 'v' || g from generate_series(1, 50) g").format(
                sql.Identifier("Sch'em a;--%", 'Ta"ble `x`_%')
            )
        )
    yield db
    with admin() as c:
        for (name,) in c.execute("select datname from pg_database where position(%s in datname) > 0", (tag,)):
            c.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))
        c.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def test_postgres_hostile_names_dump_scratch_and_live_restore(hostile_pg_db, tmp_path):
    db = hostile_pg_db
    result = pgb.dump(make_target([db]), endpoint(db), tmp_path)
    before = checksums(db)
    assert result.facts["databases"][db]["tables"] == {"Sch'em a;--%.Ta\"ble `x`_%": 50}
    with pgb.scratch(endpoint(db), "set-hostile", [db]) as (scratch_endpoint, names):
        assert len(names[db].encode()) <= 63
        observed = pgb.restore(scratch_endpoint, tmp_path, result.facts, database_map=names, timeout_s=60)
        assert observed["databases"][db] == result.facts["databases"][db]
    with admin(db) as c:
        c.execute('delete from "Sch\'em a;--%"."Ta""ble `x`_%" where "I d" > 10')
    observed = pgb.restore(endpoint("postgres"), tmp_path, result.facts, timeout_s=60, replace=True)
    assert observed["databases"] == result.facts["databases"]
    assert checksums(db) == before
    with admin() as c:
        props = pgb.database_properties(c, db)
    assert props == result.facts["database_properties"][db]

    # weekly maintenance (dry run) and the daily check, on the hostile names
    from datetime import UTC, datetime

    from include.checks import Window, run_check
    from include.inventory import parse_inventory
    from include.weekly import postgres as wpg

    target = parse_inventory(
        {"targets": [{"name": "pg-hostile", "kind": "postgres", "conn_id": "x", "databases": [db]}]}
    ).targets[0]
    with admin(db) as c:
        c.execute('delete from "Sch\'em a;--%"."Ta""ble `x`_%" where "I d" > 40')  # dead tuples to look at
    weekly = wpg.maintain(target, endpoint(None), {**wpg.DEFAULTS, "dead_tuples_min": 1}, dry_run=True)
    assert not [f for f in weekly.findings if "rror" in f.message], weekly.findings
    (row,) = weekly.details["tables"]
    assert (row["database"], row["schema"], row["table"], row["dead_tuples_before"]) == (
        db,
        "Sch'em a;--%",
        'Ta"ble `x`_%',
        10,
    )
    now = datetime.now(UTC)
    daily = run_check(target, endpoint(db), Window(now, now))
    assert not [f for f in daily.findings if "rror" in f.message], daily.findings


USER = "aegis_h%x_"  # a grantee of the hostile database's procedure


@pytest.fixture
def hostile_my_db():
    from include.backup.mysql import quote_ident as q
    from tests.helpers import mysql_run

    tag = uuid.uuid4().hex[:8]
    VAL = 'Va"l'  # noqa: N806
    # ASCII only: MariaDB 10.11 stores a non-ASCII database name double-encoded in mysql.procs_priv (see the report)
    name = f"Ae'\"`; --%_.{tag}"
    db = name + "x" * (64 - len(name))  # MySQL's limit: 64 characters
    mysql_run(
        f"CREATE DATABASE {q(db)}",
        f"CREATE TABLE {q(db)}.{q('Ta`ble; --%_é')} ({q('I d')} INT PRIMARY KEY, {q(VAL)} TEXT)",
        f"INSERT INTO {q(db)}.{q('Ta`ble; --%_é')} VALUES (1, 'a'), (2, 'b;--'), (3, 'c')",
        f"CREATE VIEW {q(db)}.{q('Vi`ew %')} AS SELECT * FROM {q(db)}.{q('Ta`ble; --%_é')}",
        f"ALTER DATABASE {q(db)} COMMENT 'it''s; -- %_'",
        f"CREATE USER {q(USER + tag)}@'%'",
        f"CREATE PROCEDURE {q(db)}.{q('pr%oc`_x')}() SELECT 1",
        f"GRANT EXECUTE ON PROCEDURE {q(db)}.{q('pr%oc`_x')} TO {q(USER + tag)}@'%'",
        f"CREATE TABLE {q(db)}.ev (id INT PRIMARY KEY, created DATETIME)",
        f"INSERT INTO {q(db)}.ev VALUES (1, NOW() - INTERVAL 90 DAY), (2, NOW() - INTERVAL 80 DAY), (3, NOW())",
    )
    yield db
    for (schema,) in mysql_run("SELECT schema_name FROM information_schema.schemata"):
        if tag in schema:
            mysql_run(f"DROP DATABASE {q(schema)}")
    mysql_run(f"DROP USER IF EXISTS {q(USER + tag)}@'%'")


def test_mysql_hostile_names_dump_scratch_and_live_restore(hostile_my_db, tmp_path):
    from include.backup import mysql as myb
    from tests.helpers import mysql_run
    from tests.test_backup_mysql import checksums
    from tests.test_backup_mysql import endpoint as my_endpoint
    from tests.test_backup_mysql import make_target as my_target

    db = hostile_my_db
    result = myb.dump(my_target([db]), my_endpoint(db), tmp_path)
    before = checksums(db)
    with myb.scratch(my_endpoint(db), "set-hostile", [db]) as (scratch_endpoint, names):
        assert len(names[db]) <= 64
        observed = myb.restore(scratch_endpoint, tmp_path, result.facts, database_map=names, timeout_s=60)
        assert observed["databases"][db] == result.facts["databases"][db]
    mysql_run(
        f"DELETE FROM {myb.quote_ident(db)}.{myb.quote_ident('Ta`ble; --%_é')} WHERE {myb.quote_ident('I d')} > 1"
    )
    mysql_run(f"ALTER DATABASE {myb.quote_ident(db)} COMMENT 'changed'")
    proc = f"{myb.quote_ident(db)}.{myb.quote_ident('pr%oc`_x')}"
    grant = f"GRANT EXECUTE ON PROCEDURE {proc} TO {myb.quote_ident(USER + db.rstrip('x')[-8:])}@'%'"
    mysql_run(
        f"DROP PROCEDURE {proc}", f"CREATE PROCEDURE {proc}() SELECT 2", grant
    )  # differs: the restore recreates it
    observed = myb.restore(my_endpoint(db), tmp_path, result.facts, timeout_s=60, replace=True)
    assert observed["databases"][db] == result.facts["databases"][db]
    assert checksums(db) == before
    assert myb.schemas_properties(my_endpoint(db), [db], 10)[db] == result.facts["database_properties"][db]
    grants = mysql_run(
        "SELECT Db, Routine_name, Proc_priv FROM mysql.procs_priv WHERE User LIKE %s", args=(USER + "%",)
    )
    assert [(d, n, p) for d, n, p in grants if d == db] == [(db, "pr%oc`_x", "Execute")]  # the grant given back

    # the weekly purge of a table in this database (named with the dot in backticks): counted in a dry run, then done
    from datetime import UTC, datetime

    from include.checks import Window, run_check
    from include.inventory import parse_inventory
    from include.weekly import mysql as wmy

    target = parse_inventory(
        {"targets": [{"name": "my-hostile", "kind": "mysql", "conn_id": "x", "databases": [db]}]}
    ).targets[0]
    purge = [{"table": f"{myb.quote_ident(db)}.ev", "column": "created", "older_than_days": 30, "batch_size": 10}]
    for dry_run, expected in ((True, (2, 0, "would do")), (False, (2, 2, "done"))):
        weekly = wmy.maintain(target, my_endpoint(None), {**wmy.DEFAULTS, "purge": purge}, dry_run=dry_run)
        assert [(r["expired"], r["deleted"], r["action"]) for r in weekly.details["purge"]] == [expected]
    assert mysql_run(f"SELECT id FROM {myb.quote_ident(db)}.ev") == ((3,),)
    now = datetime.now(UTC)
    daily = run_check(target, my_endpoint(db), Window(now, now))
    assert not [f for f in daily.findings if "Error" in f.message], daily.findings  # no SQL error on the names


def test_side_and_scratch_names_of_long_hostile_names_fit_and_stay_different():
    """Two databases at the identifier limit that differ only at the end get different side copies (they were both
    cut to the same prefix) and different scratch databases, on both servers, each within the server's limit."""
    from include.backup import mysql as myb

    a, b = hostile_pg_name("a"), hostile_pg_name("a")[:-1] + "y"
    assert len(a.encode()) == len(b.encode()) == 63
    for role in ("new", "replaced"):
        sides = {pgb.side_name(db, role) for db in (a, b)}
        assert len(sides) == 2 and all(len(s.encode()) <= 63 and f"_aegis_{role}_" in s for s in sides)
    assert pgb.side_name("short", "new").startswith("short_aegis_new_")  # a name that fits is kept whole
    assert pgb.side_name("é" * 31, "new").encode().decode()  # cut on a character boundary
    assert len({pgb.scratch_name("set", db) for db in (a, b)}) == 2
    c, d = "é" * 63 + "a", "é" * 63 + "b"
    for role in ("new", "replaced"):
        sides = {myb.side_name(role, db) for db in (c, d)}
        assert len(sides) == 2 and all(len(s) <= 64 for s in sides)
    assert len({myb.scratch_name("set", db) for db in (c, d)}) == 2 and all(
        len(myb.scratch_name("set", db)) <= 64 for db in (c, d)
    )


#: Redis keys with spaces, newlines, binary bytes, glob metacharacters and the empty name
HOSTILE_KEYS = [
    b"",
    b"a b",
    b"new\nline\r\n",
    b"\x00\xff\xfe bin",
    b"glob*?[x]\\",
    b"aegis:cache:*",
    b"aegis:cache:\n[?]",
]


def test_redis_hostile_keys_survive_backup_restore_and_only_pattern_keys_are_cleaned(redis_server, tmp_path):
    import time

    import redis

    from include.backup import redis as redis_backup
    from include.weekly import redis_cleanup
    from tests.test_backup_redis import no_sync_delay, redis_target
    from tests.test_weekly_redis_cleanup import TARGET

    no_sync_delay(redis_server)
    client = redis.Redis(port=redis_server, socket_timeout=5)
    for i, key in enumerate(HOSTILE_KEYS):
        client.set(key, b"v\x00" + bytes([i]))
    client.hset(b"h \n*", mapping={b"f\x00": b"\xff"})
    before = {k: client.dump(k) for k in client.scan_iter(count=100)}
    assert len(before) == len(HOSTILE_KEYS) + 1
    endpoint = Endpoint(host="127.0.0.1", port=redis_server)
    result = redis_backup.dump(redis_target(), endpoint, tmp_path)
    assert result.facts == {"keys_without_ttl": {"db0": len(before)}}
    client.delete(b"\x00\xff\xfe bin", b"")
    client.set(b"glob*?[x]\\", b"changed")
    redis_backup.restore(endpoint, tmp_path, result.facts, timeout_s=60, flush=True)
    assert {k: client.dump(k) for k in client.scan_iter(count=100)} == before

    time.sleep(2.2)  # idle past the cleanup's threshold (OBJECT IDLETIME has a 1 s resolution)
    settings = {**redis_cleanup.DEFAULTS, "patterns": ["aegis:cache:*"], "idle_seconds": 1}
    dry = redis_cleanup.maintain(TARGET, endpoint, settings, dry_run=True)
    (row,) = dry.details["patterns"]
    assert row["matched"] == 2 and row["deleted"] == 0
    assert sorted(s["key"] for s in row["samples"]) == ["aegis:cache:\n[?]", "aegis:cache:*"]
    assert set(client.scan_iter(count=100)) == set(before)  # a dry run deletes nothing (SCAN touches no key)
    redis_cleanup.maintain(TARGET, endpoint, settings, dry_run=False)
    left = set(client.scan_iter(count=100))
    assert left == set(before) - {b"aegis:cache:*", b"aegis:cache:\n[?]"}
    client.close()


def test_mysql_table_setting_takes_a_database_name_with_a_dot_in_backticks():
    from include.weekly.mysql.session import split_table

    assert split_table("app.events") == ("app", "events")
    assert split_table("app.ses`sions; x") == ("app", "ses`sions; x")  # the table part as written, as before
    assert split_table("`my.db`.events") == ("my.db", "events")
    assert split_table("`a``b.c`.`t.x`") == ("a`b.c", "t.x")
    for bad in ("events", "`my.db`", "`my.db`.", "`open.events", ".events"):
        with pytest.raises(ValueError, match="purge.0..table: must be 'database.table'"):
            split_table(bad, "purge[0].table")


@pytest.mark.parametrize(
    "password",
    [
        "p$(touch {canary})`touch {canary}`;|&<>'\"\\#!* ~",  # shell metacharacters: never run by a shell
        "  lead, tab\tand trail  ",
        "new\nline and \r return",
        "x$'\"\\" * 200,  # 1000 characters
    ],
)
def test_mysql_tools_log_in_with_a_hostile_password_given_only_through_the_defaults_file(
    password, tmp_path, monkeypatch
):
    """Real authentication (MariaDB checks the password): the dump tools read it from the option file, quoted so
    that none of these characters is lost or interpreted; no process argument carries it."""
    import subprocess

    from include.backup import mysql as myb
    from tests.helpers import mysql_run
    from tests.test_backup_mysql import endpoint as my_endpoint
    from tests.test_backup_mysql import make_target as my_target

    canary = tmp_path / "injected"
    password = password.replace("{canary}", str(canary))
    tag = uuid.uuid4().hex[:8]
    db, user = f"aegis_pw_{tag}", f"aegis_pw_{tag}"
    q = myb.quote_ident
    argvs: list[list[str]] = []

    class Spy(subprocess.Popen):
        def __init__(self, args, *a, **kw):
            argvs.append([str(x) for x in args])
            super().__init__(args, *a, **kw)

    mysql_run(f"CREATE DATABASE {q(db)}", f"CREATE TABLE {q(db)}.t (x INT)", f"INSERT INTO {q(db)}.t VALUES (1), (2)")
    try:
        mysql_run(f"CREATE USER {q(user)}@'%%' IDENTIFIED BY %s", args=(password,))
        mysql_run(f"GRANT ALL PRIVILEGES ON {q(db)}.* TO {q(user)}@'%'")
        monkeypatch.setattr(subprocess, "Popen", Spy)
        work = tmp_path / "work"
        work.mkdir()
        result = myb.dump(my_target([db]), my_endpoint(db, login=user, password=password), work)
    finally:
        monkeypatch.undo()
        mysql_run(f"DROP DATABASE IF EXISTS {q(db)}", f"DROP USER IF EXISTS {q(user)}@'%'")
    assert result.facts["databases"][db] == {"tables": {"t": 2}}
    assert any("dump" in argv[0] for argv in argvs) and not any(password in " ".join(a) for a in argvs)
    assert not canary.exists()


@pytest.fixture(scope="module")
def scram_cluster():
    """A private PostgreSQL (initdb, pg_ctl) whose TCP logins need a password (scram-sha-256); the socket trusts."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    from tests.helpers import free_port
    from tests.test_checks_postgres_deep import PG_BIN

    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL server binaries not installed")
    folder = Path(tempfile.mkdtemp(prefix="aegis-pg-scram-"))
    shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"]
    initdb = [str(PG_BIN / "initdb"), "-D", str(data), "--auth-host=scram-sha-256", "--auth-local=trust"]
    subprocess.run([*as_postgres, *initdb, "-U", "postgres"], check=True, capture_output=True, timeout=120)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    pg_ctl = [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(data)]
    subprocess.run([*pg_ctl, "-l", str(folder / "log"), "-w", "-o", options, "start"], check=True, timeout=120)
    try:
        yield folder, port
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize(
    "password",
    ["p$(id)`id`;|&<>'\"\\#!* ~:colon", "  lead and trail  ", "new\nline", "x$'\"\\:" * 200],
)
def test_postgres_tools_log_in_with_a_hostile_password(scram_cluster, password, tmp_path):
    """Real authentication: pg_dump gets the password only through its private password file, and logs in."""
    import psycopg

    folder, port = scram_cluster
    with psycopg.connect(host=str(folder), port=port, user="postgres", dbname="postgres", autocommit=True) as c:
        c.execute("drop database if exists hostile_pw")
        c.execute("drop role if exists hostile_pw")
        c.execute(sql.SQL("create role hostile_pw login password {}").format(sql.Literal(password)))
        c.execute("create database hostile_pw owner hostile_pw")
    ep = Endpoint(host="127.0.0.1", port=port, login="hostile_pw", password=password, schema="hostile_pw")
    with psycopg.connect(host="127.0.0.1", port=port, user="hostile_pw", password=password, dbname="hostile_pw") as c:
        c.execute("create table t (x int)")
        c.execute("insert into t values (1), (2)")
    result = pgb.dump(make_target(["hostile_pw"]), ep, tmp_path)
    assert result.facts["databases"]["hostile_pw"]["tables"] == {"public.t": 2}
