"""Weekly MySQL: time partitions (setting ``partitions``, a list of ``{table: "db.table", interval: day|month,
premake: N, retention_days: N}``).

Tables partitioned ``BY RANGE (TO_DAYS(col))``, ``BY RANGE (UNIX_TIMESTAMP(col))`` or
``BY RANGE COLUMNS(col)`` on a date/datetime column: makes sure partitions exist up to the end of
the ``premake``-th period after the current one (new ones named ``pYYYYMMDD`` / ``pYYYYMM`` after
the first day they hold, split off a ``MAXVALUE`` catch-all partition with ``REORGANIZE PARTITION``
or appended with ``ADD PARTITION``), and drops the partitions whose range ends on or before today
minus ``retention_days`` (never the catch-all, never the last one). "Today" is the run's date in UTC
(:meth:`~include.weekly.budget.Budget.today`), passed in: nothing here reads a clock. Adding partitions
only adds (a table without a catch-all would otherwise reject next week's rows): it runs in every run,
dry or not. Dropping is destructive: a dry run (the default) logs the exact DDL and the rows it would drop.
"""

from __future__ import annotations

import calendar
import logging
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from include.clients.mysql import quote_ident as q
from include.weekly.budget import Budget, BudgetSpent
from include.weekly.mysql.session import error_text, split_table

log = logging.getLogger(__name__)

#: the keys of one ``partitions`` item and their types
PARTITION_KEYS: dict[str, type | tuple[type, ...]] = {
    "table": str,
    "interval": str,
    "premake": int,
    "retention_days": (int, float),
}
INTERVALS = ("day", "month")


def _period_start(day: date, interval: str) -> date:
    return day if interval == "day" else day.replace(day=1)


def _next_period(day: date, interval: str) -> date:
    if interval == "day":
        return day + timedelta(days=1)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def _partition_name(start: date, interval: str) -> str:
    return "p" + start.strftime("%Y%m%d" if interval == "day" else "%Y%m")


class Partitioning:
    """How a RANGE-partitioned table turns its partition bounds into dates and back."""

    def __init__(self, method: str, expression: str, table: str) -> None:
        self.method = method.upper()
        expr = expression.strip().strip("`").lower()
        if self.method == "RANGE COLUMNS":
            self.kind = "columns"
        elif re.fullmatch(r"to_days\(`?[^()]+`?\)", expr):
            self.kind = "to_days"
        elif re.fullmatch(r"unix_timestamp\(`?[^()]+`?\)", expr):
            self.kind = "unix_timestamp"
        else:
            raise ValueError(
                f"{table}: partitioned {method} ({expression}); only RANGE (TO_DAYS(col)),"
                " RANGE (UNIX_TIMESTAMP(col)) and RANGE COLUMNS(col) on a date column are managed"
            )

    def bound_date(self, description: str) -> date:
        """The date a ``VALUES LESS THAN`` bound stands for."""
        text = description.strip().strip("'")
        if self.kind == "to_days":
            return date.fromordinal(int(text) - 365)
        if self.kind == "unix_timestamp":
            return datetime.fromtimestamp(int(text), UTC).date()
        return date.fromisoformat(text[:10])

    def less_than(self, bound: date) -> str:
        """The ``VALUES LESS THAN (…)`` of a partition ending at ``bound`` (a generated date, never user text)."""
        literal = f"'{bound.isoformat()}'"
        if self.kind == "to_days":
            return f"VALUES LESS THAN (TO_DAYS({literal}))"
        if self.kind == "unix_timestamp":
            return f"VALUES LESS THAN (UNIX_TIMESTAMP('{bound.isoformat()} 00:00:00'))"
        return f"VALUES LESS THAN ({literal})"


def plan_partitions(cur: Any, item: dict[str, Any], today: date) -> tuple[list[str], list[dict]]:
    """The DDL bringing one table's partitions in line with its settings on ``today``, and one report row per change."""
    db, table = split_table(item["table"])
    interval = item["interval"]
    cur.execute(
        "SELECT partition_name, partition_method, partition_expression, partition_description, table_rows"
        " FROM information_schema.partitions WHERE table_schema = %s AND table_name = %s"
        " ORDER BY partition_ordinal_position",
        (db, table),
    )
    parts = cur.fetchall()
    if not parts:
        raise ValueError(f"{item['table']}: no such table")
    if parts[0][0] is None:
        raise ValueError(f"{item['table']}: not partitioned")
    scheme = Partitioning(parts[0][1], parts[0][2], item["table"])
    catch_all = parts[-1][0] if parts[-1][3] == "MAXVALUE" else None
    bounded = [(name, scheme.bound_date(desc)) for name, _, _, desc, _ in parts if desc != "MAXVALUE"]
    if not bounded:
        raise ValueError(f"{item['table']}: no partition with a date bound to continue from")
    ddl, rows = [], []
    # add: partitions up to the end of the premake-th period after the current one
    wanted_end = _period_start(today, interval)
    for _ in range(int(item["premake"]) + 1):
        wanted_end = _next_period(wanted_end, interval)
    new, last = [], bounded[-1][1]
    existing = {name for name, *_ in parts}
    while last < wanted_end:
        name, upper = _partition_name(last, interval), _next_period(last, interval)
        if name in existing:
            raise ValueError(
                f"{item['table']}: a partition named {name} exists already; cannot add the one from {last}"
            )
        new.append(f"PARTITION {q(name)} {scheme.less_than(upper)}")
        rows.append(
            {"table": item["table"], "partition": name, "operation": "add", "from": str(last), "less_than": str(upper)}
        )
        last = upper
    if new:
        target = f"ALTER TABLE {q(db)}.{q(table)}"
        if catch_all:
            ddl.append(
                f"{target} REORGANIZE PARTITION {q(catch_all)} INTO ("
                + ", ".join(new + [f"PARTITION {q(catch_all)} VALUES LESS THAN MAXVALUE"])
                + ")"
            )
        else:
            ddl.append(f"{target} ADD PARTITION (" + ", ".join(new) + ")")
        for r in rows:
            r["ddl"] = ddl[-1]
    # drop: partitions whose whole range ends on or before the retention cut-off (never the last one)
    cutoff = today - timedelta(days=int(item["retention_days"]))
    expired = [(name, bound) for name, bound in bounded if bound <= cutoff]
    if expired and len(parts) + len(new) - len(expired) < 1:  # a table keeps at least one partition
        expired = expired[:-1]
    if expired:
        statement = f"ALTER TABLE {q(db)}.{q(table)} DROP PARTITION " + ", ".join(q(n) for n, _ in expired)
        ddl.append(statement)
        for name, bound in expired:
            cur.execute(f"SELECT COUNT(*) FROM {q(db)}.{q(table)} PARTITION ({q(name)})")
            rows.append(
                {
                    "table": item["table"],
                    "partition": name,
                    "operation": "drop",
                    "less_than": str(bound),
                    "retention_cutoff": str(cutoff),
                    "rows": int(cur.fetchone()[0]),
                    "ddl": statement,
                }
            )
    return ddl, rows


def rotate_partitions(cur: Any, item: dict[str, Any], budget: Budget, dry_run: bool) -> list[dict]:
    """Add the next partitions (always) and drop the expired ones (only logged in a dry run) of one table."""
    import MySQLdb

    try:
        budget.check()
        ddl, rows = plan_partitions(cur, item, budget.today())
    except BudgetSpent:
        return [{"table": item["table"], "action": budget.skipped()}]
    except (ValueError, MySQLdb.Error) as exc:
        log.warning("%s: partitions not managed: %s", item["table"], exc)
        return [{"table": item["table"], "action": f"failed: {exc}"}]
    if not rows:
        log.info("%s: partitions up to date", item["table"])
        return [{"table": item["table"], "action": "done: nothing to change"}]
    for r in rows:
        if r["operation"] == "drop":
            log.info(
                "%s: partition %s ends %s, on or before the retention cut-off %s: %d row(s) %s",
                r["table"],
                r["partition"],
                r["less_than"],
                r["retention_cutoff"],
                r["rows"],
                "would be dropped (dry run)" if dry_run else "to drop",
            )
    outcome = {}
    drops = {r["ddl"] for r in rows if r["operation"] == "drop"}
    for statement in ddl:
        if dry_run and statement in drops:
            log.info("dry run: would run %s", statement)
            outcome[statement] = "would do"
            continue
        try:
            budget.check()
            log.info("%s", statement)
            cur.execute(statement)
            outcome[statement] = "done"
        except BudgetSpent:
            outcome[statement] = budget.skipped()
        except MySQLdb.Error as exc:
            log.warning("%s failed: %s", statement, exc)
            outcome[statement] = error_text(exc)
    return [{**r, "action": outcome[r["ddl"]]} for r in rows]
