"""planned_update through dag.test() on a database as an application really has it, on the real PostgreSQL:
owned by an application login role (not Aegis's login), PUBLIC's CONNECT revoked, CONNECT granted to the app
role and to a reader role, per-database settings (``ALTER DATABASE … SET``, ``ALTER ROLE … IN DATABASE … SET``),
a comment, a table / view / sequence / function owned by the app role, a table owned by the admin with
privileges granted to the app role, and rows.

The first migration file applies (it changes rows, a column, an owner, a grant, the database's settings,
ACL and comment), the second fails: the run rolls back, ends failed with its report written ("rolled-back"),
and afterwards everything is as before, read straight from the catalogs (not through Aegis's code):
every table's checksum, every object's owner and ACL, the database's owner, ACL, settings and comment; the
app role connects and reads and writes its own tables, and a role without CONNECT is still refused.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from include.clients.mysql import quote_ident as myq
from tests.content_state import pg_checksums
from tests.helpers import mysql_run, write_inventory
from tests.test_planned_update import MY_RELAXED, RELAXED, assert_rolled_back, conf, migrations, output, the_dag
from tests.test_restore_swap_mysql import app_db, side_schemas  # noqa: F401  (app_db: a fixture)
from tests.test_restore_swap_mysql import state as my_state

ADMIN = {"host": "127.0.0.1", "user": "postgres"}


def admin(db: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(**ADMIN, dbname=db, autocommit=True)


@pytest.fixture
def owned(tmp_path, monkeypatch, redis_server, alertmanager_server):
    """The app-owned database, its roles, and an inventory with it as target ``pg`` (plus the Redis maintenance
    flag and the Alertmanager of the planned update)."""
    tag = uuid.uuid4().hex[:8]
    app, reader, stranger, db = f"aegis_app_{tag}", f"aegis_rd_{tag}", f"aegis_no_{tag}", f"aegis_owned_{tag}"
    i = sql.Identifier
    with admin() as c:
        for role in (app, reader, stranger):
            c.execute(sql.SQL("create role {} login").format(i(role)))
        c.execute(sql.SQL("create database {} owner {}").format(i(db), i(app)))
        c.execute(sql.SQL("revoke connect, temporary on database {} from public").format(i(db)))
        c.execute(sql.SQL("grant connect on database {} to {}, {}").format(i(db), i(app), i(reader)))
        c.execute(sql.SQL("alter database {} set work_mem = '12MB'").format(i(db)))
        c.execute(sql.SQL("alter role {} in database {} set statement_timeout = '7min'").format(i(app), i(db)))
        c.execute(sql.SQL("comment on database {} is 'the game''s accounts'").format(i(db)))
    with admin(db) as c:
        c.execute("create table lookup (code text primary key, label text)")  # owned by the admin ...
        c.execute("insert into lookup values ('eu', 'Europe'), ('kr', 'Korea')")
        c.execute(sql.SQL("grant select, insert on lookup to {}").format(i(app)))  # ... granted to the app
        c.execute(sql.SQL("set role {}").format(i(app)))
        c.execute("create sequence account_ids start 1000")
        c.execute("create table accounts (id int primary key default nextval('account_ids'), name text, region text)")
        c.execute("insert into accounts (name, region) select 'a' || g, 'eu' from generate_series(1, 2000) g")
        c.execute("create table scores (account int references accounts, score int)")
        c.execute("insert into scores select id, id % 97 from accounts")
        c.execute("create view leaderboard as select account, max(score) as best from scores group by account")
        c.execute(
            "create function best_of(a int) returns int language sql stable as 'select best from leaderboard"
            " where account = a'"
        )
        c.execute(sql.SQL("grant select on accounts, leaderboard to {}").format(i(reader)))
        c.execute(sql.SQL("grant usage on sequence account_ids to {}").format(i(reader)))
        c.execute("reset role")
    inv = write_inventory(
        tmp_path,
        f"""
        catalog: {{path: catalog.db}}
        artifacts: {{base: artifacts}}
        maintenance: {{redis_conn_id: pu_cache}}
        targets:
          - name: pg
            kind: postgres
            conn_id: pu_pg
            databases: [{db}]
            update: {{migration_roots: ["{tmp_path}"]}}
            {RELAXED}
          - {{name: cache, kind: redis, conn_id: pu_cache}}
          - {{name: am, kind: alertmanager, conn_id: pu_am}}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inv))
    monkeypatch.setenv("AIRFLOW_CONN_PU_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    monkeypatch.setenv("AIRFLOW_CONN_PU_CACHE", f"redis://127.0.0.1:{redis_server}/0")
    monkeypatch.setenv("AIRFLOW_CONN_PU_AM", f"http://127.0.0.1:{alertmanager_server.port}")
    yield {
        "tmp": tmp_path,
        "db": db,
        "app": app,
        "reader": reader,
        "stranger": stranger,
        "redis": redis_server,
        "am": alertmanager_server,
    }
    with admin() as c:
        for (name,) in c.execute("select datname from pg_database where datname like %s", (db + "%",)).fetchall():
            c.execute(sql.SQL("drop database {} with (force)").format(i(name)))
        for role in (app, reader, stranger):
            c.execute(sql.SQL("drop role {}").format(i(role)))


def everything(db: str) -> dict:
    """What the database is, read from the catalogs: contents, every object's owner and ACL, and the database's
    owner, ACL, settings (by role name) and comment. Not the OID: a rollback swaps in a restored copy."""
    with admin() as c:
        database = c.execute(
            "select pg_get_userbyid(d.datdba), d.datacl::text[], shobj_description(d.oid, 'pg_database'),"
            " (select array_agg(coalesce(r.rolname, '') || ':' || array_to_string(s.setconfig, ','))"
            "  from pg_db_role_setting s left join pg_roles r on r.oid = s.setrole where s.setdatabase = d.oid)"
            " from pg_database d where d.datname = %s",
            (db,),
        ).fetchone()
    with admin(db) as c:
        relations = c.execute(
            "select c.relname, c.relkind, pg_get_userbyid(c.relowner), c.relacl::text[] from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' order by 1"
        ).fetchall()
        functions = c.execute(
            "select p.proname, pg_get_userbyid(p.proowner), p.proacl::text[] from pg_proc p"
            " join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public' order by 1"
        ).fetchall()
        schema = c.execute(
            "select pg_get_userbyid(nspowner), nspacl::text[] from pg_namespace where nspname = 'public'"
        ).fetchone()
    owner, acl, comment, settings = database
    return {
        "contents": pg_checksums(db),
        "database": (owner, sorted(acl or []), comment, sorted(settings or [])),
        "relations": relations,
        "functions": functions,
        "schema": schema,
    }


def app_reads_and_writes(world: dict) -> int:
    """Connect as the app role (its own login, its own rights) and use its objects: read, insert through the
    sequence, update, call the function, read the admin's table it was granted; rolled back (leaves no trace).
    Returns the new account's id."""
    with psycopg.connect(host="127.0.0.1", user=world["app"], dbname=world["db"]) as c:
        assert c.execute("show work_mem").fetchone()[0] == "12MB"  # the database's setting applies
        assert c.execute("show statement_timeout").fetchone()[0] == "7min"  # the role-in-database one too
        new_id = c.execute("insert into accounts (name, region) values ('new', 'kr') returning id").fetchone()[0]
        c.execute("insert into scores values (%s, 5000)", (new_id,))
        c.execute("update accounts set name = 'renamed' where id = 1000")
        assert c.execute("select best_of(%s)", (new_id,)).fetchone()[0] == 5000
        assert c.execute("select label from lookup where code = 'kr'").fetchone()[0] == "Korea"
        c.execute("insert into lookup values ('us', 'US')")
        c.rollback()
    return new_id


def database_oid(db: str) -> int:
    with admin() as c:
        return c.execute("select oid from pg_database where datname = %s", (db,)).fetchone()[0]


def refused(user: str, db: str) -> bool:
    try:
        psycopg.connect(host="127.0.0.1", user=user, dbname=db, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        return "permission denied" in str(exc)
    return False


def test_a_failure_after_a_change_leaves_an_app_owned_database_identical(airflow_db, owned, capfd, caplog):
    db, app = owned["db"], owned["app"]
    before = everything(db)
    # the set-up is what it claims to be (so "identical after" compares something real)
    owner, acl, comment, settings = before["database"]
    assert owner == app and comment == "the game's accounts"
    assert not any(a.startswith("=") for a in acl), acl  # no PUBLIC entry: CONNECT revoked
    assert sorted(settings) == [":work_mem=12MB", f"{app}:statement_timeout=7min"]
    assert {r[0]: r[2] for r in before["relations"]}["accounts"] == app
    assert {r[1] for r in before["relations"]} >= {"r", "v", "S"} and before["functions"][0][1] == app
    new_id = app_reads_and_writes(owned)
    assert refused(owned["stranger"], db)

    folder = migrations(
        owned["tmp"],
        "change-then-fail",
        {
            # applied and committed: rows, a column, an owner, grants, the database's settings, ACL and comment
            "001_change_everything.sql": f"""
                alter table accounts add column level int not null default 1;
                update accounts set name = 'migrated', region = 'kr' where id < 1100;
                delete from scores where score > 90;
                alter table scores owner to postgres;
                alter function best_of(int) owner to postgres;
                revoke execute on function best_of(int) from public;
                revoke select on accounts from {owned["reader"]};
                revoke insert on lookup from {app};
                alter database {db} set work_mem = '64MB';
                alter database {db} reset all;
                grant connect on database {db} to public;
                comment on database {db} is 'migrated';
                create table added_by_migration (id int);
            """,
            "002_fails.sql": "create table half (id int);\nselect * from no_such_table;",
        },
    )
    oid = database_oid(db)
    run = the_dag().test(run_conf=conf(update_kind="sql_migration", update_target="pg", migrations_folder=folder))
    assert_rolled_back(owned, run, lambda: everything(db), before, "002_fails.sql failed", "no_such_table")
    text = output(capfd, caplog)
    assert "DECISION: ROLLBACK" in text
    assert database_oid(db) != oid  # really rolled back: the restored copy was swapped in
    # the application still works as before: its login connects, reads, writes; a stranger is still refused
    assert app_reads_and_writes(owned) == new_id + 1
    assert refused(owned["stranger"], db)
    with admin() as c:
        left = c.execute("select datname from pg_database where datname like %s", (db + "_aegis_%",)).fetchall()
    assert left == []  # no side copy or replaced database left behind


# ----------------------------------------------------------------------------------------- MariaDB
def app_reads_and_writes_maria(db: str, app: str) -> int:
    """Connect as the app account (no password), write a score and read the table back: the row count."""
    import MySQLdb

    conn = MySQLdb.connect(host="127.0.0.1", port=3306, user=app, passwd="", database=db, connect_timeout=10)
    try:
        cur = conn.cursor()
        cur.execute("INSERT INTO scores (id, score) SELECT MAX(id) + 1, 5 FROM scores")
        conn.commit()
        cur.execute("SELECT COUNT(*) FROM scores")
        return int(cur.fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def maria_owned(app_db, tmp_path, monkeypatch, redis_server, alertmanager_server):  # noqa: F811
    """The app schema of :func:`tests.test_restore_swap_mysql.app_db` (an app account with grants on the schema,
    a table, a view and a procedure; a view, trigger, procedure and event with the app account as DEFINER; latin1
    with a comment) and a second schema in the same backup, as target ``maria`` of an inventory."""
    db, app = app_db
    other = f"{db}_other"
    mysql_run(
        f"CREATE DATABASE {myq(other)}",
        f"CREATE TABLE {myq(other)}.notes (id INT PRIMARY KEY, body VARCHAR(40))",
        f"INSERT INTO {myq(other)}.notes VALUES (1, 'before the backup')",
    )
    inv = write_inventory(
        tmp_path,
        f"""
        catalog: {{path: catalog.db}}
        artifacts: {{base: artifacts}}
        maintenance: {{redis_conn_id: pu_cache}}
        targets:
          - name: maria
            kind: mysql
            conn_id: pu_maria
            databases: [{db}, {other}]
            update: {{migration_roots: ["{tmp_path}"]}}
            {MY_RELAXED}
          - {{name: cache, kind: redis, conn_id: pu_cache}}
          - {{name: am, kind: alertmanager, conn_id: pu_am}}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inv))
    monkeypatch.setenv("AIRFLOW_CONN_PU_MARIA", "mysql://root@127.0.0.1:3306/")
    monkeypatch.setenv("AIRFLOW_CONN_PU_CACHE", f"redis://127.0.0.1:{redis_server}/0")
    monkeypatch.setenv("AIRFLOW_CONN_PU_AM", f"http://127.0.0.1:{alertmanager_server.port}")
    yield {"tmp": tmp_path, "db": db, "app": app, "other": other, "redis": redis_server, "am": alertmanager_server}
    mysql_run(f"DROP DATABASE IF EXISTS {myq(other)}")


def test_a_mariadb_failure_after_a_change_gives_back_definers_grants_and_properties_of_that_schema_only(
    airflow_db, maria_owned, monkeypatch, capfd, caplog
):
    """The first file changes rows, a column, the trigger, the view, the procedure, the event, the schema's
    charset and comment (MariaDB commits each DDL at once); the second fails. The rollback restores that schema
    only: it is as before (every table's checksum, the app account's grants, the definitions and DEFINERs, charset,
    collation, comment), and a write made to the backup's other schema after the backup is still there. The first
    file also revokes a schema-level and a table-level grant of the app account: the rollback gives both back (the
    backup recorded them as ``schema_grants``) and the app account reads and writes again."""
    from include.update import backups

    db, app, other = maria_owned["db"], maria_owned["app"], maria_owned["other"]
    real = backups.back_up_all

    def then_write(*args, **kwargs):  # an application write to the other schema between the backup and the update
        out = real(*args, **kwargs)
        mysql_run(f"INSERT INTO {myq(other)}.notes VALUES (2, 'after the backup')")
        return out

    monkeypatch.setattr(backups, "back_up_all", then_write)
    assert app_reads_and_writes_maria(db, app) == 3002  # the app account works (a write: before the state is read)
    before = my_state(db, app)
    assert before["triggers"] and before["views"] and before["routines"] and before["events"]
    folder = migrations(
        maria_owned["tmp"],
        "my-change-then-fail",
        {
            "001_change_everything.sql": f"""
                ALTER TABLE accounts ADD COLUMN level INT NOT NULL DEFAULT 1;
                UPDATE accounts SET name = 'migrated' WHERE id <= 100;
                DELETE FROM scores WHERE id > 2500;
                DROP TRIGGER log_score;
                CREATE OR REPLACE SQL SECURITY DEFINER VIEW top_scores AS SELECT id FROM scores;
                DROP PROCEDURE count_accounts;
                CREATE PROCEDURE count_accounts() SELECT 1;
                ALTER EVENT trim_log ON SCHEDULE EVERY 2 DAY;
                ALTER DATABASE {myq(db)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci COMMENT 'migrated';
                CREATE TABLE added_by_migration (id INT);
                REVOKE SELECT, INSERT ON {myq(db)}.* FROM '{app}'@'%';
                REVOKE ALTER ON {myq(db)}.accounts FROM '{app}'@'%';
            """,
            "002_fails.sql": "CREATE TABLE half (id INT); SELECT * FROM no_such_table;",
        },
    )
    run = the_dag().test(run_conf=conf(update_kind="sql_migration", update_target="maria", migrations_folder=folder))
    assert_rolled_back(maria_owned, run, lambda: my_state(db, app), before, "002_fails.sql failed", "no_such_table")
    assert "DECISION: ROLLBACK" in output(capfd, caplog)
    assert side_schemas(db) == []  # no side or replaced schema left behind
    # the grants the migration revoked are back (my_state compared SHOW GRANTS) and the app account works again
    assert f"GRANT ALTER ON `{db}`.`accounts` TO `{app}`@`%`" in before["grants"]
    assert app_reads_and_writes_maria(db, app) == 3003
    # only the migrated schema was restored: the other schema of the same backup keeps its later write
    assert mysql_run(f"SELECT id, body FROM {myq(other)}.notes ORDER BY id") == (
        (1, "before the backup"),
        (2, "after the backup"),
    )
