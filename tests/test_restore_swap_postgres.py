"""A live PostgreSQL restore on the real server: loaded into a side copy, swapped in only when it matches, with the
database's owner, ACL, settings and comment and the objects' owners and privileges back; a load that fails
half-way (the second table's data corrupted) leaves the previous database in place, same OID and content."""

from __future__ import annotations

import shutil
import uuid

import pytest
from psycopg import sql

from include.backup import postgres as pgb
from include.backup.base import BackupToolError
from tests.test_backup_postgres import admin, checksums, endpoint, make_target


def state(db: str) -> dict:
    """Everything a restore must give back: content, database properties, object owners and privileges."""
    with admin() as c:
        props = pgb.database_properties(c, db)
        oid = c.execute("select oid from pg_database where datname = %s", (db,)).fetchone()[0]
    with admin(db) as c:
        objects = c.execute(
            "select c.relname, pg_get_userbyid(c.relowner), c.relacl::text from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public'"
            " order by 1"
        ).fetchall()
    return {"content": checksums(db), "properties": props, "objects": objects, "oid": oid}


@pytest.fixture
def owned_db():
    """A database owned by an application role, PUBLIC's CONNECT revoked, settings and a comment; its tables owned
    by the app role with a grant to a reader role."""
    tag = uuid.uuid4().hex[:8]
    app, reader, db = f"aegis_app_{tag}", f"aegis_reader_{tag}", f"aegis_owned_{tag}"
    with admin() as c:
        c.execute(sql.SQL("create role {} login").format(sql.Identifier(app)))
        c.execute(sql.SQL("create role {}").format(sql.Identifier(reader)))
        c.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(db), sql.Identifier(app)))
        c.execute(sql.SQL("revoke connect on database {} from public").format(sql.Identifier(db)))
        c.execute(
            sql.SQL("grant connect, temporary on database {} to {}").format(sql.Identifier(db), sql.Identifier(reader))
        )
        c.execute(sql.SQL("alter database {} set statement_timeout = '5min'").format(sql.Identifier(db)))
        c.execute(
            sql.SQL("alter role {} in database {} set work_mem = '8MB'").format(sql.Identifier(app), sql.Identifier(db))
        )
        c.execute(sql.SQL("comment on database {} is 'the game''s data'").format(sql.Identifier(db)))
    with admin(db) as c:
        c.execute(sql.SQL("set role {}").format(sql.Identifier(app)))
        c.execute("create table accounts (id int primary key, name text)")
        c.execute("insert into accounts select g, 'a' || g from generate_series(1, 3000) g")
        c.execute("create table scores (id int primary key, score int)")
        c.execute("insert into scores select g, g * 3 from generate_series(1, 3000) g")
        c.execute(sql.SQL("grant select on accounts to {}").format(sql.Identifier(reader)))
    yield db
    with admin() as c:
        for row in c.execute("select datname from pg_database where datname like %s", (db + "%",)).fetchall():
            c.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(row[0])))
        for role in (app, reader):
            c.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def side_databases(db: str) -> list[str]:
    with admin() as c:
        return [r[0] for r in c.execute("select datname from pg_database where datname like %s", (db + "_aegis_%",))]


def test_restore_swaps_in_a_side_copy_with_owners_grants_settings_and_comment(owned_db, tmp_path):
    result = pgb.dump(make_target([owned_db]), endpoint(owned_db), tmp_path)
    before = state(owned_db)
    assert result.facts["database_properties"][owned_db] == before["properties"]
    assert before["properties"]["acl"] and before["properties"]["comment"] == "the game's data"
    with admin(owned_db) as c:
        c.execute("update accounts set name = 'changed' where id <= 10")
        c.execute("drop table scores")
    with admin() as c:
        c.execute(sql.SQL("alter database {} reset statement_timeout").format(sql.Identifier(owned_db)))
        c.execute(sql.SQL("comment on database {} is 'changed'").format(sql.Identifier(owned_db)))
        c.execute(sql.SQL("grant connect on database {} to public").format(sql.Identifier(owned_db)))
    changed = state(owned_db)
    assert changed["content"] != before["content"] and changed["properties"] != before["properties"]

    observed = pgb.restore(endpoint("postgres"), tmp_path, result.facts, timeout_s=120, replace=True)
    after = state(owned_db)
    assert observed == result.facts
    assert {k: after[k] for k in ("content", "properties", "objects")} == {
        k: before[k] for k in ("content", "properties", "objects")
    }
    assert after["oid"] != before["oid"]  # a new database was swapped in
    assert side_databases(owned_db) == []  # the replaced one dropped once the swap was confirmed


def test_a_load_failing_half_way_leaves_the_previous_database_in_place(owned_db, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    result = pgb.dump(make_target([owned_db]), endpoint(owned_db), work)
    with admin(owned_db) as c:
        c.execute("insert into accounts values (90001, 'written after the backup')")
    before = state(owned_db)
    data_files = sorted(
        (p for p in (work / owned_db).glob("*.dat*") if p.name[0].isdigit()), key=lambda p: int(p.name.split(".")[0])
    )
    assert len(data_files) == 2
    data_files[1].write_bytes(b"\x1f\x8b garbage, not the table's rows")  # the second table's data corrupted

    with pytest.raises(BackupToolError):
        pgb.restore(endpoint("postgres"), work, result.facts, timeout_s=120, replace=True)
    assert state(owned_db) == before  # same OID, content, owner, ACL, settings, comment
    assert side_databases(owned_db) == []
    shutil.rmtree(work)
