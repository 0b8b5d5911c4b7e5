"""MySQL / MariaDB backups: one gzip-compressed logical dump per database, ``workdir/<db>.sql.gz``.

``mysqldump`` (or ``mariadb-dump``) runs with ``--single-transaction`` plus routines, triggers
and events, *without* ``--databases``: the file holds no ``CREATE DATABASE``/``USE`` and so
restores into any database name (a scratch copy, for verification).

Credentials reach the tools through a ``--defaults-extra-file`` (always the first argument)
in a private temporary folder outside the work folder; no password is on a command line.
MySQLdb has no identifier type: names are quoted by the shared :func:`include.clients.mysql.quote_ident`.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from include.backup import scratch as scratch_lifecycle
from include.backup.base import BackupToolError, DumpResult, secret_file, tool_version
from include.backup.scratch import scratch_databases
from include.clients import mysql as my_client
from include.clients.mysql import NO_DATABASE, connect, quote_ident
from include.targets import Endpoint

if TYPE_CHECKING:
    from include.inventory import Target


CHUNK = 1 << 20
DUMP_FLAGS = ["--single-transaction", "--routines", "--triggers", "--events", "--hex-blob", "--no-tablespaces"]


def _tool(*names: str) -> str:
    """The first of ``names`` on PATH (mysqldump before mariadb-dump, mariadb before mysql)."""
    for name in names:
        if shutil.which(name):
            return name
    raise BackupToolError(f"none of {', '.join(names)} is installed")


def _connect(endpoint: Endpoint, timeout_s: float):
    """:func:`include.clients.mysql.connect` without a default database (names are always explicit);
    read/write timeouts ``timeout_s`` (a COUNT(*) of a big table takes a while)."""
    return connect(endpoint, timeout_s, NO_DATABASE)


@contextmanager
def _defaults_file(endpoint: Endpoint) -> Iterator[str]:
    """``--defaults-extra-file=…`` with the [client] credentials, in a private temp folder removed afterwards."""
    def value(v) -> str:  # option-file quoting: backslash escapes inside double quotes
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    lines = ["[client]", f"user={value(endpoint.login or 'root')}", f"host={value(endpoint.host or '127.0.0.1')}",
             f"port={int(endpoint.port or 3306)}", "default-character-set=utf8mb4"]
    if endpoint.password:
        lines.append(f"password={value(endpoint.password)}")
    with tempfile.TemporaryDirectory(prefix="aegis-mycnf-") as private:
        path = secret_file(Path(private), "client.cnf", "\n".join(lines) + "\n")
        yield f"--defaults-extra-file={path}"


def _stream(argv: list[str], *, timeout_s: float, source=None, sink=None) -> None:
    """Run ``argv`` feeding ``source`` (a binary file) to its stdin or copying its stdout to ``sink``.

    The process is killed at ``timeout_s``; a non-zero exit raises :class:`BackupToolError`
    with the tail of stderr (the tools never print the password from the defaults file).
    """
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if source else subprocess.DEVNULL,
                                stdout=subprocess.PIPE if sink else subprocess.DEVNULL, stderr=err)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout_s, kill)
        timer.start()
        try:
            try:
                if source:
                    shutil.copyfileobj(source, proc.stdin, CHUNK)
                else:
                    shutil.copyfileobj(proc.stdout, sink, CHUNK)
            except BrokenPipeError:
                pass  # the tool died: its exit code and stderr say why
            finally:
                for pipe in (proc.stdin, proc.stdout):
                    try:
                        pipe and pipe.close()
                    except BrokenPipeError:
                        pass
            code = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if timed_out.is_set():
            raise BackupToolError(f"{argv[0]} did not finish within {timeout_s:g}s")
        err.seek(0)
        tail = err.read().decode(errors="replace").strip()[-1500:]
    if code != 0:
        raise BackupToolError(f"{argv[0]} exited {code}: {tail}")


def _count_tables(cur, db: str) -> dict[str, int]:
    cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
                " AND table_type IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY table_name", (db,))
    counts = {}
    for (table,) in cur.fetchall():
        cur.execute(f"SELECT COUNT(*) FROM {quote_ident(db)}.{quote_ident(table)}")
        counts[table] = int(cur.fetchone()[0])
    return counts


def facts(endpoint: Endpoint, databases: list[str], timeout_s: float) -> dict:
    """Exact ``COUNT(*)`` of every base table per database, inside one consistent-snapshot transaction.

    Known deviation: when called just before ``mysqldump`` (see :func:`dump`) this is a separate
    snapshot from the tool's own ``--single-transaction`` one, so the recorded counts equal the
    dump's content only if the data is quiescent between the two (InnoDB cannot share snapshots).
    """
    conn = _connect(endpoint, timeout_s)
    try:
        cur = conn.cursor()
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        out = {db: {"tables": _count_tables(cur, db)} for db in databases}
        conn.rollback()
    finally:
        conn.close()
    return {"databases": out}


def _dump_file(workdir: Path, db: str) -> Path:
    if not db or "/" in db or "\0" in db or db.startswith("."):
        raise ValueError(f"database name {db!r} cannot be used as a backup file name")
    return workdir / f"{db}.sql.gz"


#: Schemas of the server itself, never backed up as "every database".
SYSTEM_DATABASES = frozenset({"information_schema", "performance_schema", "mysql", "sys"})


def user_databases(endpoint: Endpoint, timeout_s: float) -> list[str]:
    """Every database on the server but its system schemas and Aegis's own scratch copies."""
    conn = _connect(endpoint, timeout_s)
    try:
        cur = conn.cursor()
        cur.execute("SELECT schema_name FROM information_schema.schemata ORDER BY schema_name")
        names = [name for (name,) in cur.fetchall()]
    finally:
        conn.close()
    scratch = scratch_lifecycle.SCRATCH_PREFIX
    return [n for n in names if n.lower() not in SYSTEM_DATABASES and not n.startswith(scratch)]


def databases_to_dump(target: Target, endpoint: Endpoint, timeout_s: float) -> list[str]:
    """The target's ``databases``, else the connection's own, else every non-system database."""
    listed = list(target.options.get("databases") or ([endpoint.schema] if endpoint.schema else []))
    databases = listed or user_databases(endpoint, timeout_s)
    if not databases:
        raise BackupToolError(f"target {target.name}: no databases listed and the server has no user database")
    return databases


def dump(target: Target, endpoint: Endpoint, workdir: Path) -> DumpResult:
    """Dump each database (default: the connection's own, else every non-system one) to ``workdir/<db>.sql.gz``."""
    timeout_s = float(target.backup.get("timeout_seconds", 3600))
    databases = databases_to_dump(target, endpoint, timeout_s)
    tool = _tool("mysqldump", "mariadb-dump")
    versions = {tool: tool_version([tool, "--version"])}
    result: dict[str, dict] = {}
    with _defaults_file(endpoint) as defaults:
        for db in databases:
            path = _dump_file(workdir, db)
            result.update(facts(endpoint, [db], timeout_s)["databases"])
            with gzip.open(path, "wb", compresslevel=6) as sink:
                _stream([tool, defaults, *DUMP_FLAGS, db], timeout_s=timeout_s, sink=sink)
    return DumpResult(tool_versions=versions, facts={"databases": result})


def restore(endpoint: Endpoint, workdir: Path, manifest_facts: dict, *, database_map: dict[str, str] | None = None,
            timeout_s: float, replace: bool = False) -> dict:
    """Load each ``<db>.sql.gz`` into ``database_map[db]`` (default: the same name), created if missing.

    With ``replace`` the database is dropped and recreated first (the result is exactly the
    backup). Otherwise, over an existing database the dump's ``DROP … IF EXISTS`` statements replace its tables,
    views and routines; tables created after the backup are left alone. Returns the facts
    observed after the load, keyed by the original database names. Views, routines, triggers
    and events keep their ``DEFINER``: restoring as a user other than the definer needs the
    ``SET USER`` (MariaDB) / ``SET_USER_ID`` (MySQL) or ``SUPER`` privilege.
    """
    originals = list(manifest_facts.get("databases", {}))
    database_map = database_map or {db: db for db in originals}
    client = _tool("mariadb", "mysql")
    conn = _connect(endpoint, timeout_s)
    try:
        for db in originals:
            if replace:
                conn.cursor().execute(f"DROP DATABASE IF EXISTS {quote_ident(database_map[db])}")
            conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS {quote_ident(database_map[db])}")
    finally:
        conn.close()
    with _defaults_file(endpoint) as defaults:
        for db in originals:
            with gzip.open(_dump_file(workdir, db), "rb") as source:
                _stream([client, defaults, "--binary-mode", f"--database={database_map[db]}"],
                        timeout_s=timeout_s, source=source)
    observed = facts(endpoint, [database_map[db] for db in originals], timeout_s)["databases"]
    return {"databases": {db: observed[database_map[db]] for db in originals}}


def scratch_name(set_id: str, db: str) -> str:
    """``aegis_scratch_<hash of set id>_<db>``, cut to 64 characters (with a hash of ``db`` when cut)."""
    return scratch_lifecycle.scratch_name(my_client, set_id, db)


@contextmanager
def scratch(endpoint: Endpoint, set_id: str, databases: list[str]) -> Iterator[tuple[Endpoint, dict[str, str]]]:
    """Empty throwaway databases on the same server, dropped at exit, even on error
    (:func:`include.backup.scratch.scratch_databases`)."""
    with scratch_databases(my_client, endpoint, set_id, databases) as made:
        yield made


__all__ = ["BackupToolError", "dump", "facts", "quote_ident", "restore", "scratch", "scratch_name"]
