"""Airflow's metadata database for ``./aegis up`` (standalone): the local PostgreSQL when it answers, else SQLite.

SQLite allows one writer at a time: concurrent triggers and a backfill under ``airflow standalone`` answer
HTTP 500 with ``sqlite3.OperationalError: database is locked``. When a PostgreSQL answers on
``AEGIS_METADATA_PG`` (``127.0.0.1:5432`` by default) within :data:`PROBE_TIMEOUT_S`, ``./aegis up`` keeps
Airflow's metadata in a dedicated database there (``AEGIS_STANDALONE_METADATA_DB``, by default
:data:`STANDALONE_DB`, created when missing; never dropped by Aegis); otherwise it stays in
``$AIRFLOW_HOME/airflow.db`` (SQLite), as before.

Run as ``python -m deploy.metadata url [--sqlite PATH] [--no-create]``: prints the SQLAlchemy URL to use.
"""

from __future__ import annotations

import argparse
import os
import sys

#: The standalone's metadata database (the distributed shape uses ``aegis_airflow``; tests their own names).
STANDALONE_DB = "aegis_standalone"
#: Seconds the probe of the local PostgreSQL may take (a closed port answers at once; a filtered one waits).
PROBE_TIMEOUT_S = 2.0
USER = "postgres"


def _address(value: str | None) -> tuple[str, int]:
    """``host:port`` (``AEGIS_METADATA_PG``) as a pair; a clear error for anything else."""
    host, _, port = (value or "127.0.0.1:5432").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"AEGIS_METADATA_PG: expected host:port, got {value!r}")
    return host, int(port)


def postgres_answers(host: str, port: int, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a PostgreSQL server accepts a login as ``postgres`` at ``host:port`` within ``timeout_s``."""
    import psycopg

    try:
        with psycopg.connect(
            host=host, port=port, user=USER, dbname="postgres", connect_timeout=max(1, round(timeout_s))
        ) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def ensure_database(host: str, port: int, name: str, timeout_s: float = 10) -> bool:
    """Create database ``name`` unless it exists (identifier quoted by the driver); True when it was created."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=host, port=port, user=USER, dbname="postgres", autocommit=True, connect_timeout=max(1, round(timeout_s))
    ) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def drop_database(host: str, port: int, name: str, timeout_s: float = 10) -> None:
    """Drop database ``name`` if it exists, closing its sessions (the tests' teardown; ``./aegis`` never drops)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=host, port=port, user=USER, dbname="postgres", autocommit=True, connect_timeout=max(1, round(timeout_s))
    ) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def postgres_url(host: str, port: int, name: str) -> str:
    """The SQLAlchemy URL of metadata database ``name`` (psycopg2, as the distributed shape and docker-compose)."""
    return f"postgresql+psycopg2://{USER}@{host}:{port}/{name}"


def metadata_url(
    sqlite_path: str,
    *,
    address: str | None = None,
    database: str = STANDALONE_DB,
    create: bool = True,
    timeout_s: float = PROBE_TIMEOUT_S,
) -> str:
    """The metadata URL: PostgreSQL ``database`` at ``address`` when it answers (created unless ``create`` is
    off), else SQLite at ``sqlite_path``."""
    host, port = _address(address)
    if not postgres_answers(host, port, timeout_s):
        return f"sqlite:///{sqlite_path}"
    if create:
        ensure_database(host, port, database)
    return postgres_url(host, port, database)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.metadata", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["url"])
    parser.add_argument("--sqlite", default=os.path.join(os.environ.get("AIRFLOW_HOME", "."), "airflow.db"))
    parser.add_argument("--no-create", action="store_true", help="do not create the PostgreSQL database")
    args = parser.parse_args(argv)
    try:
        url = metadata_url(
            args.sqlite,
            address=os.environ.get("AEGIS_METADATA_PG"),
            database=os.environ.get("AEGIS_STANDALONE_METADATA_DB") or STANDALONE_DB,
            create=not args.no_create,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
