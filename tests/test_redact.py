"""Nothing sensitive leaves the worker: statement literals become placeholders (real PostgreSQL and MariaDB
sessions, the daily checks and the drain's session list, rendered into a report), URLs lose their secrets,
connection secrets are registered with Airflow's secrets masker."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from datetime import UTC, datetime

import MySQLdb
import psycopg
import pytest
from psycopg import sql

from include import redact
from include.checks import Window, run_check
from include.inventory import parse_inventory
from include.rendering import render_html, render_json, render_markdown
from include.report import Report
from include.targets import Endpoint, mask_connection_secrets
from include.update.drain import active_sessions

CARD, PASSWORD = "4111111111111111", "hunter2"
NOW = datetime.now(UTC)


@pytest.mark.parametrize(
    "text, dialect, expected",
    [
        (
            f"SELECT * FROM cards WHERE card = '{CARD}' AND n = 42",
            "postgres",
            "SELECT * FROM cards WHERE card = $1 AND n = $2",
        ),
        (f"ALTER ROLE x PASSWORD '{PASSWORD}'", "mysql", "ALTER ROLE x PASSWORD ?"),
        (
            "select t1.c2, \"Col 1\" from t1 where a = E'it''s' and b = $$x$$ -- note\n and c = 1.5e3",
            "postgres",
            'select t1.c2, "Col 1" from t1 where a = $1 and b = $2 \n and c = $3',
        ),
        ('insert into t values ("x", 0x1F) /* pw */', "mysql", "insert into t values (?, ?)"),
        (f"select * from t where card = '{CARD[:8]}", "postgres", "select * from t where card = $1"),  # cut off
    ],
)
def test_statement_literals_become_placeholders(text, dialect, expected):
    assert redact.statement(text, dialect) == expected


def test_innodb_deadlock_keeps_no_statement_literal_or_row_data():
    section = (
        "LATEST DETECTED DEADLOCK\n*** (1) TRANSACTION:\nTRANSACTION 22564, ACTIVE 0 sec starting index read\n"
        "MariaDB thread id 5777, OS thread handle 1402, query id 56631 127.0.0.1 root Updating\n"
        f"UPDATE acct SET card = '{CARD}' WHERE id = 1\n*** WAITING FOR THIS LOCK TO BE GRANTED:\n"
        "RECORD LOCKS space id 1954 page no 3 n bits 320 index PRIMARY of table `db`.`acct`\n"
        f" 0: len 16; hex {CARD.encode().hex()}; asc {CARD};;\n"
    )
    cleaned = redact.innodb_deadlock(section)
    assert CARD not in cleaned and CARD.encode().hex() not in cleaned
    assert "UPDATE acct SET card = ? WHERE id = ?" in cleaned and "MariaDB thread id 5777" in cleaned
    assert " 0: len 16; hex ?; asc ?;;" in cleaned and "TRANSACTION 22564" in cleaned


def test_url_loses_userinfo_and_query_secrets():
    assert (
        redact.url("https://ops:s3cret@h.example:8443/health?token=abc&verbose=1&api_key=k#frag")
        == "https://h.example:8443/health?token=REDACTED&verbose=1&api_key=REDACTED"
    )


def test_connection_password_and_secret_extras_are_masked():
    from airflow.sdk.execution_time.secrets_masker import redact as mask

    registered = mask_connection_secrets(
        "pw-9f3a", {"ssl": {"key_password": "kp-77"}, "region": "eu-1", "api_token": "tok-5"}
    )
    assert sorted(registered) == ["kp-77", "pw-9f3a", "tok-5"]
    assert mask("login with pw-9f3a, token tok-5 and kp-77 in eu-1") == "login with ***, token *** and *** in eu-1"


def _background(run) -> threading.Thread:
    thread = threading.Thread(target=lambda: _quietly(run), daemon=True)
    thread.start()
    return thread


def _quietly(run) -> None:
    with contextlib.suppress(Exception):  # the session is closed under it at the end
        run()


def test_report_built_while_sessions_run_secret_literals_contains_neither(pg_database):
    role = f"aegis_redact_{os.getpid()}"
    my_db = f"aegis_redact_{os.getpid()}_{int(time.time()) % 10**6}"
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=pg_database, autocommit=True) as c:
        c.execute("create table cards (card text)")
        c.execute("insert into cards values ('x')")
        c.execute(sql.SQL("create role {}").format(sql.Identifier(role)))
    admin = MySQLdb.connect(host="127.0.0.1", user="root", autocommit=True)
    admin.cursor().execute(f"CREATE DATABASE `{my_db}`")
    pg_select = psycopg.connect(host="127.0.0.1", user="postgres", dbname=pg_database, autocommit=True)
    pg_alter = psycopg.connect(host="127.0.0.1", user="postgres", dbname=pg_database)
    my_select = MySQLdb.connect(host="127.0.0.1", user="root", db=my_db, autocommit=True)
    try:
        pg_alter.execute(f"ALTER ROLE {role} PASSWORD '{PASSWORD}'")  # left idle in its transaction
        threads = [
            _background(lambda: pg_select.execute(f"SELECT pg_sleep(4), card FROM cards WHERE card <> '{CARD}'")),
            _background(lambda: my_select.cursor().execute(f"SELECT SLEEP(4) FROM dual WHERE '{CARD}' <> 'x'")),
        ]
        time.sleep(2)
        pg_target = parse_inventory(
            {
                "targets": [
                    {
                        "name": "pg",
                        "kind": "postgres",
                        "conn_id": "c",
                        "databases": [pg_database],
                        "thresholds": {
                            "long_transaction_warning_s": 1,
                            "long_statement_warning_s": 1,
                            "idle_in_transaction_warning": 1,
                        },
                    }
                ]
            }
        ).targets[0]
        my_target = parse_inventory(
            {"targets": [{"name": "maria", "kind": "mysql", "conn_id": "m", "thresholds": {"long_query_s": 1}}]}
        ).targets[0]
        pg_end, my_end = (
            Endpoint(host="127.0.0.1", port=5432, login="postgres"),
            Endpoint(host="127.0.0.1", login="root"),
        )
        rows = [
            run_check(pg_target, pg_end, Window(NOW, NOW)).to_dict(),
            run_check(my_target, my_end, Window(NOW, NOW)).to_dict(),
        ]
        sessions = {
            "pg": active_sessions("postgres", pg_end, [pg_database], 10),
            "maria": active_sessions("mysql", my_end, [my_db], 10),
        }
        for t in threads:
            t.join(10)
    finally:
        pg_alter.rollback()
        for conn in (pg_select, pg_alter, my_select):
            conn.close()
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{my_db}`")
        admin.close()
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as c:
            c.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
    report = Report.build("daily_health_check", "redaction", "run-1", NOW, NOW, rows, extra={"sessions": sessions})
    rendered = render_json(report) + render_markdown(report) + render_html(report)
    # the statements were collected (normalised), and no literal is left
    assert (
        "pg_sleep($1), card FROM cards WHERE card &lt;&gt; $2" in rendered
        or "pg_sleep($1), card FROM cards WHERE card <> $2" in rendered
    )
    assert f"ALTER ROLE {role} PASSWORD $1" in rendered
    assert "SELECT SLEEP(?) FROM dual WHERE ? <> ?" in rendered
    assert CARD not in rendered and PASSWORD not in rendered
