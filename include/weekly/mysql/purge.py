"""Weekly MySQL: purge of expired rows (setting ``purge``, a list of ``{table: "db.table", column,
older_than_days, batch_size}``).

Rows whose ``column`` is older than ``older_than_days`` days (the run's clock in UTC, cut-off fixed
at the start) are deleted in batches of ``batch_size`` (``DELETE … WHERE column < cut-off ORDER BY
<primary key> LIMIT batch_size``, repeated, each batch its own short transaction) until none is
left or ``max_seconds`` runs out. Dry run (the default): only counts the rows that would go.
"""

from __future__ import annotations

import logging
from typing import Any

from include.clients.mysql import quote_ident_with_args as q  # every statement here has a parameter
from include.weekly.budget import Budget, BudgetSpent
from include.weekly.mysql.session import error_text, split_table

log = logging.getLogger(__name__)

#: the keys of one ``purge`` item and their types
PURGE_KEYS: dict[str, type | tuple[type, ...]] = {
    "table": str,
    "column": str,
    "older_than_days": (int, float),
    "batch_size": int,
}


def purge_one(cur: Any, item: dict[str, Any], budget: Budget, dry_run: bool) -> dict[str, Any]:
    """Delete (or, in a dry run, count) the rows of one configured table older than its age, in batches."""
    import MySQLdb

    db, table = split_table(item["table"])
    batch = int(item.get("batch_size", 1000))
    row = {
        "table": item["table"],
        "column": item["column"],
        "older_than_days": item["older_than_days"],
        "batch_size": batch,
        "deleted": 0,
        "batches": 0,
    }
    try:
        budget.check()
        cur.execute("SELECT NOW() - INTERVAL %s SECOND", (int(item["older_than_days"] * 86400),))
        cutoff = cur.fetchone()[0]
        row["cutoff"] = str(cutoff)
        where = f"{q(db)}.{q(table)} WHERE {q(item['column'])} < %s"
        cur.execute(f"SELECT COUNT(*) FROM {where}", (cutoff,))
        row["expired"] = int(cur.fetchone()[0])
        if dry_run:
            log.info(
                "dry run: would delete %d row(s) of %s with %s < %s in batches of %d",
                row["expired"],
                item["table"],
                item["column"],
                cutoff,
                batch,
            )
            return {**row, "action": "would do" if row["expired"] else "done: nothing expired"}
        order = ", ".join(q(c) for c in (_primary_key(cur, db, table) or [item["column"]]))
        statement = f"DELETE FROM {where} ORDER BY {order} LIMIT {batch}"
        while True:
            budget.check()
            deleted = cur.execute(statement, (cutoff,))
            row["deleted"] += deleted
            row["batches"] += 1
            log.info(
                "%s: deleted %d row(s) (batch %d, %d so far)", item["table"], deleted, row["batches"], row["deleted"]
            )
            if deleted < batch:
                break
        return {**row, "action": "done"}
    except BudgetSpent:
        log.warning("%s: purge stopped, max_seconds used up after %d row(s)", item["table"], row["deleted"])
        return {**row, "action": budget.skipped() + f" after {row['deleted']} row(s)"}
    except MySQLdb.Error as exc:
        log.warning("%s: purge failed: %s", item["table"], exc)
        return {**row, "action": error_text(exc)}


def _primary_key(cur: Any, db: str, table: str) -> list[str]:
    cur.execute(
        "SELECT column_name FROM information_schema.key_column_usage WHERE table_schema = %s"
        " AND table_name = %s AND constraint_name = 'PRIMARY' ORDER BY ordinal_position",
        (db, table),
    )
    return [r[0] for r in cur.fetchall()]
