"""A live PostgreSQL restore killed half-way (SIGKILL: no except, no finally): the target stays as it was, and the
next restore clears what the killed one left (its side copy) before loading, then restores."""

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql

from tests.content_state import pg_checksums
from tests.helpers import REPO, write_inventory

L1 = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path, monkeypatch, pg_database):
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=pg_database, autocommit=True) as c:
        c.execute("create table docs (id int primary key, body text)")
        c.execute("insert into docs select g, md5(g::text) from generate_series(1, 20000) g")
    inv = write_inventory(
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        targets:
          - {name: pg, kind: postgres, conn_id: rk_pg}
        """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inv))
    monkeypatch.setenv("AIRFLOW_CONN_RK_PG", f"postgresql://postgres@127.0.0.1:5432/{pg_database}")
    yield {"tmp": tmp_path, "db": pg_database}
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as c:
        for (name,) in c.execute("select datname from pg_database where starts_with(datname, %s)", (pg_database,)):
            c.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from contextlib import contextmanager
    sys.path.insert(0, {repo!r})
    from include import locks
    from include.backup import postgres as pgb, restore
    from include.catalog import Catalog
    from include.inventory import load_inventory
    from include.targets import endpoint_for

    @contextmanager
    def short_lease(inventory, target, holder=None, catalog=None):  # so the test need not wait 120 s for expiry
        with locks.target_lease(catalog or Catalog.for_inventory(inventory), target, wait_s=5, holder=holder,
                                ttl_s=2) as held:
            yield held

    real = pgb.run_tool
    def load_then_die(argv, **kw):
        out = real(argv, **kw)
        if argv[0] == "pg_restore":
            os.kill(os.getpid(), signal.SIGKILL)  # killed after the load, before the swap
        return out

    restore.lease_for = short_lease
    pgb.run_tool = load_then_die
    inv = load_inventory()
    plan = restore.plan_restore(inv, Catalog.for_inventory(inv), "pg", {set_id!r}, dry_run=False, confirm="pg")
    restore.restore_live(inv, inv.target("pg"), endpoint_for(inv.target("pg")), plan)
    """
)


def side_copies(db: str) -> list[str]:
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as c:
        rows = c.execute("select datname from pg_database where starts_with(datname, %s)", (db + "_aegis_",))
        return [name for (name,) in rows]


def test_a_restore_killed_during_the_load_leaves_the_target_and_the_next_restore_clears_its_side_copy(world):
    from include.backup import restore, runner
    from include.catalog import Catalog
    from include.inventory import load_inventory
    from include.targets import endpoint_for

    inv = load_inventory()
    cat = Catalog.for_inventory(inv)
    target = inv.target("pg")
    set_id = runner.backup_target(inv, target, endpoint_for(target), L1, cat)["set_id"]
    backed_up = pg_checksums(world["db"])
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=world["db"], autocommit=True) as c:
        c.execute("delete from docs where id % 2 = 0")
    changed = pg_checksums(world["db"])

    child = subprocess.run(
        [sys.executable, "-c", CHILD.format(repo=str(REPO), set_id=set_id)],
        env=dict(os.environ),
        capture_output=True,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    left = side_copies(world["db"])
    assert len(left) == 1 and "_aegis_new_" in left[0]  # what the kill leaves: the loaded side copy
    assert pg_checksums(world["db"]) == changed  # and the target as it was

    plan = restore.plan_restore(inv, cat, "pg", set_id, dry_run=False, confirm="pg")
    outcome = restore.restore_live(inv, target, endpoint_for(target), plan)
    assert outcome["state"] == "restored", outcome
    assert pg_checksums(world["db"]) == backed_up
    assert side_copies(world["db"]) == []  # the killed restore's side copy is gone too


MYSQL_CHILD = CHILD.replace(
    "from include.backup import postgres as pgb, restore", "from include.backup import mysql as myb, restore"
)
MYSQL_CHILD = (
    MYSQL_CHILD.replace("real = pgb.run_tool", "real = myb._load_dump")
    .replace('if argv[0] == "pg_restore":', "if True:")
    .replace("pgb.run_tool = load_then_die", "myb._load_dump = load_then_die")
    .replace(
        "def load_then_die(argv, **kw):\n    out = real(argv, **kw)",
        "def load_then_die(*args, **kw):\n    out = real(*args, **kw)",
    )
    .replace('"pg"', '"my"')
)


@pytest.fixture
def my_world(tmp_path, monkeypatch):
    import time

    import MySQLdb

    db = f"aegis_rk_{int(time.time() * 1000) % 10**9}"
    admin = MySQLdb.connect(host="127.0.0.1", user="root", autocommit=True)
    cur = admin.cursor()
    cur.execute(f"CREATE DATABASE `{db}`")
    cur.execute(f"USE `{db}`")
    cur.execute(f"CREATE TABLE `{db}`.players (id INT PRIMARY KEY, name VARCHAR(50))")
    cur.execute(f"INSERT INTO `{db}`.players SELECT seq, CONCAT('p', seq) FROM seq_1_to_5000")
    inv = write_inventory(
        tmp_path,
        f"""
        catalog: {{path: catalog.db}}
        artifacts: {{base: artifacts}}
        targets:
          - {{name: my, kind: mysql, conn_id: rk_my, databases: [{db}]}}
        """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inv))
    monkeypatch.setenv("AIRFLOW_CONN_RK_MY", f"mysql://root@127.0.0.1:3306/{db}")
    yield {"db": db, "cur": cur}
    cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
    cur.execute("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s", (f"%\\_{db}",))
    for (name,) in cur.fetchall():
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    admin.close()


def test_a_mysql_restore_killed_during_the_load_leaves_the_target_and_the_next_restore_clears_its_side_schema(
    my_world,
):
    from include.backup import restore, runner
    from include.catalog import Catalog
    from include.inventory import load_inventory
    from include.targets import endpoint_for
    from tests.content_state import my_checksums

    db, cur = my_world["db"], my_world["cur"]

    def side_schemas() -> list[str]:
        cur.execute("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s", (f"%\\_{db}",))
        return [name for (name,) in cur.fetchall() if name.startswith("aegis_scratch_")]

    inv = load_inventory()
    cat = Catalog.for_inventory(inv)
    target = inv.target("my")
    set_id = runner.backup_target(inv, target, endpoint_for(target), L1, cat)["set_id"]
    backed_up = my_checksums(db)
    cur.execute(f"DELETE FROM `{db}`.players WHERE id % 2 = 0")
    changed = my_checksums(db)

    child = subprocess.run(
        [sys.executable, "-c", MYSQL_CHILD.format(repo=str(REPO), set_id=set_id)],
        env=dict(os.environ),
        capture_output=True,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    left = side_schemas()
    assert len(left) == 1 and left[0].startswith("aegis_scratch_new_")  # the loaded side schema, left behind
    assert my_checksums(db) == changed  # the target as it was

    plan = restore.plan_restore(inv, cat, "my", set_id, dry_run=False, confirm="my")
    outcome = restore.restore_live(inv, target, endpoint_for(target), plan)
    assert outcome["state"] == "restored", outcome
    assert my_checksums(db) == backed_up
    assert side_schemas() == []
