"""PostgreSQL backups: one ``pg_dump --format=directory`` per database, consistent with its facts.

For each database a REPEATABLE READ transaction exports its snapshot, counts the rows
of every user table inside it, and stays open while ``pg_dump --snapshot=<id>`` dumps:
the counts recorded in the manifest and the dump see exactly the same data.

Credentials reach the tools through a PGPASSFILE in a private temporary folder (never
the work folder, whose content is uploaded) and PG* environment variables; no password
is ever on a command line. Identifiers are always quoted with ``psycopg.sql.Identifier``.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from include.backup import scratch as scratch_lifecycle
from include.backup.base import BackupToolError, DumpResult, run_tool, secret_file, tool_version
from include.backup.scratch import scratch_databases
from include.clients import postgres as pg_client
from include.clients.postgres import connect, maintenance_database
from include.targets import Endpoint

if TYPE_CHECKING:
    from include.inventory import Target


CONNECT_TIMEOUT_S = 30

COUNTED_TABLES = """
    select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
      and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp\\_%'
    order by 1, 2"""


def _connect(endpoint: Endpoint, database: str, timeout_s: float, *, autocommit: bool = True,
             read_only: bool = True) -> psycopg.Connection:
    """:func:`include.clients.postgres.connect` for backups: ``idle_in_transaction_session_timeout`` off,
    because the snapshot-exporting session sits idle while pg_dump runs and must not be cut off."""
    return connect(endpoint, timeout_s, database, autocommit=autocommit, read_only=read_only,
                   idle_in_transaction_timeout_s=0, application_name="aegis-backup")


def _folder(workdir: Path, db: str) -> Path:
    """``workdir/<db>``, refusing database names that would escape the work folder."""
    if not db or "/" in db or "\0" in db or db in (".", ".."):
        raise ValueError(f"database name {db!r} cannot be used as a backup folder name")
    return workdir / db


def _snapshot_transaction(conn: psycopg.Connection) -> None:
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True


def _count_tables(conn: psycopg.Connection) -> dict[str, int]:
    """Exact row counts of every user table, ``{"schema.table": rows}``, in the connection's transaction."""
    counts = {}
    for schema, table in conn.execute(COUNTED_TABLES).fetchall():
        query = sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))
        counts[f"{schema}.{table}"] = conn.execute(query).fetchone()[0]
    return counts


@contextmanager
def _tool_env(endpoint: Endpoint, connect_s: float) -> Iterator[dict[str, str]]:
    """Environment for the native tools: PGPASSFILE in a private temp folder, removed afterwards."""
    env = {"PGHOST": endpoint.host or "127.0.0.1", "PGPORT": str(endpoint.port or 5432),
           "PGUSER": endpoint.login or "postgres", "PGCONNECT_TIMEOUT": str(max(1, int(connect_s)))}
    if endpoint.extra.get("sslmode"):
        env["PGSSLMODE"] = str(endpoint.extra["sslmode"])
    with tempfile.TemporaryDirectory(prefix="aegis-pgpass-") as private:
        esc = lambda s: s.replace("\\", "\\\\").replace(":", "\\:")  # noqa: E731 - .pgpass field escaping
        line = f"*:*:*:{esc(env['PGUSER'])}:{esc(endpoint.password or '')}\n"
        env["PGPASSFILE"] = str(secret_file(Path(private), "pgpass", line))
        yield env


def _dbname_arg(db: str) -> str:
    """``--dbname`` as a conninfo string, so a database name holding ``=`` is never parsed as one."""
    return f"--dbname={make_conninfo(dbname=db)}"


def dump(target: Target, endpoint: Endpoint, workdir: Path) -> DumpResult:
    """Dump every database of the target (default: the connection's own) into ``workdir/<db>/``."""
    jobs = int(target.backup.get("jobs", 2))
    compress = int(target.backup.get("compress", 1))  # gzip level: 1 is several times faster than pg_dump's 6
    timeout_s = float(target.backup.get("timeout_seconds", 3600))
    connect_s = min(float(target.timeout_seconds or CONNECT_TIMEOUT_S), CONNECT_TIMEOUT_S)
    databases = list(target.options.get("databases") or [maintenance_database(endpoint)])
    versions = {"pg_dump": tool_version(["pg_dump", "--version"])}
    facts: dict[str, dict] = {}
    with _tool_env(endpoint, connect_s) as env:
        for db in databases:
            folder = _folder(workdir, db)
            with _connect(endpoint, db, timeout_s, autocommit=False) as conn:
                _snapshot_transaction(conn)
                snapshot = conn.execute("select pg_export_snapshot()").fetchone()[0]
                versions.setdefault("server", conn.execute("show server_version").fetchone()[0])
                # pg_dump runs in the exported snapshot while this transaction counts the rows of the very
                # same snapshot; the transaction stays open until pg_dump is done (the snapshot must stay
                # importable by its workers)
                with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg_dump") as pool:
                    argv = ["pg_dump", "--format=directory", f"--jobs={jobs}", f"--compress={compress}",
                            "--no-password", f"--snapshot={snapshot}", f"--file={folder}", _dbname_arg(db)]
                    dumping = pool.submit(run_tool, argv, env=env, timeout_s=timeout_s)
                    facts[db] = {"tables": _count_tables(conn)}
                    dumping.result()
                conn.rollback()
    return DumpResult(tool_versions=versions, facts={"databases": facts})


def facts(endpoint: Endpoint, databases: list[str], timeout_s: float) -> dict:
    """Row counts of every user table of each database, each database read in one snapshot."""
    out = {}
    for db in databases:
        with _connect(endpoint, db, timeout_s, autocommit=False) as conn:
            _snapshot_transaction(conn)
            out[db] = {"tables": _count_tables(conn)}
            conn.rollback()
    return {"databases": out}


def _exists(conn: psycopg.Connection, db: str) -> bool:
    return conn.execute("select 1 from pg_database where datname = %s", (db,)).fetchone() is not None


def restore(endpoint: Endpoint, workdir: Path, manifest_facts: dict, *, database_map: dict[str, str] | None = None,
            timeout_s: float, replace: bool = False) -> dict:
    """``pg_restore`` each database's dump into ``database_map[db]`` (default: the same name).

    A missing database is created (from template0). With ``replace`` an existing database is
    dropped (its sessions terminated) and recreated first, so the result is exactly the
    backup, tables created since included; without it the dump is restored over it with
    ``--clean --if-exists`` (objects created after the backup are left alone). Returns the
    facts observed after the load, keyed by the original database names.
    """
    originals = list(manifest_facts.get("databases", {}))
    database_map = database_map or {db: db for db in originals}
    jobs = max(1, min(4, os.cpu_count() or 1))
    with _tool_env(endpoint, min(timeout_s, CONNECT_TIMEOUT_S)) as env:
        for original in originals:
            db = database_map[original]
            with _connect(endpoint, maintenance_database(endpoint, avoid=db), timeout_s, read_only=False) as conn:
                existing = _exists(conn, db)
                if existing and replace:
                    conn.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(db)))
                    existing = False
                if not existing:
                    conn.execute(sql.SQL("create database {} template template0").format(sql.Identifier(db)))
            argv = ["pg_restore", f"--jobs={jobs}", "--no-owner", "--exit-on-error", "--no-password"]
            argv += ["--clean", "--if-exists"] if existing else []
            run_tool(argv + [_dbname_arg(db), str(_folder(workdir, original))], env=env, timeout_s=timeout_s)
    observed = facts(endpoint, [database_map[db] for db in originals], timeout_s)["databases"]
    return {"databases": {db: observed[database_map[db]] for db in originals}}


def scratch_name(set_id: str, db: str) -> str:
    """``aegis_scratch_<hash of set id>_<db>``, cut to 63 bytes (with a hash of ``db`` when cut)."""
    return scratch_lifecycle.scratch_name(pg_client, set_id, db)


@contextmanager
def scratch(endpoint: Endpoint, set_id: str, databases: list[str]) -> Iterator[tuple[Endpoint, dict[str, str]]]:
    """Empty throwaway databases on the same server, dropped (``WITH (FORCE)``) at exit, even on error
    (:func:`include.backup.scratch.scratch_databases`)."""
    with scratch_databases(pg_client, endpoint, set_id, databases) as made:
        yield made


__all__ = ["BackupToolError", "dump", "facts", "restore", "scratch", "scratch_name"]
