"""Hostile names through backup, verification (scratch) and a live restore, on the real servers."""

from __future__ import annotations

import uuid

import pytest
from psycopg import sql

from include.backup import postgres as pgb
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


@pytest.fixture
def hostile_my_db():
    from include.backup.mysql import quote_ident as q
    from tests.helpers import mysql_run

    tag = uuid.uuid4().hex[:8]
    VAL = 'Va"l'  # noqa: N806
    name = f"Ae'\"`; --%_é{tag}"
    db = name + "x" * (64 - len(name))  # MySQL's limit: 64 characters
    mysql_run(
        f"CREATE DATABASE {q(db)}",
        f"CREATE TABLE {q(db)}.{q('Ta`ble; --%_')} ({q('I d')} INT PRIMARY KEY, {q(VAL)} TEXT)",
        f"INSERT INTO {q(db)}.{q('Ta`ble; --%_')} VALUES (1, 'a'), (2, 'b;--'), (3, 'c')",
        f"CREATE VIEW {q(db)}.{q('Vi`ew %')} AS SELECT * FROM {q(db)}.{q('Ta`ble; --%_')}",
    )
    yield db
    for (schema,) in mysql_run("SELECT schema_name FROM information_schema.schemata"):
        if tag in schema:
            mysql_run(f"DROP DATABASE {q(schema)}")


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
    mysql_run(f"DELETE FROM {myb.quote_ident(db)}.{myb.quote_ident('Ta`ble; --%_')} WHERE {myb.quote_ident('I d')} > 1")
    observed = myb.restore(my_endpoint(db), tmp_path, result.facts, timeout_s=60, replace=True)
    assert observed["databases"][db] == result.facts["databases"][db]
    assert checksums(db) == before


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
