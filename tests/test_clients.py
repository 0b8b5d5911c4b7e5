"""The connection layer against the real local servers: read-only sessions, timeouts, TLS settings from
the extras, the private redis-server, and the scratch-database lifecycle."""

from __future__ import annotations

import time
import uuid

import MySQLdb
import psycopg
import pytest
import redis

from include.backup import scratch
from include.clients import http, mysql, postgres
from include.clients import redis as redis_client
from include.targets import Endpoint
from tests.helpers import free_port, mysql_run

PG = Endpoint(host="127.0.0.1", port=5432, login="postgres")
MY = Endpoint(host="127.0.0.1", port=3306, login="root")


def test_postgres_sessions_are_read_only_unless_asked(pg_database):
    with postgres.connect(PG, 5, pg_database) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("create table t (id int)")
    with postgres.connect(PG, 5, pg_database, read_only=False) as conn:
        conn.execute("create table t (id int)")
        assert conn.execute("show statement_timeout").fetchone()[0] == "5s"


def test_postgres_statement_timeout_bounds_a_slow_statement(pg_database):
    with postgres.connect(PG, 1, pg_database) as conn:
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("select pg_sleep(10)")
    assert time.monotonic() - started < 5


def test_postgres_tls_settings_come_from_the_extras():
    with pytest.raises(psycopg.OperationalError, match="(?i)ssl"):  # the local server has no TLS
        postgres.connect(Endpoint(host="127.0.0.1", login="postgres", extra={"sslmode": "require"}), 5)


def test_mysql_read_only_session_and_no_default_database():
    db = f"aegis_clients_{uuid.uuid4().hex[:8]}"
    mysql_run(f"CREATE DATABASE {mysql.quote_ident(db)}", f"CREATE TABLE {mysql.quote_ident(db)}.t (id INT)")
    try:
        conn = mysql.connect(MY, 5, db, read_only=True)
        try:
            with pytest.raises(MySQLdb.OperationalError, match="READ ONLY"):
                conn.cursor().execute("INSERT INTO t VALUES (1)")
        finally:
            conn.close()
        conn = mysql.connect(Endpoint(host="127.0.0.1", login="root", schema=db), 5, mysql.NO_DATABASE)
        try:
            cur = conn.cursor()
            cur.execute("SELECT DATABASE()")
            assert cur.fetchone()[0] is None  # NO_DATABASE overrides the connection's schema
        finally:
            conn.close()
    finally:
        mysql_run(f"DROP DATABASE IF EXISTS {mysql.quote_ident(db)}")


def test_mysql_identifier_quoting_doubles_backticks():
    assert mysql.quote_ident("we`ird") == "`we``ird`"


def test_a_down_server_fails_within_the_timeout():
    port = free_port()
    for attempt in (
        lambda: postgres.connect(Endpoint(host="127.0.0.1", port=port), 2),
        lambda: mysql.connect(Endpoint(host="127.0.0.1", port=port), 2),
        lambda: redis_client.connect(Endpoint(host="127.0.0.1", port=port), 2).ping(),
    ):
        started = time.monotonic()
        with pytest.raises((psycopg.OperationalError, MySQLdb.OperationalError, redis.exceptions.ConnectionError)):
            attempt()
        assert time.monotonic() - started < 3


def test_private_redis_server_applies_options_and_is_gone_afterwards():
    with redis_client.private_server(options=("--maxmemory", "1mb"), databases=4) as port:
        client = redis_client.connect(Endpoint(host="127.0.0.1", port=port), 2)
        assert client.config_get("maxmemory")["maxmemory"] == str(2**20)
        assert client.config_get("databases")["databases"] == "4"
        client.close()
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=port, socket_connect_timeout=1).ping()


def test_http_requests_take_credentials_and_tls_from_the_endpoint():
    ep = Endpoint(host="svc.example", port=8443, schema="https", login="u", password="p", extra={"verify": "false"})
    assert http.base_url(ep) == "https://svc.example:8443"
    assert http.basic_auth(ep) == ("u", "p") and "p@" not in http.base_url(ep)
    assert http.tls_verify(ep) is False
    assert http.tls_verify(Endpoint(host="h", extra={"verify": "/etc/ca.pem"})) == "/etc/ca.pem"
    assert http.tls_verify(Endpoint(host="h")) is True


def pg_exists(name: str) -> bool:
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as c:
        return c.execute("select 1 from pg_database where datname = %s", (name,)).fetchone() is not None


def my_exists(name: str) -> bool:
    return bool(mysql_run("SHOW DATABASES LIKE %s", args=(name,)))


def test_scratch_databases_are_dropped_even_when_the_body_fails():
    set_id = f"set-{uuid.uuid4().hex[:6]}"
    for client, endpoint, exists in ((postgres, PG, pg_exists), (mysql, MY, my_exists)):
        with pytest.raises(RuntimeError, match="boom"):
            with scratch.scratch_databases(client, endpoint, set_id, ["a", "b"]) as (ep, names):
                assert ep.schema == names["a"] and all(exists(n) for n in names.values())
                raise RuntimeError("boom")
        assert not any(exists(n) for n in names.values())


def test_scratch_names_fit_the_server_limits():
    long = "é" * 70
    assert len(scratch.scratch_name(postgres, "s", long).encode()) <= 63
    assert len(scratch.scratch_name(mysql, "s", long)) <= 64
    assert scratch.scratch_name(mysql, "s", long + "a") != scratch.scratch_name(mysql, "s", long + "b")
