"""PostgreSQL backups: one ``pg_dump --format=directory`` per database, consistent with its facts.

For each database a REPEATABLE READ transaction exports its snapshot, counts the rows
of every user table inside it, and stays open while ``pg_dump --snapshot=<id>`` dumps:
the counts recorded in the manifest and the dump see exactly the same data.

Credentials reach the tools through a PGPASSFILE in a private temporary folder (never
the work folder, whose content is uploaded) and PG* environment variables (``PGPASSWORD`` only for a password
with a line break, which a password file cannot hold); no password is ever on a command line. Identifiers are always quoted with ``psycopg.sql.Identifier``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from include.backup import scratch as scratch_lifecycle
from include.backup.base import BackupToolError, DumpResult, run_tool, secret_file, tool_version
from include.backup.scratch import scratch_databases
from include.clients import postgres as pg_client
from include.clients.postgres import connect, maintenance_database, scalar
from include.targets import Endpoint

if TYPE_CHECKING:
    from include.inventory import Target


log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 30

COUNTED_TABLES = """
    select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
      and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp\\_%'
    order by 1, 2"""


#: what a live restore gives a database back besides its content (recorded by the backup, per database)
DATABASE_PROPERTIES = """
    select pg_get_userbyid(d.datdba), d.datacl::text[], shobj_description(d.oid, 'pg_database'),
           array(select array[coalesce(r.rolname, ''), c] from pg_db_role_setting s
                 left join pg_roles r on r.oid = s.setrole, unnest(s.setconfig) c
                 where s.setdatabase = d.oid order by 1)
    from pg_database d where d.datname = %s"""
#: the privileges a database ACL can hold (GRANT … ON DATABASE)
DATABASE_PRIVILEGES = ("CONNECT", "CREATE", "TEMPORARY")


def _connect(
    endpoint: Endpoint, database: str, timeout_s: float, *, autocommit: bool = True, read_only: bool = True
) -> psycopg.Connection:
    """:func:`include.clients.postgres.connect` for backups: ``idle_in_transaction_session_timeout`` off,
    because the snapshot-exporting session sits idle while pg_dump runs and must not be cut off."""
    return connect(
        endpoint,
        timeout_s,
        database,
        autocommit=autocommit,
        read_only=read_only,
        idle_in_transaction_timeout_s=0,
        application_name="aegis-backup",
    )


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
        counts[f"{schema}.{table}"] = scalar(conn, query)
    return counts


@contextmanager
def _tool_env(endpoint: Endpoint, connect_s: float) -> Iterator[dict[str, str]]:
    """Environment for the native tools: PGPASSFILE in a private temp folder, removed afterwards. A password with a
    line break, which a password file cannot hold, goes in the tools' own environment (``PGPASSWORD``) instead."""
    env = {
        "PGHOST": endpoint.host or "127.0.0.1",
        "PGPORT": str(endpoint.port or 5432),
        "PGUSER": endpoint.login or "postgres",
        "PGCONNECT_TIMEOUT": str(max(1, int(connect_s))),
    }
    if endpoint.extra.get("sslmode"):
        env["PGSSLMODE"] = str(endpoint.extra["sslmode"])
    with tempfile.TemporaryDirectory(prefix="aegis-pgpass-") as private:
        esc = lambda s: s.replace("\\", "\\\\").replace(":", "\\:")  # noqa: E731 - .pgpass field escaping
        password = endpoint.password or ""
        if "\n" in password or "\r" in password:
            env["PGPASSWORD"] = password
            password = ""
        line = f"*:*:*:{esc(env['PGUSER'])}:{esc(password)}\n"
        env["PGPASSFILE"] = str(secret_file(Path(private), "pgpass", line))
        yield env


def database_properties(conn: psycopg.Connection, db: str) -> dict:
    """``{owner, acl (sorted aclitems, None: the defaults), comment, settings [[role or "", "name=value"]]}``."""
    row = conn.execute(DATABASE_PROPERTIES, (db,)).fetchone()
    if row is None:
        raise LookupError(f"no database {db!r} on the server")
    owner, acl, comment, settings = row
    return {
        "owner": owner,
        "acl": sorted(acl) if acl is not None else None,
        "comment": comment,
        "settings": sorted([list(s) for s in settings]),
    }


def _give_properties(conn: psycopg.Connection, db: str, props: dict) -> None:
    """Give database ``db`` (just created with its owner) the recorded ACL, ``ALTER DATABASE … SET`` /
    ``ALTER ROLE … IN DATABASE … SET`` settings and comment (a superuser's GRANT is recorded as the owner's)."""
    ident = sql.Identifier(db)
    if props.get("acl") is not None:
        conn.execute(sql.SQL("revoke all on database {} from public, {}").format(ident, sql.Identifier(props["owner"])))
        grants = conn.execute(
            "select r.rolname, e.privilege_type, e.is_grantable from aclexplode(%s::aclitem[]) e"
            " left join pg_roles r on r.oid = e.grantee",
            (props["acl"],),
        ).fetchall()
        for grantee, privilege, grantable in grants:
            if privilege not in DATABASE_PRIVILEGES:
                raise ValueError(f"unexpected database privilege {privilege!r} in the backup's ACL")
            conn.execute(
                sql.SQL("grant {} on database {} to {}{}").format(
                    sql.SQL(privilege),
                    ident,
                    sql.Identifier(grantee) if grantee else sql.SQL("public"),
                    sql.SQL(" with grant option" if grantable else ""),
                )
            )
    for role, setting in props.get("settings", []):
        name, _, value = setting.partition("=")
        target = (
            sql.SQL("role {} in database {}").format(sql.Identifier(role), ident)
            if role
            else sql.SQL("database {}").format(ident)
        )
        conn.execute(sql.SQL("alter {} set {} = {}").format(target, sql.Identifier(name), sql.Literal(value)))
    if props.get("comment") is not None:
        conn.execute(sql.SQL("comment on database {} is {}").format(ident, sql.Literal(props["comment"])))


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
    properties: dict[str, dict] = {}
    with _tool_env(endpoint, connect_s) as env:
        for db in databases:
            folder = _folder(workdir, db)
            with _connect(endpoint, db, timeout_s, autocommit=False) as conn:
                _snapshot_transaction(conn)
                snapshot = scalar(conn, "select pg_export_snapshot()")
                versions.setdefault("server", scalar(conn, "show server_version"))
                properties[db] = database_properties(conn, db)
                # pg_dump runs in the exported snapshot while this transaction counts the rows of the very
                # same snapshot; the transaction stays open until pg_dump is done (the snapshot must stay
                # importable by its workers)
                with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg_dump") as pool:
                    argv = [
                        "pg_dump",
                        "--format=directory",
                        f"--jobs={jobs}",
                        f"--compress={compress}",
                        "--no-password",
                        f"--snapshot={snapshot}",
                        f"--file={folder}",
                        _dbname_arg(db),
                    ]
                    dumping = pool.submit(run_tool, argv, env=env, timeout_s=timeout_s)
                    facts[db] = {"tables": _count_tables(conn)}
                    dumping.result()
                conn.rollback()
    return DumpResult(tool_versions=versions, facts={"databases": facts, "database_properties": properties})


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


def restore(
    endpoint: Endpoint,
    workdir: Path,
    manifest_facts: dict,
    *,
    database_map: dict[str, str] | None = None,
    timeout_s: float,
    replace: bool = False,
) -> dict:
    """``pg_restore`` each database's dump into ``database_map[db]`` (default: the same name).

    With ``replace`` (a live restore) each database is loaded into a side copy on the same server and swapped in
    only once its content matches the backup (:func:`_load_side_and_swap`): a failed or timed-out load leaves the
    database as it was. Object owners and privileges are kept, and the database gets back its recorded owner,
    ACL, settings and comment (the login must be a superuser, or a member of every owning role). Without it
    (a scratch copy for verification) a missing database is created and the dump restored over it with
    ``--clean --if-exists`` under the login's ownership. Returns the facts observed after the load, keyed by
    the original database names (with ``replace`` also their ``database_properties``).
    """
    originals = list(manifest_facts.get("databases", {}))
    database_map = database_map or {db: db for db in originals}
    jobs = max(1, min(4, os.cpu_count() or 1))
    recorded = manifest_facts.get("database_properties", {})
    with _tool_env(endpoint, min(timeout_s, CONNECT_TIMEOUT_S)) as env:
        for original in originals:
            db = database_map[original]
            if replace:
                _load_side_and_swap(
                    endpoint,
                    env,
                    _folder(workdir, original),
                    db,
                    manifest_facts["databases"][original],
                    recorded.get(original),
                    jobs,
                    timeout_s,
                )
                continue
            with _connect(endpoint, maintenance_database(endpoint, avoid=db), timeout_s, read_only=False) as conn:
                existing = _exists(conn, db)
                if not existing:
                    conn.execute(sql.SQL("create database {} template template0").format(sql.Identifier(db)))
            argv = ["pg_restore", f"--jobs={jobs}", "--no-owner", "--exit-on-error", "--no-password"]
            argv += ["--clean", "--if-exists"] if existing else []
            run_tool(argv + [_dbname_arg(db), str(_folder(workdir, original))], env=env, timeout_s=timeout_s)
    observed = facts(endpoint, [database_map[db] for db in originals], timeout_s)["databases"]
    out: dict = {"databases": {db: observed[database_map[db]] for db in originals}}
    if replace and recorded:
        with _connect(endpoint, maintenance_database(endpoint), timeout_s) as conn:
            out["database_properties"] = {
                db: database_properties(conn, database_map[db]) for db in originals if db in recorded
            }
    return out


def side_name(db: str, role: str) -> str:
    """``<db>_aegis_<role>_<UTC timestamp>``, ``db`` cut (with a hash of it, so two long names stay different)
    when the name would not fit in 63 bytes."""
    suffix = f"_aegis_{role}_{time.strftime('%Y%m%d%H%M%S', time.gmtime())}"
    return scratch_lifecycle.fit_name(pg_client, db, db, suffix)


def _load_side_and_swap(
    endpoint: Endpoint,
    env: dict[str, str],
    folder: Path,
    db: str,
    expected: dict,
    props: dict | None,
    jobs: int,
    timeout_s: float,
) -> None:
    """Load ``folder`` into a new database next to ``db``, compare it with ``expected``, then swap them.

    Until the swap nothing of ``db`` is touched: a failed load or comparison drops the side copy and raises
    (:func:`include.backup.scratch.load_side_then_swap`, the order MySQL follows too).
    The swap renames ``db`` to ``<db>_aegis_replaced_<ts>`` (connections to it refused and ended first) and the
    side copy to ``db``; the replaced database is dropped only once the swapped-in one shows the backup's
    tables and properties, and renamed back when the swap fails half-way.
    """
    side, replaced = side_name(db, "new"), side_name(db, "replaced")
    admin_db = maintenance_database(endpoint, avoid=db)
    with _connect(endpoint, admin_db, timeout_s, read_only=False) as conn:
        _clear_interrupted(conn, db)
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(side)))
        owner = sql.SQL(" owner {}").format(sql.Identifier(props["owner"])) if props else sql.SQL("")
        conn.execute(sql.SQL("create database {} template template0{}").format(sql.Identifier(side), owner))

    def load() -> None:
        run_tool(
            ["pg_restore", f"--jobs={jobs}", "--exit-on-error", "--no-password", _dbname_arg(side), str(folder)],
            env=env,
            timeout_s=timeout_s,
        )
        with _connect(endpoint, admin_db, timeout_s, read_only=False) as conn:
            if props:
                _give_properties(conn, side, props)

    scratch_lifecycle.load_side_then_swap(
        db,
        load=load,
        observe=lambda: facts(endpoint, [side], timeout_s)["databases"][side],
        expected=expected,
        discard=lambda: pg_client.drop_database(endpoint, side, timeout_s),
        swap=lambda: _swap(endpoint, admin_db, db, side, replaced, expected, props, timeout_s),
    )


def _side_copies(conn: psycopg.Connection, db: str, role: str) -> list[str]:
    """The databases :func:`side_name` named for ``db`` and ``role`` (any timestamp), oldest first."""
    prefix = side_name(db, role)[: -len("YYYYmmddHHMMSS")]
    names = conn.execute("select datname from pg_database where starts_with(datname, %s)", (prefix,)).fetchall()
    return sorted(name for (name,) in names if name[len(prefix) :].isdigit() and len(name) == len(prefix) + 14)


def _clear_interrupted(conn: psycopg.Connection, db: str) -> None:
    """Before a live restore of ``db`` (the target's lease held): what a restore killed half-way left.

    A side copy (``<db>_aegis_new_<ts>``) is a load never swapped in: dropped. A killed swap may have left ``db``
    renamed to ``<db>_aegis_replaced_<ts>`` and nothing in its place: renamed back (connections allowed again),
    so the restore starts from the previous state; a replaced copy beside a present ``db`` is kept and named in
    the log (the swap got that far: which one holds what is for a person to judge)."""
    for side in _side_copies(conn, db, "new"):
        log.warning("dropping %s, the side copy of a restore of %s that was interrupted", side, db)
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(side)))
    replaced = _side_copies(conn, db, "replaced")
    if replaced and not _exists(conn, db):
        previous = replaced.pop()
        log.warning(
            "%s is missing and %s holds its previous data (a swap was interrupted): renaming it back", db, previous
        )
        conn.execute(sql.SQL("alter database {} rename to {}").format(sql.Identifier(previous), sql.Identifier(db)))
        conn.execute(sql.SQL("alter database {} allow_connections true").format(sql.Identifier(db)))
    for left in replaced:
        log.warning(
            "%s is left from an interrupted restore of %s: kept; drop it once %s is as it should be", left, db, db
        )


def _swap(
    endpoint: Endpoint,
    admin_db: str,
    db: str,
    side: str,
    replaced: str,
    expected: dict,
    props: dict | None,
    timeout_s: float,
) -> None:
    """Rename ``db`` → ``replaced`` and ``side`` → ``db``; confirm, then drop ``replaced`` (see above)."""
    ident, replaced_ident = sql.Identifier(db), sql.Identifier(replaced)
    with _connect(endpoint, admin_db, timeout_s, read_only=False) as conn:
        had_db = _exists(conn, db)
        if had_db:
            conn.execute(sql.SQL("alter database {} allow_connections false").format(ident))
            for attempt in range(5):  # a session may still be ending when the rename comes
                conn.execute(
                    "select pg_terminate_backend(pid) from pg_stat_activity"
                    " where datname = %s and pid <> pg_backend_pid()",
                    (db,),
                )
                try:
                    conn.execute(sql.SQL("alter database {} rename to {}").format(ident, replaced_ident))
                    break
                except psycopg.errors.ObjectInUse:
                    if attempt == 4:
                        conn.execute(sql.SQL("alter database {} allow_connections true").format(ident))
                        pg_client.drop_database(endpoint, side, timeout_s)
                        raise
                    time.sleep(0.5)
        try:
            conn.execute(sql.SQL("alter database {} rename to {}").format(sql.Identifier(side), ident))
            confirmed = facts(endpoint, [db], timeout_s)["databases"][db] == expected and (
                props is None or database_properties(conn, db) == props
            )
            if not confirmed:
                raise BackupToolError(f"{db} swapped in but does not match the backup")
        except BaseException:
            if had_db:  # back to where it was: the swapped-in copy out of the way, the previous one back
                conn.execute(sql.SQL("drop database if exists {} with (force)").format(ident))
                conn.execute(sql.SQL("alter database {} rename to {}").format(replaced_ident, ident))
                conn.execute(sql.SQL("alter database {} allow_connections true").format(ident))
            raise
    if had_db:
        pg_client.drop_database(endpoint, replaced, timeout_s)


def scratch_name(set_id: str, db: str) -> str:
    """``aegis_scratch_<hash of set id>_<db>``, cut to 63 bytes (with a hash of ``db`` when cut)."""
    return scratch_lifecycle.scratch_name(pg_client, set_id, db)


@contextmanager
def scratch(endpoint: Endpoint, set_id: str, databases: list[str]) -> Iterator[tuple[Endpoint, dict[str, str]]]:
    """Empty throwaway databases on the same server, dropped (``WITH (FORCE)``) at exit, even on error
    (:func:`include.backup.scratch.scratch_databases`)."""
    with scratch_databases(pg_client, endpoint, set_id, databases) as made:
        yield made


__all__ = ["BackupToolError", "database_properties", "dump", "facts", "restore", "scratch", "scratch_name", "side_name"]
