"""The weekly MySQL session: one bounded autocommit connection whose clock is the run's clock, and table names.

Every statement is bounded by ``statement_timeout_s`` (client read timeout, plus MariaDB's
``max_statement_time``) and ``lock_wait_timeout_s``. The session runs in UTC with its
``timestamp`` pinned to the budget's start (:attr:`~include.weekly.budget.Budget.started_at`), so
``NOW()``/``CURDATE()`` on the server and "today" in Python are one clock: the purge cut-off and
the partition dates are fixed at the start of the run, and a test that freezes the clock controls them.
"""

from __future__ import annotations

import re
from typing import Any

from include.targets import Endpoint
from include.weekly.budget import Budget

SYSTEM_DATABASES = ("mysql", "information_schema", "performance_schema", "sys")


def connect_session(endpoint: Endpoint, settings: dict[str, Any], budget: Budget) -> Any:
    """One autocommit connection with every statement and lock wait bounded, in UTC, on the run's clock."""
    from include.clients.mysql import connect

    conn = connect(
        endpoint,
        settings["connect_timeout_s"],
        read_timeout_s=settings["statement_timeout_s"] + 5,
        lock_wait_timeout_s=settings["lock_wait_timeout_s"],
        statement_timeout_s=settings["statement_timeout_s"],
        utc=True,
    )
    conn.cursor().execute("SET SESSION timestamp = %s", (budget.started_at.timestamp(),))
    return conn


def user_databases(cur: Any) -> list[str]:
    """Every database but the system ones."""
    cur.execute(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN %s ORDER BY 1",
        (SYSTEM_DATABASES,),
    )
    return [r[0] for r in cur.fetchall()]


#: one identifier in backticks (a backtick inside doubled)
_QUOTED = r"`((?:[^`]|``)+)`"


def split_table(name: str, where: str = "table") -> tuple[str, str]:
    """``"db.table"`` → ``("db", "table")`` (split at the first dot), or a ValueError naming ``where``. A database
    name with a dot is written in backticks, as in SQL (``"`my.db`.events"``); so may the table's be."""
    quoted = re.fullmatch(_QUOTED + r"\.(.+)", name, re.S) if isinstance(name, str) else None
    if quoted:
        db, table = quoted.group(1).replace("``", "`"), quoted.group(2)
    elif isinstance(name, str) and not name.startswith("`"):
        db, _, table = name.partition(".")
    else:
        db = table = ""
    if not db or not table:
        raise ValueError(f"{where}: must be 'database.table' (a database name with a dot in `backticks`), got {name!r}")
    quoted_table = re.fullmatch(_QUOTED, table, re.S)
    return db, quoted_table.group(1).replace("``", "`") if quoted_table else table


def error_text(exc: BaseException) -> str:
    """``"failed: <Type>: <server message>"`` for a report row."""
    return f"failed: {type(exc).__name__}: {exc.args[-1] if exc.args else exc}"
