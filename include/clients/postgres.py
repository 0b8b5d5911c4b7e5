"""PostgreSQL client: a psycopg connection from an Endpoint, timeouts and read-only by default.

Identifiers are always quoted by the driver (``psycopg.sql.Identifier``); :func:`recreate_database`
and :func:`drop_database` are the scratch-database primitives (see :mod:`include.backup.scratch`).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from include.targets import Endpoint

DEFAULT_PORT = 5432
#: a long statement budget is no reason to wait long to connect
MAX_CONNECT_TIMEOUT_S = 30
#: libpq TLS settings taken from the connection's extras when present
TLS_EXTRAS = ("sslmode", "sslrootcert", "sslcert", "sslkey")
#: NAMEDATALEN - 1: the longest identifier, in bytes
MAX_IDENT = 63
IDENT_IN_BYTES = True


def connect(
    endpoint: Endpoint,
    timeout_s: float,
    database: str | None = None,
    *,
    read_only: bool = True,
    statement_timeout_s: float | None = None,
    lock_timeout_s: float | None = None,
    idle_in_transaction_timeout_s: float | None = None,
    autocommit: bool = True,
    application_name: str = "aegis-health-check",
) -> psycopg.Connection:
    """A connection with connect (at most 30 s) and statement timeouts, read-only unless asked otherwise.

    ``database`` defaults to the connection's schema, else ``postgres``. ``statement_timeout_s``
    defaults to ``timeout_s``; ``lock_timeout_s`` and ``idle_in_transaction_timeout_s`` are only
    set when given. The password goes to libpq as a keyword argument: never into a DSN string,
    a log line or a process argument list.
    """
    statement_ms = int((timeout_s if statement_timeout_s is None else statement_timeout_s) * 1000)
    options = f"-c statement_timeout={statement_ms}"
    if lock_timeout_s is not None:
        options += f" -c lock_timeout={int(lock_timeout_s * 1000)}"
    if idle_in_transaction_timeout_s is not None:
        options += f" -c idle_in_transaction_session_timeout={int(idle_in_transaction_timeout_s * 1000)}"
    if read_only:
        options += " -c default_transaction_read_only=on"
    tls: dict[str, Any] = {key: str(endpoint.extra[key]) for key in TLS_EXTRAS if (endpoint.extra or {}).get(key)}
    conn = psycopg.connect(
        host=endpoint.host or "127.0.0.1",
        port=endpoint.port or DEFAULT_PORT,
        user=endpoint.login or "postgres",
        password=endpoint.password or None,
        dbname=database or endpoint.schema or "postgres",
        connect_timeout=max(1, min(int(timeout_s), MAX_CONNECT_TIMEOUT_S)),
        options=options,
        application_name=application_name,
        autocommit=autocommit,
        **tls,
    )
    _register_cancel(conn, endpoint)
    return conn


def scalar(conn: psycopg.Connection, query: Any, params: Any = None) -> Any:
    """The first column of the first row of ``query`` (a LookupError naming the query when there is no row)."""
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise LookupError(f"no row from {str(query)[:80]!r}")
    return row[0]


def _register_cancel(conn: psycopg.Connection, endpoint: Endpoint) -> None:
    """Let a bounded run cut this session's statement: the protocol's cancel request, as ``pg_cancel_backend``
    does (:mod:`include.clients.cancel`)."""
    from include.clients.cancel import register

    register(
        f"cancel of backend {conn.info.backend_pid} on {endpoint.host or '127.0.0.1'}:{endpoint.port or DEFAULT_PORT}",
        lambda: not conn.closed,
        conn.cancel,
    )


def maintenance_database(endpoint: Endpoint, avoid: str | None = None) -> str:
    """The database to connect to for CREATE / DROP DATABASE: the connection's own, unless that
    is the one being dropped (a session cannot drop the database it is connected to)."""
    own = endpoint.schema or "postgres"
    if own != avoid:
        return own
    return "postgres" if avoid != "postgres" else "template1"


def recreate_database(endpoint: Endpoint, name: str, timeout_s: float) -> None:
    """Drop ``name`` if it exists (``WITH (FORCE)``) and create it empty from ``template0``."""
    ident = sql.Identifier(name)
    with connect(
        endpoint, timeout_s, maintenance_database(endpoint, name), read_only=False, application_name="aegis-backup"
    ) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(ident))
        conn.execute(sql.SQL("create database {} template template0").format(ident))


def drop_database(endpoint: Endpoint, name: str, timeout_s: float) -> None:
    """``DROP DATABASE IF EXISTS <name> WITH (FORCE)``: sessions still connected to it are ended."""
    with connect(
        endpoint, timeout_s, maintenance_database(endpoint, name), read_only=False, application_name="aegis-backup"
    ) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def data_folder(endpoint: Endpoint, timeout_s: float) -> str | None:
    """Where the server keeps its data (``data_directory``, a path on the server's host)."""
    with connect(endpoint, timeout_s, maintenance_database(endpoint), application_name="aegis-backup") as conn:
        row = conn.execute("select setting from pg_settings where name = 'data_directory'").fetchone()
    return row[0] if row else None
