"""PostgreSQL backups against the real local server: dump, restore into scratch and over the live
database, content checksums, hostile table names, and no password on any command line."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from include.backup import postgres as pgb
from include.backup.base import BackupToolError
from include.inventory import Target
from include.targets import Endpoint
from tests.helpers import free_port

HOSTILE = 'we"ird; drop table plain; -- name'
PASSWORD = "Sup3r:S3cret\\pw-never-in-argv"


def admin(db="postgres"):
    return psycopg.connect(host="127.0.0.1", user="postgres", dbname=db, autocommit=True)


def make_target(databases=(), jobs=2) -> Target:
    return Target(
        "pg-test",
        "postgres",
        "pg_test",
        (),
        {},
        10.0,
        {"databases": list(databases)},
        backup={"jobs": jobs, "timeout_seconds": 120},
    )


def endpoint(db, **kw) -> Endpoint:
    return Endpoint(**{"host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": db, **kw})


def db_exists(name) -> bool:
    with admin() as c:
        return c.execute("select 1 from pg_database where datname = %s", (name,)).fetchone() is not None


def checksums(db) -> dict[str, str]:
    """md5 of every user table's rows in a stable order."""
    with admin(db) as c:
        out = {}
        for schema, table in c.execute(pgb.COUNTED_TABLES).fetchall():
            q = sql.SQL("select md5(coalesce(string_agg(t::text, ',' order by t::text), '')) from {} t").format(
                sql.Identifier(schema, table)
            )
            out[f"{schema}.{table}"] = c.execute(q).fetchone()[0]
        return out


@pytest.fixture
def source(pg_database):
    """A database with a few tables (one with a hostile name, one in another schema), a view and data."""
    with admin(pg_database) as c:
        c.execute("create table plain (id serial primary key, name text, payload bytea, at timestamptz default now())")
        c.execute(
            "insert into plain (name, payload) select 'row ' || g, decode(md5(g::text), 'hex')"
            " from generate_series(1, 20000) g"
        )
        c.execute(sql.SQL("create table {} (k text primary key, v jsonb)").format(sql.Identifier(HOSTILE)))
        c.execute(
            sql.SQL("insert into {} values ('a', '{{\"x\": 1}}'), ('b;c', null), ('\"q\"', '[]')").format(
                sql.Identifier(HOSTILE)
            )
        )
        c.execute("create schema other")
        c.execute("create table other.items (id int primary key, plain_id int references public.plain(id))")
        c.execute("insert into other.items select g, g from generate_series(1, 500) g")
        c.execute("create table empty_one (x int)")
        c.execute("create view plain_names as select name from plain")
    return pg_database


def test_dump_restore_into_scratch_matches_source(source, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    t0 = time.perf_counter()
    result = pgb.dump(make_target(), endpoint(source), workdir)
    dump_s = time.perf_counter() - t0
    tables = result.facts["databases"][source]["tables"]
    assert tables == {"public.plain": 20000, f"public.{HOSTILE}": 3, "other.items": 500, "public.empty_one": 0}
    assert (workdir / source / "toc.dat").exists()
    assert result.tool_versions["pg_dump"].startswith("pg_dump (PostgreSQL)")
    assert pgb.facts(endpoint(source), [source], 10) == {"databases": result.facts["databases"]}

    before = checksums(source)
    with pgb.scratch(endpoint(source), "pg-test-20260101T000000Z", [source]) as (scratch_ep, names):
        scratch_db = names[source]
        assert scratch_db.startswith("aegis_scratch_") and scratch_ep.schema == scratch_db
        assert db_exists(scratch_db)
        t0 = time.perf_counter()
        observed = pgb.restore(scratch_ep, workdir, result.facts, database_map=names, timeout_s=120)
        restore_s = time.perf_counter() - t0
        assert observed == {"databases": result.facts["databases"]}
        assert checksums(scratch_db) == before
        with admin(scratch_db) as c:
            assert c.execute("select count(*) from plain_names").fetchone()[0] == 20000
    assert not db_exists(scratch_db)
    print(
        f"\npostgres: dump {dump_s:.2f}s, restore into scratch {restore_s:.2f}s, "
        f"{sum(p.stat().st_size for p in workdir.rglob('*') if p.is_file())} bytes"
    )


def test_scratch_is_dropped_on_error(source):
    with pytest.raises(RuntimeError, match="boom"):
        with pgb.scratch(endpoint(source), "set-err", [source, "other db"]) as (_, names):
            assert all(db_exists(n) for n in names.values())
            raise RuntimeError("boom")
    assert not any(db_exists(n) for n in names.values())


def test_scratch_names_fit_and_differ():
    long_a, long_b = "a" * 60 + "x", "a" * 60 + "y"
    a, b = pgb.scratch_name("s", long_a), pgb.scratch_name("s", long_b)
    assert len(a.encode()) <= 63 and len(b.encode()) <= 63 and a != b
    assert len(pgb.scratch_name("s", "é" * 40).encode()) <= 63
    assert pgb.scratch_name("s", "db") == pgb.scratch_name("s", "db") != pgb.scratch_name("t", "db")


def test_restore_over_existing_database_brings_back_backup_state(source, tmp_path):
    result = pgb.dump(make_target([source]), endpoint(source), tmp_path)
    before = checksums(source)
    with admin(source) as c:
        c.execute("update plain set name = 'changed' where id <= 100")
        c.execute("insert into plain (name) values ('new')")
        c.execute("delete from other.items where id > 250")
        c.execute(sql.SQL("drop table {}").format(sql.Identifier(HOSTILE)))
    assert checksums(source) != before
    t0 = time.perf_counter()
    observed = pgb.restore(endpoint(source), tmp_path, result.facts, timeout_s=120)
    print(f"\npostgres: restore over existing {time.perf_counter() - t0:.2f}s")
    assert observed == {"databases": result.facts["databases"]}  # a scratch-style load: no properties
    assert checksums(source) == before


def test_facts_and_dump_share_one_snapshot_under_concurrent_writes(source, tmp_path):
    stop = threading.Event()

    def writer():
        with admin(source) as c:
            while not stop.is_set():
                c.execute("insert into plain (name) select 'w' from generate_series(1, 50)")
                c.execute("delete from other.items where id = (select min(id) from other.items)")

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.1)
        result = pgb.dump(make_target(jobs=3), endpoint(source), tmp_path)
    finally:
        stop.set()
        thread.join()
    recorded = result.facts["databases"][source]["tables"]["public.plain"]
    assert pgb.facts(endpoint(source), [source], 10)["databases"][source]["tables"]["public.plain"] > recorded
    with pgb.scratch(endpoint(source), "set-busy", [source]) as (ep, names):
        assert pgb.restore(ep, tmp_path, result.facts, database_map=names, timeout_s=120) == {
            "databases": result.facts["databases"]
        }


def test_no_password_in_argv_and_passfile_outside_workdir(source, tmp_path, monkeypatch):
    role = f"aegis_t_{os.getpid()}"
    with admin() as c:
        c.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
        c.execute(sql.SQL("create role {} login password {}").format(sql.Identifier(role), sql.Literal(PASSWORD)))
        c.execute(sql.SQL("grant pg_read_all_data to {}").format(sql.Identifier(role)))
    calls = []

    class SpyPopen(subprocess.Popen):
        def __init__(self, args, *a, **kw):
            env = kw.get("env") or {}
            passfile = env.get("PGPASSFILE")
            calls.append((list(args), dict(env), passfile and open(passfile).read()))
            super().__init__(args, *a, **kw)

    monkeypatch.setattr(subprocess, "Popen", SpyPopen)
    workdir = tmp_path / "work"
    workdir.mkdir()
    try:
        result = pgb.dump(make_target(), endpoint(source, login=role, password=PASSWORD), workdir)
    finally:
        monkeypatch.undo()
        with admin() as c:
            c.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
    assert result.facts["databases"][source]["tables"]["public.plain"] == 20000
    dumps = [c for c in calls if c[0][0] == "pg_dump" and "--version" not in c[0]]
    assert len(dumps) == 1
    argv, env, passfile_text = dumps[0]
    assert any(a.startswith("--snapshot=") for a in argv)
    for args, env_, _ in calls:
        assert not any(PASSWORD in a for a in args)
        assert not any(PASSWORD in v for k, v in env_.items() if k != "PGPASSFILE")
    assert env["PGUSER"] == role and env["PGHOST"] == "127.0.0.1" and env["PGPORT"] == "5432"
    assert "Sup3r\\:S3cret\\\\pw" in passfile_text  # .pgpass escaping of ':' and '\'
    assert workdir not in Path(env["PGPASSFILE"]).parents
    assert not os.path.exists(env["PGPASSFILE"])  # removed after the dump
    assert not any(PASSWORD.encode() in p.read_bytes() for p in workdir.rglob("*") if p.is_file())


def test_closed_port_fails_fast_without_leaking_password(tmp_path):
    t0 = time.perf_counter()
    with pytest.raises((BackupToolError, psycopg.OperationalError)) as info:
        pgb.dump(make_target(), endpoint("postgres", port=free_port(), password=PASSWORD), tmp_path)
    assert time.perf_counter() - t0 < 10
    assert PASSWORD not in str(info.value) and PASSWORD not in repr(info.value)


def test_tool_failure_is_backup_tool_error_without_password(source, tmp_path):
    facts = {"databases": {"missing_db": {"tables": {}}}}
    with pgb.scratch(endpoint(source), "set-fail", ["missing_db"]) as (ep, names):
        with pytest.raises(BackupToolError, match="pg_restore exited") as info:
            pgb.restore(dataclasses.replace(ep, password=PASSWORD), tmp_path, facts, database_map=names, timeout_s=30)
    assert PASSWORD not in str(info.value)
    assert not db_exists(names["missing_db"])
