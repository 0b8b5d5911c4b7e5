"""When a bounded run's time is up, the statement it left running is cancelled on the server: gone from
``pg_stat_activity`` / the MariaDB processlist within moments, and the result says what was cut."""

from __future__ import annotations

import time

import psycopg

from include.checks.base import run_bounded
from include.clients import mysql as my_client
from include.clients import postgres as pg_client
from include.targets import Endpoint
from tests.helpers import mysql_run


def still_running(probe, seconds: float = 5.0) -> bool:
    """Whether ``probe()`` stays true for ``seconds`` (polled)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not probe():
            return False
        time.sleep(0.1)
    return True


def test_a_postgres_statement_cut_by_the_bound_leaves_pg_stat_activity():
    seen = {}

    def slow_check():
        conn = pg_client.connect(
            Endpoint(host="127.0.0.1", port=5432, login="postgres"),
            60,
            statement_timeout_s=120,
            application_name="aegis-cancel-test",
        )
        seen["pid"] = conn.info.backend_pid
        conn.execute("select pg_sleep(60)")

    result = run_bounded("pg", "postgres", slow_check, 1.5)

    assert result.status == "unreachable"
    assert "cancelled on the server: cancel of backend" in result.findings[0].message
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as c:

        def active() -> bool:
            return (
                c.execute(
                    "select count(*) from pg_stat_activity where pid = %s and state = 'active'"
                    " and query like 'select pg_sleep%%'",
                    (seen["pid"],),
                ).fetchone()[0]
                == 1
            )

        assert not still_running(active)


def test_a_mariadb_statement_cut_by_the_bound_leaves_the_processlist():
    seen = {}

    def slow_check():
        conn = my_client.connect(Endpoint(host="127.0.0.1", port=3306, login="root"), 60, my_client.NO_DATABASE)
        seen["id"] = conn.thread_id()
        conn.cursor().execute("SELECT SLEEP(60)")

    result = run_bounded("maria", "mysql", slow_check, 1.5)

    assert result.status == "unreachable"
    assert f"KILL QUERY {seen['id']}" in result.findings[0].message

    def running() -> bool:
        return bool(
            mysql_run(
                "SELECT COUNT(*) FROM information_schema.processlist WHERE id = %s AND info LIKE 'SELECT SLEEP%%'",
                args=(seen["id"],),
            )[0][0]
        )

    assert not still_running(running)


def test_connections_closed_in_time_are_not_cancelled():
    def quick_check():
        conn = my_client.connect(Endpoint(host="127.0.0.1", port=3306, login="root"), 5, my_client.NO_DATABASE)
        conn.close()
        time.sleep(3)

    result = run_bounded("maria", "mysql", quick_check, 1)
    assert result.findings[0].message == "no answer within 1s"


def test_a_blocked_redis_command_cut_by_the_bound_leaves_the_client_list(redis_server):
    import redis

    from include.clients import redis as redis_client

    def blocked_check():
        client = redis_client.connect(Endpoint(host="127.0.0.1", port=redis_server), 60)
        client.client_setname("aegis-cancel-test")
        client.blpop(["aegis-test:never-filled"], timeout=60)

    result = run_bounded("cache", "redis", blocked_check, 1.5)

    assert "cancelled on the server: closing the redis client" in result.findings[0].message
    admin = redis.Redis(port=redis_server)

    def blocked() -> bool:
        return any(c.get("name") == "aegis-cancel-test" for c in admin.client_list())

    assert not still_running(blocked)
