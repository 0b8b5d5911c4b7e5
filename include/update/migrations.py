"""SQL migrations: ``*.sql`` files of one folder applied in name order to a PostgreSQL or MySQL database.

Each applied file is recorded in the database's ``aegis_schema_version`` table (file name,
SHA-256, when, which run), so a retry applies only what is missing and a file changed
after it was applied is refused. PostgreSQL runs each file and its record in one
transaction (a failing file leaves nothing of itself); MySQL/MariaDB commit DDL as they go,
so a file failing halfway leaves part of it applied: that is what the pre-update backup
and the rollback are for. A lost connection (the session killed, the server gone) is a
failure like any other.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

VERSION_TABLE = "aegis_schema_version"
#: first line of a PostgreSQL migration file that must run outside a transaction (``CREATE INDEX CONCURRENTLY``)
NO_TRANSACTION_MARKER = "-- aegis: no-transaction"
APPLICATION_NAME = "aegis-update"


class MigrationFailed(RuntimeError):
    """A migration file failed; ``applied`` lists the files that went in before it. ``untouched``: nothing
    of the migration reached the database (no file applied, and the failing one left nothing of itself:
    refused before it ran, or rolled back with its PostgreSQL transaction), so there is nothing to roll back."""

    def __init__(self, message: str, applied: list[str], untouched: bool = False):
        super().__init__(message)
        self.applied = applied
        self.untouched = untouched and not applied


def migration_files(folder: Path) -> list[dict[str, str]]:
    """The ``*.sql`` files of ``folder`` in name order, each with its SHA-256."""
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".sql")
    if not files:
        raise ValueError(f"{folder} holds no *.sql migration file")
    return [{"name": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in files]


def apply(
    kind: str, endpoint, database: str | None, folder: str, files: list[dict[str, str]], run_id: str, timeout_s: float
) -> dict[str, Any]:
    """Apply the files not yet recorded; return ``{applied, already_applied, version}``.

    Raises :class:`MigrationFailed` naming the file and the cause.
    """
    applier = _Postgres(endpoint, database, timeout_s) if kind == "postgres" else _MySQL(endpoint, database, timeout_s)
    applied: list[str] = []
    try:
        done = applier.recorded()
        for f in files:
            if f["name"] in done:
                if done[f["name"]] != f["sha256"]:
                    raise MigrationFailed(
                        f"{f['name']} was applied before with different content"
                        " (its SHA-256 changed): refusing to go on",
                        applied,
                        untouched=True,
                    )
                continue
            text = _read_checked(Path(folder) / f["name"], f["sha256"], applied)
            log.info("applying %s", f["name"])
            try:
                applier.run_file(text, f["name"], f["sha256"], run_id)
            except Exception as exc:
                raise MigrationFailed(
                    f"{f['name']} failed: {type(exc).__name__}: {_first_line(exc)}",
                    applied,
                    untouched=applier.transactional,
                ) from exc
            applied.append(f["name"])
    finally:
        applier.close()
    already = [f["name"] for f in files if f["name"] not in applied]
    log.info("migrations applied: %s; already applied before: %s", applied or "none", already or "none")
    return {"applied": applied, "already_applied": already, "version": files[-1]["name"]}


def current_version(kind: str, endpoint, database: str | None, timeout_s: float) -> str | None:
    """The last recorded migration file of the database (None when it has no version table)."""
    applier = _Postgres(endpoint, database, timeout_s) if kind == "postgres" else _MySQL(endpoint, database, timeout_s)
    try:
        recorded = applier.recorded(create=False)
    finally:
        applier.close()
    return max(recorded) if recorded else None


def _read_checked(path: Path, sha256: str, applied: list[str]) -> str:
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise MigrationFailed(f"{path.name} changed since the plan was made", applied, untouched=True)
    return data.decode("utf-8")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def no_transaction(text: str) -> bool:
    """Whether the file's first line is :data:`NO_TRANSACTION_MARKER`."""
    return text.lstrip().splitlines()[0].strip().lower() == NO_TRANSACTION_MARKER if text.strip() else False


def split_statements(text: str) -> list[str]:
    """The statements of a no-transaction file: split on ``;`` at line ends (such files hold plain DDL such as
    ``CREATE INDEX CONCURRENTLY``; no function bodies)."""
    import re

    return [s.strip() for s in re.split(r";\s*(?:\n|$)", text) if s.strip() and not _only_comments(s)]


def _only_comments(statement: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in statement.splitlines())


class _Postgres:
    #: a failing file leaves nothing of itself (its transaction is rolled back)
    transactional = True

    def __init__(self, endpoint, database: str | None, timeout_s: float):
        from include.clients.postgres import connect

        self.conn = connect(endpoint, timeout_s, database, read_only=False, application_name=APPLICATION_NAME)

    def recorded(self, create: bool = True) -> dict[str, str]:
        from psycopg import sql

        from include.clients.postgres import scalar

        table = sql.Identifier(VERSION_TABLE)
        if not scalar(self.conn, "select to_regclass(%s)", (VERSION_TABLE,)):
            if not create:
                return {}
            self.conn.execute(
                sql.SQL(
                    "create table {} (filename text primary key, sha256 text not null,"
                    " applied_at timestamptz not null default now(), run_id text)"
                ).format(table)
            )
        return dict(self.conn.execute(sql.SQL("select filename, sha256 from {}").format(table)).fetchall())

    def run_file(self, text: str, name: str, sha256: str, run_id: str) -> None:
        from psycopg import sql

        if no_transaction(text):
            self.transactional = False  # a failure may leave part of it (an INVALID index): the rollback must run
            statements = [s for s in split_statements(text) if s]
            for statement in statements:  # each on its own, autocommitted: no transaction block around them
                self.conn.execute(statement.encode())
            self.conn.execute(
                sql.SQL("insert into {} (filename, sha256, run_id) values (%s, %s, %s)").format(
                    sql.Identifier(VERSION_TABLE)
                ),
                (name, sha256, run_id),
            )
            return
        with self.conn.transaction():
            self.conn.execute(text.encode())  # no parameters: several statements in one go
            self.conn.execute(
                sql.SQL("insert into {} (filename, sha256, run_id) values (%s, %s, %s)").format(
                    sql.Identifier(VERSION_TABLE)
                ),
                (name, sha256, run_id),
            )

    def close(self) -> None:
        self.conn.close()


class _MySQL:
    #: DDL commits as it goes: a failing file may leave part of itself
    transactional = False

    def __init__(self, endpoint, database: str | None, timeout_s: float):
        from include.clients.mysql import connect

        self.conn = connect(endpoint, timeout_s, database)
        self.conn.cursor().execute("SET SESSION wait_timeout = %s", (max(60, int(timeout_s)),))

    def recorded(self, create: bool = True) -> dict[str, str]:
        from include.backup.mysql import quote_ident

        cur = self.conn.cursor()
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = %s",
            (VERSION_TABLE,),
        )
        if not cur.fetchone()[0]:
            if not create:
                return {}
            cur.execute(
                f"CREATE TABLE {quote_ident(VERSION_TABLE)} (filename VARCHAR(255) PRIMARY KEY,"
                " sha256 CHAR(64) NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,"
                " run_id VARCHAR(250))"
            )
        cur.execute(f"SELECT filename, sha256 FROM {quote_ident(VERSION_TABLE)}")
        return dict(cur.fetchall())

    def run_file(self, text: str, name: str, sha256: str, run_id: str) -> None:
        from include.backup.mysql import quote_ident

        cur = self.conn.cursor()
        cur.execute(text)
        while cur.nextset() is not None:  # every statement's result: an error in statement n surfaces here
            pass
        cur.execute(
            f"INSERT INTO {quote_ident(VERSION_TABLE)} (filename, sha256, run_id) VALUES (%s, %s, %s)",
            (name, sha256, run_id),
        )

    def close(self) -> None:
        self.conn.close()
