"""MySQL / MariaDB backups: one gzip-compressed logical dump per database, ``workdir/<db>.sql.gz``.

``mysqldump`` (or ``mariadb-dump``) runs with ``--single-transaction`` plus routines, triggers
and events, *without* ``--databases``: the file holds no ``CREATE DATABASE``/``USE`` and so
restores into any database name (a scratch copy, for verification).

A live restore never drops first: each database is loaded into a side schema and its tables swapped in with one
``RENAME TABLE`` (:func:`_load_side_and_swap`, :func:`_swap`); the schema keeps its grants, and its views,
routines, triggers and events come back with their DEFINERs (:mod:`include.backup.mysql_objects`).

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
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import MySQLdb

from include.backup import mysql_objects
from include.backup import scratch as scratch_lifecycle
from include.backup.base import BackupToolError, DumpResult, secret_file, tool_version
from include.backup.scratch import scratch_databases
from include.clients import mysql as my_client
from include.clients.mysql import NO_DATABASE, connect, quote_ident, quote_ident_with_args
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


def _base_tables(cur, db: str) -> list[str]:
    """The base tables of ``db`` (no views), by name."""
    cur.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
        " AND table_type IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY table_name",
        (db,),
    )
    return [table for (table,) in cur.fetchall()]


def _count_tables(cur, db: str) -> dict[str, int]:
    counts = {}
    for table in _base_tables(cur, db):
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


def schema_properties(cur, db: str) -> dict:
    """What a live restore gives a schema back besides its objects: ``{charset, collation}``, plus ``comment``
    on a server whose schemas have one (MariaDB 10.5+)."""
    cur.execute("SELECT * FROM information_schema.schemata WHERE schema_name = %s", (db,))
    row = cur.fetchone()
    if row is None:
        raise LookupError(f"no database {db!r} on the server")
    values = {column[0].lower(): value for column, value in zip(cur.description, row, strict=True)}
    props = {"charset": values["default_character_set_name"], "collation": values["default_collation_name"]}
    if "schema_comment" in values:
        props["comment"] = values["schema_comment"] or ""
    return props


def schemas_properties(endpoint: Endpoint, databases: list[str], timeout_s: float) -> dict[str, dict]:
    """:func:`schema_properties` of each database (recorded by the backup as ``database_properties``)."""
    conn = _connect(endpoint, timeout_s)
    try:
        return {db: schema_properties(conn.cursor(), db) for db in databases}
    finally:
        conn.close()


def schemas_routine_grants(endpoint: Endpoint, databases: list[str], timeout_s: float) -> dict[str, list]:
    """:func:`include.backup.mysql_objects.routine_grants` of each database (recorded by the backup as
    ``routine_grants``: dropping a routine drops its grants, which a restore that recreates it gives back)."""
    return _per_schema(endpoint, databases, timeout_s, mysql_objects.routine_grants)


def schemas_grants(endpoint: Endpoint, databases: list[str], timeout_s: float) -> dict[str, list]:
    """:func:`include.backup.mysql_objects.schema_grants` of each database (recorded by the backup as
    ``schema_grants``: the grants on the schema and its tables, which a restore gives back when revoked since)."""
    return _per_schema(endpoint, databases, timeout_s, mysql_objects.schema_grants)


def _per_schema(endpoint: Endpoint, databases: list[str], timeout_s: float, read) -> dict[str, list]:
    conn = _connect(endpoint, timeout_s)
    try:
        return {db: read(conn.cursor(), db) for db in databases}
    finally:
        conn.close()


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
    properties = schemas_properties(endpoint, databases, timeout_s)
    grants = schemas_routine_grants(endpoint, databases, timeout_s)
    schema_grants = schemas_grants(endpoint, databases, timeout_s)
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
    return DumpResult(
        tool_versions=versions,
        facts={
            "databases": result,
            "database_properties": properties,
            "routine_grants": grants,
            "schema_grants": schema_grants,
        },
    )


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
    """Load each ``<db>.sql.gz`` into ``database_map[db]`` (default: the same name).

    With ``replace`` (a live restore) each database is loaded into a side schema on the same server and swapped
    in table by table only once its content matches the backup (:func:`_load_side_and_swap`): a failed or
    timed-out load leaves the database as it was, and the schema itself (its grants, charset, comment) is never
    dropped. Without it (a scratch copy for verification) a missing database is created and the dump replayed
    over it: its ``DROP … IF EXISTS`` statements replace tables, views and routines; tables created after the
    backup are left alone. Returns the facts observed after the load, keyed by the original database names (with
    ``replace`` also their ``database_properties``, and ``notes`` on what else the swap did). Views, routines,
    triggers and events keep their ``DEFINER``: restoring as a user other than the definer needs the ``SET USER``
    (MariaDB) / ``SET_USER_ID`` (MySQL) or ``SUPER`` privilege.
    """
    originals = list(manifest_facts.get("databases", {}))
    database_map = database_map or {db: db for db in originals}
    recorded = manifest_facts.get("database_properties", {})
    grants = manifest_facts.get("routine_grants", {})
    level_grants = manifest_facts.get("schema_grants", {})
    notes: list[str] = []
    if replace:
        for db in originals:
            notes += _load_side_and_swap(
                endpoint,
                workdir,
                db,
                database_map[db],
                manifest_facts["databases"][db],
                recorded.get(db),
                timeout_s,
                grants.get(db, []),
                level_grants.get(db, []),
            )
    else:
        conn = _connect(endpoint, timeout_s)
        try:
            for db in originals:
                conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS {quote_ident(database_map[db])}")
        finally:
            conn.close()
        for db in originals:
            _load_dump(endpoint, workdir, db, database_map[db], timeout_s)
    observed = facts(endpoint, [database_map[db] for db in originals], timeout_s)["databases"]
    out: dict = {"databases": {db: observed[database_map[db]] for db in originals}}
    if replace and recorded:
        found = schemas_properties(endpoint, [database_map[db] for db in originals if db in recorded], timeout_s)
        out["database_properties"] = {db: found[database_map[db]] for db in originals if db in recorded}
    if replace and "routine_grants" in manifest_facts:  # those of the backup's grants the schema holds now
        out["routine_grants"] = _held_routine_grants(endpoint, grants, database_map, originals, timeout_s)
    if replace and "schema_grants" in manifest_facts:  # those of the backup's schema/table grants held now
        now = schemas_grants(endpoint, [database_map[db] for db in originals], timeout_s)
        out["schema_grants"] = {
            db: mysql_objects.held_schema_grants(level_grants.get(db, []), now[database_map[db]]) for db in originals
        }
    if notes:
        out["notes"] = notes
    return out


def _held_routine_grants(
    endpoint: Endpoint, recorded: dict[str, list], database_map: dict[str, str], originals: list[str], timeout_s: float
) -> dict[str, list]:
    """Of each database's recorded routine grants, those its schema holds after the restore (so the restore's
    comparison with the manifest names a grant it could not give back)."""
    now = schemas_routine_grants(endpoint, [database_map[db] for db in originals], timeout_s)

    def held(grant: list, grants_now: list) -> bool:  # the same grantee and routine with at least those privileges
        return any(g[:4] == grant[:4] and set(grant[4].split(",")) <= set(g[4].split(",")) for g in grants_now)

    return {db: [g for g in recorded.get(db, []) if held(g, now[database_map[db]])] for db in originals}


def _load_dump(endpoint: Endpoint, workdir: Path, original: str, into: str, timeout_s: float) -> None:
    """Replay the dump of ``original`` into the existing database ``into`` (a parallel dump: schema, then the
    table groups side by side with their secondary indexes added afterwards)."""
    client = _tool("mariadb", "mysql")
    with _defaults_file(endpoint) as defaults:
        argv = [client, defaults, "--binary-mode", f"--database={into}"]
        with gzip.open(_dump_file(workdir, original), "rb") as source:
            _stream(argv, timeout_s=timeout_s, source=source)
        parts = sorted(_tables_folder(workdir, original).glob("*.sql.gz"))
        if parts:  # a parallel dump: the tables exist now, empty; their data loads side by side
            deferred = _drop_secondary_indexes(endpoint, into, timeout_s)
            _load_parallel(argv, parts, timeout_s)
            _add_indexes(endpoint, into, deferred, len(parts), timeout_s)


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
        for table in _base_tables(cur, db):
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


def side_name(role: str, db: str) -> str:
    """``aegis_scratch_<role>_<UTC timestamp>_<db>``, cut to 64 characters (with a hash of ``db`` when cut): the
    side schemas of a live restore, under the scratch prefix so the grant that allows verification's scratch
    databases (``aegis\\_scratch\\_%``) allows them too, and a backup of "every database" leaves them out."""
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    return scratch_lifecycle.fit_name(my_client, f"{scratch_lifecycle.SCRATCH_PREFIX}{role}_{stamp}_{db}", db)


def _side_schemas(cur, role: str, db: str) -> list[str]:
    """The schemas :func:`side_name` named for ``role`` and ``db`` (any timestamp), oldest first."""
    stamp = "0" * 14
    template = scratch_lifecycle.fit_name(my_client, f"{scratch_lifecycle.SCRATCH_PREFIX}{role}_{stamp}_{db}", db)
    at = len(f"{scratch_lifecycle.SCRATCH_PREFIX}{role}_")
    pattern = re.compile(re.escape(template[:at]) + r"\d{14}" + re.escape(template[at + 14 :]))
    cur.execute(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
        (template[:at].replace("_", "\\_") + "%",),
    )
    return sorted(name for (name,) in cur.fetchall() if pattern.fullmatch(name))


def _clear_interrupted(cur, db: str) -> None:
    """Before a live restore of ``db`` (the target's lease held): a side schema left by a restore killed half-way
    (never swapped in, or holding at most the backup's views and routines after the swap) is dropped; a replaced
    schema (the previous tables, when a kill came after the swap's rename) is kept and named in the log."""
    for side in _side_schemas(cur, "new", db):
        log.warning("dropping %s, the side schema of a restore of %s that was interrupted", side, db)
        cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(side)}")
    for left in _side_schemas(cur, "replaced", db):
        log.warning(
            "%s is left from an interrupted restore of %s: kept; drop it once %s is as it should be", left, db, db
        )


_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def _charset_clause(props: dict | None) -> str:
    """`` CHARACTER SET … COLLATE …`` of recorded schema properties (names checked: they are not quotable)."""
    if not props:
        return ""
    for value in (props["charset"], props["collation"]):
        if not _NAME.match(str(value)):
            raise ValueError(f"unexpected character set or collation {value!r} in the backup's database_properties")
    return f" CHARACTER SET {props['charset']} COLLATE {props['collation']}"


def _give_properties(cur, db: str, props: dict) -> None:
    """Give schema ``db`` the recorded default character set, collation and (MariaDB) comment, where they differ."""
    now = schema_properties(cur, db)
    if (now["charset"], now["collation"]) != (props["charset"], props["collation"]):
        cur.execute(f"ALTER DATABASE {quote_ident(db)}{_charset_clause(props)}")
    if "comment" in props and "comment" in now and now["comment"] != props["comment"]:
        cur.execute(f"ALTER DATABASE {quote_ident_with_args(db)} COMMENT %s", (props["comment"],))


def _rename(cur, moves: list[tuple[str, str, list[str]]]) -> None:
    """Every ``(from schema, to schema, tables)`` move in ONE ``RENAME TABLE`` statement: all of it or nothing."""
    pairs = [
        f"{quote_ident(a)}.{quote_ident(t)} TO {quote_ident(b)}.{quote_ident(t)}" for a, b, ts in moves for t in ts
    ]
    if pairs:
        cur.execute("RENAME TABLE " + ", ".join(pairs))


#: seconds the swap waits for a table's metadata lock (a session still using the live tables)
SWAP_LOCK_WAIT_S = 60


def _load_side_and_swap(
    endpoint: Endpoint,
    workdir: Path,
    original: str,
    db: str,
    expected: dict,
    props: dict | None,
    timeout_s: float,
    grants: list | None = None,
    level_grants: list | None = None,
) -> list[str]:
    """Load the dump of ``original`` into a side schema next to ``db``, compare it with ``expected``, then swap the
    tables (:func:`_swap`), then give back those of ``level_grants`` (the backup's grants on ``db`` and its tables,
    :func:`include.backup.mysql_objects.give_schema_grants`) that were revoked since; what the report should know
    (tables that were live but not in the backup, grants given back).

    Until the swap nothing of ``db`` is touched: a failed load or comparison drops the side schema and raises
    (:func:`include.backup.scratch.load_side_then_swap`, the order PostgreSQL follows too). The side schema gets
    the recorded character set and collation (else ``db``'s), which objects without their own inherit.
    """
    side, replaced = side_name("new", db), side_name("replaced", db)
    conn = _connect(endpoint, timeout_s)
    try:
        cur = conn.cursor()
        _clear_interrupted(cur, db)
        cur.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (db,))
        charset = props or (schema_properties(cur, db) if cur.fetchone() else None)
        cur.execute(f"CREATE DATABASE {quote_ident(side)}{_charset_clause(charset)}")
    finally:
        conn.close()
    notes: list[str] = []
    try:
        scratch_lifecycle.load_side_then_swap(
            db,
            load=lambda: _load_dump(endpoint, workdir, original, side, timeout_s),
            observe=lambda: facts(endpoint, [side], timeout_s)["databases"][side],
            expected=expected,
            discard=lambda: my_client.drop_database(endpoint, side, timeout_s),
            swap=lambda: notes.extend(_swap(endpoint, db, side, replaced, expected, props, timeout_s, grants or [])),
        )
    finally:  # after the swap it holds at most the backup's views and routines (or its tables, swapped back)
        my_client.drop_database(endpoint, side, timeout_s)
    if level_grants:
        conn = _connect(endpoint, timeout_s)
        try:
            given = mysql_objects.give_schema_grants(conn.cursor(), db, level_grants)
        finally:
            conn.close()
        if given:
            notes.append(f"{db}: grant(s) revoked since the backup given back: {'; '.join(given)}")
            log.info(notes[-1])
    return notes


def _swap(
    endpoint: Endpoint,
    db: str,
    side: str,
    replaced: str,
    expected: dict,
    props: dict | None,
    timeout_s: float,
    grants: list | None = None,
) -> list[str]:
    """Move ``db``'s tables into ``replaced`` and ``side``'s into ``db`` in one ``RENAME TABLE``; confirm, then drop
    ``replaced``.

    The schema ``db`` itself stays, with its grants (``mysql.db`` and ``mysql.tables_priv`` are keyed by name, so
    they apply to the tables swapped in), and gets back the recorded character set, collation and comment. A table
    moves to another schema only without triggers: both sides' triggers are dropped just before the rename (the
    live ones recreated if it fails), and the backup's recreated in ``db`` after it. Its views, routines and events
    become the backup's, as read from the side copy (``DEFINER``, ``SQL SECURITY``, ``sql_mode`` kept); identical
    ones are left alone, and the backup's ``grants`` on its routines are given (again: dropping a routine after
    the backup dropped them). Until confirmed (``db`` shows the backup's row counts and properties) everything is put
    back as it was when a step fails: tables renamed back, objects and properties restored. Tables that were live
    but are not in the backup leave with the replaced ones (the restore returns the schema to the backup's
    content) and are named in the returned notes.
    """
    conn = connect(endpoint, timeout_s, NO_DATABASE, lock_wait_timeout_s=min(timeout_s, SWAP_LOCK_WAIT_S))
    try:
        cur = conn.cursor()
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {quote_ident(db)}{_charset_clause(props)}")
        old_props = schema_properties(cur, db)
        old_tables, new_tables = _base_tables(cur, db), _base_tables(cur, side)
        old, new = mysql_objects.read(cur, db), mysql_objects.read(cur, side)
        cur.execute(f"CREATE DATABASE {quote_ident(replaced)}")
        try:
            try:
                mysql_objects.set_objects(cur, side, new, mysql_objects.without_triggers(new))
                mysql_objects.set_objects(cur, db, old, mysql_objects.without_triggers(old))
                _rename(cur, [(db, replaced, old_tables), (side, db, new_tables)])
            except BaseException:  # the live triggers back (nothing else was changed)
                mysql_objects.set_objects(cur, db, mysql_objects.read(cur, db), old)
                raise
            try:
                mysql_objects.set_objects(cur, db, mysql_objects.without_triggers(old), new)
                mysql_objects.give_routine_grants(cur, db, grants or [])
                if props:
                    _give_properties(cur, db, props)
                shows = facts(endpoint, [db], timeout_s)["databases"][db]
                if shows != expected or (props is not None and schema_properties(cur, db) != props):
                    raise BackupToolError(f"{db} swapped in but does not match the backup")
            except BaseException:  # back to where it was
                mysql_objects.set_objects(cur, db, mysql_objects.read(cur, db), mysql_objects.without_triggers(old))
                _rename(cur, [(db, side, new_tables), (replaced, db, old_tables)])
                mysql_objects.set_objects(cur, db, mysql_objects.without_triggers(old), old)
                _give_properties(cur, db, old_props)
                raise
        except BaseException:
            _drop_if_no_tables(cur, replaced)  # a rollback that failed half-way leaves the previous tables there
            raise
        cur.execute(f"DROP DATABASE {quote_ident(replaced)}")
    finally:
        conn.close()
    extra = sorted(set(old_tables) - set(new_tables))
    if not extra:
        return []
    note = (
        f"{db}: table(s) not in the backup, kept in {replaced} until the swap was confirmed, then dropped:"
        f" {', '.join(extra)}"
    )
    log.warning(note)
    return [note]


def _drop_if_no_tables(cur, schema: str) -> None:
    """Drop ``schema`` when it holds no base table (else keep it: it holds the only copy of something)."""
    if _base_tables(cur, schema):
        log.error("%s kept: it holds the previous tables a failed swap could not put back", schema)
        return
    cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(schema)}")


def scratch_name(set_id: str, db: str) -> str:
    """``aegis_scratch_<hash of set id>_<db>``, cut to 64 characters (with a hash of ``db`` when cut)."""
    return scratch_lifecycle.scratch_name(my_client, set_id, db)


@contextmanager
def scratch(endpoint: Endpoint, set_id: str, databases: list[str]) -> Iterator[tuple[Endpoint, dict[str, str]]]:
    """Empty throwaway databases on the same server, dropped at exit, even on error
    (:func:`include.backup.scratch.scratch_databases`)."""
    with scratch_databases(my_client, endpoint, set_id, databases) as made:
        yield made


__all__ = [
    "BackupToolError",
    "dump",
    "facts",
    "quote_ident",
    "restore",
    "schema_properties",
    "scratch",
    "scratch_name",
    "side_name",
]
