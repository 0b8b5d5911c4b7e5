"""MySQL / MariaDB client: a MySQLdb connection from an Endpoint, with timeouts, and identifier quoting.

MySQLdb has no identifier type: :func:`quote_ident` is the one quoting helper of the code base
(checks, backups and weekly maintenance all use it). :func:`recreate_database` and
:func:`drop_database` are the scratch-database primitives (see :mod:`include.backup.scratch`).
MySQLdb is imported inside the functions: the quoting helper is imported at DAG parse time.
"""

from __future__ import annotations

from typing import Any

from include.targets import Endpoint

DEFAULT_PORT = 3306
MAX_CONNECT_TIMEOUT_S = 30
#: ``database=NO_DATABASE`` connects without a default database (every name explicit)
NO_DATABASE = ""
#: the longest identifier, in characters
MAX_IDENT = 64
IDENT_IN_BYTES = False


def quote_ident(name: str) -> str:
    """A MySQL/MariaDB identifier in backticks, embedded backticks doubled (MySQLdb has no identifier type)."""
    return "`" + name.replace("`", "``") + "`"


def quote_ident_with_args(name: str) -> str:
    """:func:`quote_ident` for a statement executed *with* parameters: MySQLdb fills its ``%s`` by ``%``-formatting
    the whole statement, so a ``%`` in the name is doubled (without parameters it must not be)."""
    return quote_ident(name).replace("%", "%%")


def connect(
    endpoint: Endpoint,
    timeout_s: float,
    database: str | None = None,
    *,
    read_timeout_s: float | None = None,
    read_only: bool = False,
    lock_wait_timeout_s: float | None = None,
    statement_timeout_s: float | None = None,
    utc: bool = False,
) -> Any:
    """An autocommit connection with connect (at most 30 s) and read/write timeouts; the password is a
    keyword argument only.

    ``database``: None for the connection's schema, :data:`NO_DATABASE` for none. ``read_timeout_s``
    (default ``timeout_s``) bounds one statement's answer: maintenance statements (OPTIMIZE, ALTER
    TABLE) get a longer one than the connect timeout. ``read_only`` makes every transaction of the
    session read-only. ``lock_wait_timeout_s`` bounds metadata and InnoDB lock waits;
    ``statement_timeout_s`` bounds every statement on the server too (MariaDB's
    ``max_statement_time``; MySQL has no such variable and relies on the read timeout); ``utc``
    sets the session time zone to UTC. TLS: the connection extra ``ssl`` (a mapping of ``ca``/``cert``/``key``) or
    ``ssl_mode``.
    """
    import MySQLdb

    io_timeout = max(1, int(timeout_s if read_timeout_s is None else read_timeout_s))
    kwargs: dict[str, Any] = {
        "host": endpoint.host or "127.0.0.1",
        "port": int(endpoint.port or DEFAULT_PORT),
        "user": endpoint.login or "root",
        "connect_timeout": max(1, min(int(timeout_s), MAX_CONNECT_TIMEOUT_S)),
        "read_timeout": io_timeout,
        "write_timeout": io_timeout,
        "charset": "utf8mb4",
        "autocommit": True,
    }
    if endpoint.password:
        kwargs["password"] = endpoint.password
    name = endpoint.schema if database is None else database
    if name:
        kwargs["database"] = name
    extra = endpoint.extra or {}
    if isinstance(extra.get("ssl"), dict):
        kwargs["ssl"] = extra["ssl"]
    if extra.get("ssl_mode"):
        kwargs["ssl_mode"] = str(extra["ssl_mode"])
    conn = MySQLdb.connect(**kwargs)
    cur = conn.cursor()
    if read_only:
        cur.execute("SET SESSION TRANSACTION READ ONLY")
    if lock_wait_timeout_s is not None:
        cur.execute(
            "SET SESSION lock_wait_timeout = %s, SESSION innodb_lock_wait_timeout = %s",
            (int(max(1, lock_wait_timeout_s)),) * 2,
        )
    if utc:
        cur.execute("SET SESSION time_zone = '+00:00'")
    if statement_timeout_s is not None:
        try:
            cur.execute("SET SESSION max_statement_time = %s", (float(statement_timeout_s),))
        except MySQLdb.OperationalError:
            pass  # MySQL: no such variable
    _register_cancel(conn, endpoint)
    return conn


def _register_cancel(conn: Any, endpoint: Endpoint) -> None:
    """Let a bounded run cut this session's statement with ``KILL QUERY`` (:mod:`include.clients.cancel`)."""
    from include.clients.cancel import register

    thread_id = conn.thread_id()

    def kill_query() -> None:
        killer = connect(endpoint, 5, NO_DATABASE)
        try:
            killer.cursor().execute("KILL QUERY %s", (thread_id,))
        finally:
            killer.close()

    register(
        f"KILL QUERY {thread_id} on {endpoint.host or '127.0.0.1'}:{endpoint.port or DEFAULT_PORT}",
        lambda: bool(conn.open),
        kill_query,
    )


def recreate_database(endpoint: Endpoint, name: str, timeout_s: float) -> None:
    """Drop ``name`` if it exists and create it empty."""
    conn = connect(endpoint, timeout_s, NO_DATABASE)
    try:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
        conn.cursor().execute(f"CREATE DATABASE {quote_ident(name)}")
    finally:
        conn.close()


def drop_database(endpoint: Endpoint, name: str, timeout_s: float) -> None:
    """``DROP DATABASE IF EXISTS <name>``."""
    conn = connect(endpoint, timeout_s, NO_DATABASE)
    try:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
    finally:
        conn.close()


def data_folder(endpoint: Endpoint, timeout_s: float) -> str | None:
    """Where the server keeps its data (``@@datadir``, a path on the server's host)."""
    conn = connect(endpoint, timeout_s, NO_DATABASE)
    try:
        cur = conn.cursor()
        cur.execute("SELECT @@datadir")
        row = cur.fetchone()
    finally:
        conn.close()
    return row[0] if row else None
