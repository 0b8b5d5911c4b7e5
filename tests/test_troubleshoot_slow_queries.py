"""Slow statements held open in the real PostgreSQL and MariaDB: found, cancelled only after approval,
not cancelled when refused or when the session changed."""

from __future__ import annotations

import dataclasses
import threading
import time

import MySQLdb
import psycopg
import pytest

from include.incidents.slow_queries import cancel, find_mysql, find_postgres, normalise


def test_normalise_hides_literals():
    assert (
        normalise("select * from t where name = 'O''Brien' and id = 42  and x=3.5")
        == "select * from t where name = ? and id = ? and x=?"
    )


class Held:
    """A statement running on its own connection in a thread; ``error`` says how it ended."""

    def __init__(self, connect, sql: str):
        self.conn = connect()
        self.error: Exception | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(sql,), daemon=True)
        self.thread.start()

    def _run(self, sql):
        try:
            cur = self.conn.cursor()
            cur.execute(sql)
            cur.fetchall()
        except Exception as exc:  # noqa: BLE001 - the test reads it
            self.error = exc
        self.done.set()


def pg():
    return psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True)


def maria():
    return MySQLdb.connect(host="127.0.0.1", user="root", connect_timeout=5)


def wait_found(find, conn, marker: str, timeout_s: float = 10):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [q for q in find(conn, 1) if marker in q.query]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no slow statement with {marker!r}")


@pytest.mark.parametrize(
    ("connect", "find", "sql", "marker"),
    [
        (pg, find_postgres, "select pg_sleep(20), 'secret-literal' as aegis_slow_pg", "aegis_slow_pg"),
        (maria, find_mysql, "select sleep(20), 'secret-literal' as aegis_slow_my", "aegis_slow_my"),
    ],
)
def test_slow_query_cancelled_only_after_approval_of_the_same_session(connect, find, sql, marker):
    held = Held(connect, sql)
    admin = connect()
    try:
        slow = wait_found(find, admin, marker)
        assert "secret-literal" not in slow.query and "?" in slow.query and slow.seconds >= 1
        # refused: nothing happens
        assert cancel(admin, slow, "Reject")["cancelled"] is False
        # another session (same pid, other start / statement): nothing happens
        other = dataclasses.replace(slow, session="1999-01-01T00:00:00+00:00" if slow.kind == "postgres" else "0")
        outcome = cancel(admin, other, "Approve")
        assert outcome["cancelled"] is False and "session changed" in outcome["why"]
        # the same statement text, but started after the approval (it has run for less time than approved)
        if slow.kind == "mysql":
            restarted = dataclasses.replace(slow, seconds=slow.seconds + 600)
            assert cancel(admin, restarted, "Approve")["cancelled"] is False
        time.sleep(0.5)
        assert not held.done.is_set(), "the statement was cancelled without an approval of its session"
        # approved, same session: cancelled
        assert cancel(admin, slow, "Approve")["cancelled"] is True
        assert held.done.wait(10) and held.error is not None
    finally:
        held.done.wait(25)
        held.conn.close()
        admin.close()


@pytest.fixture
def maria_db():
    import secrets

    name = f"aegis_slowq_{secrets.token_hex(4)}"
    admin = maria()
    admin.cursor().execute(f"CREATE DATABASE `{name}`")
    yield name
    admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    admin.close()


def test_mysql_locked_tables_and_zero_cardinality_indexes(maria_db):
    from include.incidents.slow_queries import mysql_locked_tables, mysql_zero_cardinality_indexes

    holder, admin = maria(), maria()
    try:
        cur = holder.cursor()
        cur.execute(f"CREATE TABLE `{maria_db}`.players (id int primary key, name varchar(20), key ix_name (name))")
        cur.execute(f"ANALYZE TABLE `{maria_db}`.players")
        cur.fetchall()
        assert {"table": "players", "index": "ix_name"} in mysql_zero_cardinality_indexes(admin, maria_db)
        cur.execute(f"LOCK TABLES `{maria_db}`.players WRITE")
        locked = mysql_locked_tables(admin)
        assert {"database": maria_db, "table": "players", "in_use": 1} in locked
        cur.execute("UNLOCK TABLES")
        assert all(t["database"] != maria_db for t in mysql_locked_tables(admin))
    finally:
        holder.close()
        admin.close()


def test_postgres_top_statements_say_when_the_extension_is_missing(pg_database):
    from include.incidents.slow_queries import postgres_top_statements

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=pg_database, autocommit=True) as conn:
        assert postgres_top_statements(conn) is None  # a fresh database has no pg_stat_statements
