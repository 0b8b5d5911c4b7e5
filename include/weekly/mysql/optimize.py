"""Weekly MySQL: OPTIMIZE TABLE the fragmented tables, ANALYZE TABLE the ones with zero-cardinality indexes.

**Fragmented tables** (``information_schema.tables``): a table whose ``data_free`` is at least
``fragmentation_min_bytes`` and at least ``fragmentation_ratio`` of its data + index size gets
``OPTIMIZE TABLE`` (InnoDB: a rebuild plus analyze, online), **InnoDB tables only** (other engines lock the
table for the whole copy: left alone, reported) and only when the free disk of the server's data directory
exceeds the table's size (the rebuild writes a full copy first; unknown free disk: skipped). The report gives
the size and ``data_free`` before and after.

**Zero-cardinality indexes** (``information_schema.statistics``): an index with cardinality 0 or
unknown on a table that has rows usually means stale statistics: the table gets ``ANALYZE TABLE``
and every index still at 0 after it is reported (a constant or empty column: a useless index).

Neither changes data, but both write (a rebuilt table, new statistics): a **dry run only lists them**
(``would do``), as it does every other step.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from include.clients.mysql import quote_ident as q
from include.weekly.budget import Budget, BudgetSpent
from include.weekly.mysql.session import error_text

log = logging.getLogger(__name__)


def optimize_refusal(engine: str | None, size: int, free_disk: int | None) -> str | None:
    """Why a fragmented table is not optimised (None: it may be): only InnoDB tables, and only with more
    free disk than the table's size (an InnoDB OPTIMIZE writes a full copy before dropping the old one)."""
    if str(engine).lower() != "innodb":
        return f"left alone: engine {engine} (only InnoDB tables are optimised online)"
    if free_disk is None:
        return "skipped: free disk unknown (the server's data directory is not local and has no DISKS view)"
    if free_disk <= size:
        return f"skipped: free disk {free_disk:,} bytes does not exceed the table's {size:,} bytes"
    return None


def free_disk_bytes(cur: Any, host: str | None) -> int | None:
    """Free bytes of the file system holding the server's data directory: from ``information_schema.DISKS``
    when the plugin is there, else from the local file system when the server runs on this host; else None."""
    import shutil

    import MySQLdb

    cur.execute("SELECT @@datadir")
    datadir = str(cur.fetchone()[0])
    try:
        cur.execute("SELECT Path, Available FROM information_schema.DISKS")
        disks = [(str(path), int(kib) * 1024) for path, kib in cur.fetchall()]
        mounts = [d for d in disks if datadir.startswith(d[0].rstrip("/") + "/") or datadir == d[0]]
        if mounts:
            return max(mounts, key=lambda d: len(d[0]))[1]
    except MySQLdb.Error:
        pass  # the DISKS plugin is not installed
    if host in (None, "", "localhost", "127.0.0.1", "::1"):
        try:
            return shutil.disk_usage(datadir).free
        except OSError:
            return None
    return None


def optimize_fragmented(
    cur: Any,
    databases: list[str],
    settings: dict[str, Any],
    budget: Budget,
    *,
    dry_run: bool = True,
    host: str | None = None,
) -> list[dict]:
    """OPTIMIZE TABLE every InnoDB table whose free space passes both fragmentation thresholds and that fits
    on the disk twice (:func:`optimize_refusal`); a dry run lists them."""
    if not databases:
        return []
    free_disk = free_disk_bytes(cur, host)  # a read: the dry run says what it would and would not do
    cur.execute(
        "SELECT table_schema, table_name, engine, data_length + index_length, data_free FROM information_schema.tables"
        " WHERE table_type = 'BASE TABLE' AND table_schema IN %s AND data_free >= %s"
        " AND data_free >= %s * (data_length + index_length) ORDER BY data_free DESC, 1, 2",
        (tuple(databases), settings["fragmentation_min_bytes"], settings["fragmentation_ratio"]),
    )
    rows = []
    for db, table, engine, size, free in cur.fetchall():
        row = {
            "database": db,
            "table": table,
            "engine": engine,
            "operation": "OPTIMIZE TABLE",
            "reason": f"{int(free):,} bytes free against {int(size):,} bytes of data and indexes",
            "size_before": int(size),
            "data_free_before": int(free),
        }
        refusal = optimize_refusal(engine, int(size), free_disk)
        if refusal:
            log.info("%s.%s: OPTIMIZE TABLE %s", db, table, refusal)
            rows.append({**row, "action": refusal})
        elif dry_run:
            rows.append({**row, "action": "would do"})
        else:
            rows.append(_admin(cur, row, budget))
    return rows


def analyze_zero_cardinality(cur: Any, databases: list[str], budget: Budget, *, dry_run: bool = True) -> list[dict]:
    """ANALYZE TABLE every table with rows and an index of cardinality 0/unknown; report what stays at 0
    (a dry run lists them)."""
    if not databases:
        return []
    query = (
        "SELECT s.table_schema, s.table_name, GROUP_CONCAT(DISTINCT s.index_name ORDER BY s.index_name)"
        " FROM information_schema.statistics s JOIN information_schema.tables t"
        " ON t.table_schema = s.table_schema AND t.table_name = s.table_name"
        " WHERE s.table_schema IN %s AND t.table_rows > 0 AND COALESCE(s.cardinality, 0) = 0"
        " GROUP BY s.table_schema, s.table_name ORDER BY 1, 2"
    )
    cur.execute(query, (tuple(databases),))
    rows = []
    for db, table, indexes in cur.fetchall():
        size, free = _table_size(cur, db, table)
        row = {
            "database": db,
            "table": table,
            "operation": "ANALYZE TABLE",
            "size_before": size,
            "data_free_before": free,
            "reason": f"index(es) with cardinality 0: {indexes}",
            "zero_cardinality_before": indexes.split(","),
        }
        if dry_run:
            rows.append({**row, "action": "would do"})
            continue
        row = _admin(cur, row, budget)
        cur.execute(
            "SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = %s"
            " AND table_name = %s AND COALESCE(cardinality, 0) = 0 ORDER BY 1",
            (db, table),
        )
        row["zero_cardinality_after"] = [r[0] for r in cur.fetchall()]
        rows.append(row)
    return rows


def _table_size(cur: Any, db: str, table: str) -> tuple[int, int]:
    cur.execute(
        "SELECT data_length + index_length, data_free FROM information_schema.tables"
        " WHERE table_schema = %s AND table_name = %s",
        (db, table),
    )
    size, free = cur.fetchone() or (0, 0)
    return int(size or 0), int(free or 0)


def _run_admin(cur: Any, statement: str) -> tuple[bool, str]:
    """Run OPTIMIZE/ANALYZE TABLE; (ok, the server's last message). Errors come back as result rows."""
    cur.execute(statement)
    messages = cur.fetchall()
    errors = [m for m in messages if str(m[2]).lower() == "error"]
    last = (errors or messages or [("", "", "", "no answer")])[-1]
    return not errors, str(last[3])


def _admin(cur: Any, row: dict, budget: Budget) -> dict:
    """Run the row's OPTIMIZE/ANALYZE (unless the budget is spent) and measure the table after it."""
    import MySQLdb

    db, table = row["database"], row["table"]
    try:
        budget.check()
    except BudgetSpent:
        log.info("%s.%s: %s skipped, budget used up (%s)", db, table, row["operation"], row["reason"])
        return {**row, "action": budget.skipped()}
    statement = f"{row['operation']} {q(db)}.{q(table)}"
    log.info("%s (%s)", statement, row["reason"])
    started = time.monotonic()
    try:
        ok, message = _run_admin(cur, statement)
    except MySQLdb.Error as exc:
        ok, message = False, error_text(exc).removeprefix("failed: ")
    size, free = _table_size(cur, db, table)
    row.update(
        duration_s=round(time.monotonic() - started, 3),
        size_after=size,
        data_free_after=free,
        reclaimed_bytes=max(0, row["size_before"] + row["data_free_before"] - size - free),
        message=message,
        action="done" if ok else f"failed: {message}",
    )
    log.info(
        "%s: %s in %.2fs, size %s -> %s, data_free %s -> %s",
        statement,
        row["action"],
        row["duration_s"],
        row["size_before"],
        size,
        row["data_free_before"],
        free,
    )
    return row
