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
import logging
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import MySQLdb

from include.backup import scratch as scratch_lifecycle
from include.backup.base import BackupToolError, DumpResult, secret_file, tool_version
from include.backup.scratch import scratch_databases
from include.clients import mysql as my_client
from include.clients.mysql import NO_DATABASE, connect, quote_ident
from include.targets import Endpoint

if TYPE_CHECKING:
    from include.inventory import Target

log = logging.getLogger(__name__)

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
def _defaults_file(endpoint) -> Iterator[str]:
    """``--defaults-extra-file=…`` with the [client] credentials, in a private temp folder removed afterwards."""

    def value(v) -> str:  # option-file quoting: backslash escapes inside double quotes
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    lines = [
        "[client]",
        f"user={value(endpoint.login or 'root')}",
        f"host={value(endpoint.host or '127.0.0.1')}",
        f"port={int(endpoint.port or 3306)}",
        "default-character-set=utf8mb4",
    ]
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
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if source else subprocess.DEVNULL,
            stdout=subprocess.PIPE if sink else subprocess.DEVNULL,
            stderr=err,
        )
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout_s, kill)
        timer.start()
        try:
            try:
                if source:
                    shutil.copyfileobj(source, proc.stdin, CHUNK)  # type: ignore[arg-type]  # a pipe: stdin=PIPE
                else:
                    shutil.copyfileobj(proc.stdout, sink, CHUNK)  # type: ignore[arg-type]  # a pipe: stdout=PIPE
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
    cur.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
        " AND table_type IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY table_name",
        (db,),
    )
    counts = {}
    for (table,) in cur.fetchall():
        cur.execute(f"SELECT COUNT(*) FROM {quote_ident(db)}.{quote_ident(table)}")
        counts[table] = int(cur.fetchone()[0])
    return counts


def facts(endpoint, databases: list[str], timeout_s: float) -> dict:
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


def _tables_folder(workdir: Path, db: str) -> Path:
    """``workdir/<db>.tables/``: the data of a parallel dump, one file per dump process."""
    return workdir / f"{_dump_file(workdir, db).name[: -len('.sql.gz')]}.tables"


def dump(target: Target, endpoint: Endpoint, workdir: Path) -> DumpResult:
    """Dump each database (default: the connection's own, else every non-system one) to ``workdir/<db>.sql.gz``.

    With ``backup.jobs`` > 1 and several tables, the tables are dumped by that many ``mysqldump``
    processes at once, all in one snapshot (see :func:`_dump_parallel`); without the privilege for it
    (RELOAD and LOCK TABLES), or when the tables cannot be locked within ``LOCK_WAIT_S``, one stream.
    """
    timeout_s = float(target.backup.get("timeout_seconds", 3600))
    compress = int(target.backup.get("compress", 1))  # gzip level: 1 is several times faster than 6
    jobs = int(target.backup.get("jobs", 2))
    databases = databases_to_dump(target, endpoint, timeout_s)
    tool = _tool("mysqldump", "mariadb-dump")
    versions = {tool: tool_version([tool, "--version"])}
    result: dict[str, dict] = {}
    with _defaults_file(endpoint) as defaults:
        for db in databases:
            path = _dump_file(workdir, db)
            if jobs > 1:
                counted = _dump_parallel(tool, defaults, endpoint, db, workdir, jobs, compress, timeout_s)
                if counted is not None:
                    result[db] = {"tables": counted}
                    continue
            result.update(facts(endpoint, [db], timeout_s)["databases"])
            with gzip.open(path, "wb", compresslevel=compress) as sink:
                _stream([tool, defaults, *DUMP_FLAGS, db], timeout_s=timeout_s, sink=sink)
    return DumpResult(tool_versions=versions, facts={"databases": result})


#: seconds to wait for the read lock on a database's tables (writes to them wait while it is held)
LOCK_WAIT_S = 10
#: seconds the dump processes get to open their transactions while the tables are locked
SNAPSHOT_START_S = 60
#: what a dump process writes once its transaction (its snapshot) is open
_STARTED = b"-- Dumping data for table"


class _StartWatch:
    """A gzip sink that notes when the dump's output shows its transaction is open."""

    def __init__(self, sink, started: threading.Event):
        self.sink, self.started, self._head = sink, started, b""

    def write(self, data: bytes) -> int:
        if not self.started.is_set():
            self._head = (self._head + data)[-4096:]
            if _STARTED in self._head:
                self.started.set()
        return self.sink.write(data)


def _balanced(sizes: dict[str, int], groups: int) -> list[list[str]]:
    """The tables in ``groups`` groups of similar total size (largest first, each to the lightest group)."""
    out: list[list[str]] = [[] for _ in range(min(groups, len(sizes)))]
    totals = [0] * len(out)
    for table in sorted(sizes, key=lambda t: (-sizes[t], t)):
        lightest = totals.index(min(totals))
        out[lightest].append(table)
        totals[lightest] += sizes[table]
    return out


def _dump_parallel(
    tool: str, defaults: str, endpoint, db: str, workdir: Path, jobs: int, compress: int, timeout_s: float
) -> dict[str, int] | None:
    """Dump ``db`` with ``jobs`` mysqldump processes in one snapshot; the row counts of that snapshot.

    ``workdir/<db>.tables/<n>.sql.gz`` get one group of tables each (data, then triggers), and
    ``workdir/<db>.sql.gz`` the schema (tables, views, routines, events; no data; dumped while the data
    is, outside the snapshot: DDL during a backup is not made consistent, as with mysqldump). The snapshot
    is shared as mydumper shares it: the database's tables are read-locked (``FLUSH TABLES … WITH READ
    LOCK``: no write to them can commit) while every dump process and a counting session open their
    ``WITH CONSISTENT SNAPSHOT`` transactions, then unlocked (writes wait for a moment, never longer
    than ``LOCK_WAIT_S`` + the processes' start). None (nothing written) when the lock cannot be taken
    or there are fewer than two tables: the caller dumps in one stream.
    """
    locker = _connect(endpoint, timeout_s)
    counter = None
    try:
        cur = locker.cursor()
        cur.execute(
            "SELECT table_name, COALESCE(data_length, 0) FROM information_schema.tables"
            " WHERE table_schema = %s AND table_type IN ('BASE TABLE', 'SYSTEM VERSIONED')",
            (db,),
        )
        sizes = {name: int(size) for name, size in cur.fetchall()}
        if len(sizes) < 2:
            return None
        cur.execute(f"SET SESSION lock_wait_timeout = {int(LOCK_WAIT_S)}")
        tables = ", ".join(f"{quote_ident(db)}.{quote_ident(t)}" for t in sorted(sizes))
        try:
            cur.execute(f"FLUSH TABLES {tables} WITH READ LOCK")
        except MySQLdb.OperationalError as exc:  # no RELOAD / LOCK TABLES privilege, or the lock wait timed out
            log.warning("%s: one dump stream: the tables could not be locked for a shared snapshot (%s)", db, exc)
            return None
        folder = _tables_folder(workdir, db)
        folder.mkdir()
        groups = _balanced(sizes, jobs)
        started = [threading.Event() for _ in groups]
        failures: list[BaseException] = []

        def dump_group(index: int) -> None:
            try:
                with gzip.open(folder / f"{index:04d}.sql.gz", "wb", compresslevel=compress) as sink:
                    # data and triggers only (the tables are in the schema file); --no-autocommit: each table's
                    # rows load in one transaction (one commit, not one per INSERT)
                    _stream(
                        [
                            tool,
                            defaults,
                            *DUMP_FLAGS,
                            "--skip-routines",
                            "--skip-events",
                            "--no-create-info",
                            "--no-autocommit",
                            db,
                            *groups[index],
                        ],
                        timeout_s=timeout_s,
                        sink=_StartWatch(sink, started[index]),
                    )
            except BaseException as exc:  # noqa: BLE001  raised below, once every process is done
                failures.append(exc)
            finally:
                started[index].set()

        with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="mysqldump") as pool:
            try:
                counter = _connect(endpoint, timeout_s)
                count_cur = counter.cursor()
                count_cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                count_cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                running = [pool.submit(dump_group, i) for i in range(len(groups))]
                for event in started:
                    event.wait(SNAPSHOT_START_S)
            finally:
                cur.execute("UNLOCK TABLES")
            counts = _count_tables(count_cur, db)  # the same snapshot the dump processes read
            with gzip.open(_dump_file(workdir, db), "wb", compresslevel=compress) as schema:
                _stream(
                    [tool, defaults, "--no-data", "--routines", "--events", "--skip-triggers", "--no-tablespaces", db],
                    timeout_s=timeout_s,
                    sink=schema,
                )
            for future in running:
                future.result()
        if failures:
            raise failures[0]
        return counts
    finally:
        if counter is not None:
            counter.close()
        locker.close()


def restore(
    endpoint,
    workdir: Path,
    manifest_facts: dict,
    *,
    database_map: dict[str, str] | None = None,
    timeout_s: float,
    replace: bool = False,
) -> dict:
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
            argv = [client, defaults, "--binary-mode", f"--database={database_map[db]}"]
            with gzip.open(_dump_file(workdir, db), "rb") as source:
                _stream(argv, timeout_s=timeout_s, source=source)
            parts = sorted(_tables_folder(workdir, db).glob("*.sql.gz"))
            if parts:  # a parallel dump: the tables exist now, empty; their data loads side by side
                deferred = _drop_secondary_indexes(endpoint, database_map[db], timeout_s)
                _load_parallel(argv, parts, timeout_s)
                _add_indexes(endpoint, database_map[db], deferred, len(parts), timeout_s)
    observed = facts(endpoint, [database_map[db] for db in originals], timeout_s)["databases"]
    return {"databases": {db: observed[database_map[db]] for db in originals}}


_SECONDARY_KEY = re.compile(r"^\s+((?:FULLTEXT |SPATIAL )?KEY (`(?:[^`]|``)*`) .*?),?$")


def _drop_secondary_indexes(endpoint, db: str, timeout_s: float) -> dict[str, list[str]]:
    """Drop the non-unique indexes of ``db``'s (still empty) tables; their definitions, to add after the data.

    An index built once over loaded rows is far cheaper than one kept up to date row by row. Tables with
    foreign keys keep theirs (a constraint may need them), as does any table whose index cannot be dropped.
    """
    deferred: dict[str, list[str]] = {}
    conn = _connect(endpoint, timeout_s)
    try:
        cur = conn.cursor()
        cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
            " AND table_type IN ('BASE TABLE', 'SYSTEM VERSIONED')",
            (db,),
        )
        for (table,) in cur.fetchall():
            name = f"{quote_ident(db)}.{quote_ident(table)}"
            cur.execute(f"SHOW CREATE TABLE {name}")
            ddl = cur.fetchone()[1]
            if "FOREIGN KEY" in ddl:
                continue
            keys = [m for m in map(_SECONDARY_KEY.match, ddl.splitlines()) if m]
            if not keys:
                continue
            try:
                cur.execute(f"ALTER TABLE {name} " + ", ".join(f"DROP INDEX {m.group(2)}" for m in keys))
            except MySQLdb.MySQLError as exc:  # e.g. another table's foreign key needs it: keep them all
                log.info("%s: indexes kept during the load (%s)", name, exc)
                continue
            deferred[table] = [m.group(1) for m in keys]
    finally:
        conn.close()
    return deferred


def _add_indexes(endpoint, db: str, deferred: dict[str, list[str]], jobs: int, timeout_s: float) -> None:
    """Add the indexes :func:`_drop_secondary_indexes` dropped, one ``ALTER TABLE`` per table, ``jobs`` at a time."""

    def add(table: str) -> None:
        conn = _connect(endpoint, timeout_s)
        try:
            conn.cursor().execute(
                f"ALTER TABLE {quote_ident(db)}.{quote_ident(table)} "
                + ", ".join(f"ADD {key}" for key in deferred[table])
            )
        finally:
            conn.close()

    if deferred:
        with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="mysql-index") as pool:
            for future in [pool.submit(add, table) for table in deferred]:
                future.result()


def _load_parallel(argv: list[str], parts: list[Path], timeout_s: float) -> None:
    """Load the table groups of a parallel dump side by side, one client each (after the schema)."""

    def load(part: Path) -> None:
        with gzip.open(part, "rb") as source:
            _stream(argv, timeout_s=timeout_s, source=source)

    if parts:
        with ThreadPoolExecutor(max_workers=len(parts), thread_name_prefix="mysql-load") as pool:
            for future in [pool.submit(load, part) for part in parts]:
                future.result()


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
