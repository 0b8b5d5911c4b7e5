"""MySQL / MariaDB weekly maintenance: fragmented tables, stale index statistics, expired rows, time partitions.

**Databases**: the target's ``databases`` option, else the connection's database, else every
database but the system ones.

**Fragmented tables** (``information_schema.tables``): a table whose ``data_free`` is at least
``fragmentation_min_bytes`` and at least ``fragmentation_ratio`` of its data + index size gets
``OPTIMIZE TABLE`` (InnoDB: a rebuild plus analyze, online). The report gives the size and
``data_free`` before and after.

**Zero-cardinality indexes** (``information_schema.statistics``): an index with cardinality 0 or
unknown on a table that has rows usually means stale statistics: the table gets ``ANALYZE TABLE``
and every index still at 0 after it is reported (a constant or empty column: a useless index).

OPTIMIZE and ANALYZE change no data and run whether or not the run is a dry run.

**Purge of expired rows** (setting ``purge``, a list of ``{table: "db.table", column,
older_than_days, batch_size}``): rows whose ``column`` is older than ``older_than_days`` days
(server clock in UTC, cut-off fixed at the start) are deleted in batches of ``batch_size``
(``DELETE … WHERE column < cut-off ORDER BY <primary key> LIMIT batch_size``, repeated, each batch
its own short transaction) until none is left or ``max_seconds`` runs out. Dry run (the default):
only counts the rows that would go.

**Redundant indexes** (duplicates and left prefixes, as ``pt-duplicate-key-checker`` finds them):
recommended with the ``ALTER TABLE … DROP INDEX`` that removes each, never run.

**Time partitions** (setting ``partitions``, a list of ``{table: "db.table", interval: day|month,
premake: N, retention_days: N}``) of tables partitioned ``BY RANGE (TO_DAYS(col))``,
``BY RANGE (UNIX_TIMESTAMP(col))`` or ``BY RANGE COLUMNS(col)`` on a date/datetime column: makes
sure partitions exist up to the end of the ``premake``-th period after the current one (new ones
named ``pYYYYMMDD`` / ``pYYYYMM`` after the first day they hold, split off a ``MAXVALUE`` catch-all
partition with ``REORGANIZE PARTITION`` or appended with ``ADD PARTITION``), and drops the
partitions whose range ends on or before today minus ``retention_days`` (never the catch-all, never
the last one); "today" is the server's date in UTC. Dry run (the default): logs the exact DDL it would run and the rows it would drop.

Identifiers are quoted by :func:`include.clients.mysql.quote_ident`; values are bound parameters.
Every statement is bounded by ``statement_timeout_s`` (client read timeout, plus MariaDB's
``max_statement_time``) and ``lock_wait_timeout_s``; no new step starts once ``max_seconds`` is used up.
"""

from __future__ import annotations

import calendar
import logging
import re
import time
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from include.checks.base import WARNING, CheckResult
from include.checks.mysql import redundant_indexes
from include.clients.mysql import quote_ident as q

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "max_seconds": 3600,
    "connect_timeout_s": 10,
    "statement_timeout_s": 1800,        # one OPTIMIZE / DELETE batch / ALTER at most
    "lock_wait_timeout_s": 10,          # metadata and row lock waits
    "fragmentation_ratio": 0.2,         # data_free against data + index size
    "fragmentation_min_bytes": 64 << 20,
    "purge": [],                        # [{table: "db.table", column, older_than_days, batch_size}]
    "partitions": [],                   # [{table: "db.table", interval: day|month, premake, retention_days}]
}
SYSTEM_DATABASES = ("mysql", "information_schema", "performance_schema", "sys")
PURGE_KEYS = {"table": str, "column": str, "older_than_days": (int, float), "batch_size": int}
PARTITION_KEYS = {"table": str, "interval": str, "premake": int, "retention_days": (int, float)}
INTERVALS = ("day", "month")


class BudgetSpent(Exception):
    """``max_seconds`` is used up: no new step is started."""


def check_settings(settings: dict) -> None:
    """Raise ``ValueError("<key>: <reason>")`` for settings that cannot work (missing keys: the defaults)."""
    settings = {**DEFAULTS, **settings}
    for key in ("max_seconds", "connect_timeout_s", "statement_timeout_s", "lock_wait_timeout_s",
                "fragmentation_ratio", "fragmentation_min_bytes"):
        value = settings.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{key}: must be a non-negative number, got {value!r}")
    for key, fields in (("purge", PURGE_KEYS), ("partitions", PARTITION_KEYS)):
        items = settings.get(key)
        if not isinstance(items, list):
            raise ValueError(f"{key}: must be a list, got {type(items).__name__}")
        for i, item in enumerate(items):
            where = f"{key}[{i}]"
            if not isinstance(item, dict):
                raise ValueError(f"{where}: must be a mapping with {', '.join(fields)}")
            unknown = set(item) - set(fields)
            if unknown:
                raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (allowed: {', '.join(fields)})")
            for name, kind in fields.items():
                value = item.get(name, 1000 if name == "batch_size" else None)
                if value is None:
                    raise ValueError(f"{where}.{name}: missing")
                if isinstance(value, bool) or not isinstance(value, kind):
                    raise ValueError(f"{where}.{name}: wrong type {type(value).__name__}")
                if not isinstance(value, str) and value <= 0 and name != "retention_days":
                    raise ValueError(f"{where}.{name}: must be greater than 0, got {value!r}")
                if name == "retention_days" and value < 1:
                    raise ValueError(f"{where}.retention_days: must be at least 1 day, got {value!r}")
            split_table(item["table"], f"{where}.table")
            if key == "partitions" and item["interval"] not in INTERVALS:
                raise ValueError(f"{where}.interval: must be one of {', '.join(INTERVALS)}, got {item['interval']!r}")
            if key == "purge" and not item["column"].strip():
                raise ValueError(f"{where}.column: empty")


def split_table(name: str, where: str = "table") -> tuple[str, str]:
    """``"db.table"`` → ``("db", "table")`` (split at the first dot), or a ValueError naming ``where``."""
    db, dot, table = name.partition(".")
    if not dot or not db or not table:
        raise ValueError(f"{where}: must be 'database.table', got {name!r}")
    return db, table


def maintain(target, endpoint, settings: dict, *, dry_run: bool = True) -> CheckResult:
    """Optimize/analyze what needs it, then purge and rotate partitions (dry run unless told otherwise)."""
    settings = {**DEFAULTS, **settings}
    check_settings(settings)
    deadline = time.monotonic() + settings["max_seconds"]
    result = CheckResult(target.name, target.kind)
    conn = _connect(endpoint, settings)
    try:
        cur = conn.cursor()
        databases = list(target.options.get("databases") or []) or ([endpoint.schema] if endpoint.schema else
                                                                  _user_databases(cur))
        result.details["databases"] = databases
        result.details["dry_run"] = dry_run
        result.details["tables"] = optimize_fragmented(cur, databases, settings, deadline)
        result.details["tables"] += analyze_zero_cardinality(cur, databases, settings, deadline)
        result.details["purge"] = [purge_one(cur, item, settings, deadline, dry_run) for item in settings["purge"]]
        result.details["partitions"] = []
        for item in settings["partitions"]:
            result.details["partitions"] += rotate_partitions(cur, item, settings, deadline, dry_run)
        result.details["redundant_indexes"] = redundant_indexes(cur, databases)  # recommended, never dropped here
    finally:
        conn.close()
    _summarise(result, dry_run)
    return result


def _connect(endpoint, settings: dict):
    """One autocommit connection with every statement and lock wait bounded."""
    from include.clients.mysql import connect

    return connect(endpoint, settings["connect_timeout_s"], read_timeout_s=settings["statement_timeout_s"] + 5,
                   lock_wait_timeout_s=settings["lock_wait_timeout_s"],
                   statement_timeout_s=settings["statement_timeout_s"], utc=True)


def _user_databases(cur) -> list[str]:
    cur.execute("SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN %s ORDER BY 1",
                (SYSTEM_DATABASES,))
    return [r[0] for r in cur.fetchall()]


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise BudgetSpent()
    return left


def _skipped_for_budget(settings: dict) -> str:
    return f"skipped: max_seconds budget ({settings['max_seconds']:g}s) used up"


def _table_size(cur, db: str, table: str) -> tuple[int, int]:
    cur.execute("SELECT data_length + index_length, data_free FROM information_schema.tables"
                " WHERE table_schema = %s AND table_name = %s", (db, table))
    size, free = cur.fetchone() or (0, 0)
    return int(size or 0), int(free or 0)


def _run_admin(cur, statement: str) -> tuple[bool, str]:
    """Run OPTIMIZE/ANALYZE TABLE; (ok, the server's last message). Errors come back as result rows."""
    cur.execute(statement)
    messages = cur.fetchall()
    errors = [m for m in messages if str(m[2]).lower() == "error"]
    last = (errors or messages or [("", "", "", "no answer")])[-1]
    return not errors, str(last[3])


def optimize_fragmented(cur, databases: list[str], settings: dict, deadline: float) -> list[dict]:
    """OPTIMIZE TABLE every table whose free space passes both fragmentation thresholds."""
    if not databases:
        return []
    cur.execute(
        "SELECT table_schema, table_name, engine, data_length + index_length, data_free FROM information_schema.tables"
        " WHERE table_type = 'BASE TABLE' AND table_schema IN %s AND data_free >= %s"
        " AND data_free >= %s * (data_length + index_length) ORDER BY data_free DESC, 1, 2",
        (tuple(databases), settings["fragmentation_min_bytes"], settings["fragmentation_ratio"]))
    rows = []
    for db, table, engine, size, free in cur.fetchall():
        row = {"database": db, "table": table, "engine": engine, "operation": "OPTIMIZE TABLE",
               "reason": f"{int(free):,} bytes free against {int(size):,} bytes of data and indexes",
               "size_before": int(size), "data_free_before": int(free)}
        rows.append(_admin(cur, row, settings, deadline))
    return rows


def analyze_zero_cardinality(cur, databases: list[str], settings: dict, deadline: float) -> list[dict]:
    """ANALYZE TABLE every table with rows and an index of cardinality 0/unknown; report what stays at 0."""
    if not databases:
        return []
    query = ("SELECT s.table_schema, s.table_name, GROUP_CONCAT(DISTINCT s.index_name ORDER BY s.index_name)"
             " FROM information_schema.statistics s JOIN information_schema.tables t"
             " ON t.table_schema = s.table_schema AND t.table_name = s.table_name"
             " WHERE s.table_schema IN %s AND t.table_rows > 0 AND COALESCE(s.cardinality, 0) = 0"
             " GROUP BY s.table_schema, s.table_name ORDER BY 1, 2")
    cur.execute(query, (tuple(databases),))
    rows = []
    for db, table, indexes in cur.fetchall():
        size, free = _table_size(cur, db, table)
        row = {"database": db, "table": table, "operation": "ANALYZE TABLE", "size_before": size,
               "data_free_before": free, "reason": f"index(es) with cardinality 0: {indexes}",
               "zero_cardinality_before": indexes.split(",")}
        row = _admin(cur, row, settings, deadline)
        cur.execute("SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = %s"
                    " AND table_name = %s AND COALESCE(cardinality, 0) = 0 ORDER BY 1", (db, table))
        row["zero_cardinality_after"] = [r[0] for r in cur.fetchall()]
        rows.append(row)
    return rows


def _admin(cur, row: dict, settings: dict, deadline: float) -> dict:
    import MySQLdb

    db, table = row["database"], row["table"]
    try:
        _left(deadline)
    except BudgetSpent:
        log.info("%s.%s: %s skipped, budget used up (%s)", db, table, row["operation"], row["reason"])
        return {**row, "action": _skipped_for_budget(settings)}
    statement = f"{row['operation']} {q(db)}.{q(table)}"
    log.info("%s (%s)", statement, row["reason"])
    started = time.monotonic()
    try:
        ok, message = _run_admin(cur, statement)
    except MySQLdb.Error as exc:
        ok, message = False, f"{type(exc).__name__}: {exc.args[-1] if exc.args else exc}"
    size, free = _table_size(cur, db, table)
    row.update(duration_s=round(time.monotonic() - started, 3), size_after=size, data_free_after=free,
               reclaimed_bytes=max(0, row["size_before"] + row["data_free_before"] - size - free),
               message=message, action="done" if ok else f"failed: {message}")
    log.info("%s: %s in %.2fs, size %s -> %s, data_free %s -> %s", statement, row["action"], row["duration_s"],
             row["size_before"], size, row["data_free_before"], free)
    return row


def _primary_key(cur, db: str, table: str) -> list[str]:
    cur.execute("SELECT column_name FROM information_schema.key_column_usage WHERE table_schema = %s"
                " AND table_name = %s AND constraint_name = 'PRIMARY' ORDER BY ordinal_position", (db, table))
    return [r[0] for r in cur.fetchall()]


def purge_one(cur, item: dict, settings: dict, deadline: float, dry_run: bool) -> dict:
    """Delete (or, in a dry run, count) the rows of one configured table older than its age, in batches."""
    import MySQLdb

    db, table = split_table(item["table"])
    batch = int(item.get("batch_size", 1000))
    row = {"table": item["table"], "column": item["column"], "older_than_days": item["older_than_days"],
           "batch_size": batch, "deleted": 0, "batches": 0}
    try:
        _left(deadline)
        cur.execute("SELECT NOW() - INTERVAL %s SECOND", (int(item["older_than_days"] * 86400),))
        cutoff = cur.fetchone()[0]
        row["cutoff"] = str(cutoff)
        where = f"{q(db)}.{q(table)} WHERE {q(item['column'])} < %s"
        cur.execute(f"SELECT COUNT(*) FROM {where}", (cutoff,))
        row["expired"] = int(cur.fetchone()[0])
        if dry_run:
            log.info("dry run: would delete %d row(s) of %s with %s < %s in batches of %d", row["expired"],
                     item["table"], item["column"], cutoff, batch)
            return {**row, "action": "would do" if row["expired"] else "done: nothing expired"}
        order = ", ".join(q(c) for c in (_primary_key(cur, db, table) or [item["column"]]))
        statement = f"DELETE FROM {where} ORDER BY {order} LIMIT {batch}"
        while True:
            _left(deadline)
            deleted = cur.execute(statement, (cutoff,))
            row["deleted"] += deleted
            row["batches"] += 1
            log.info("%s: deleted %d row(s) (batch %d, %d so far)", item["table"], deleted, row["batches"],
                     row["deleted"])
            if deleted < batch:
                break
        return {**row, "action": "done"}
    except BudgetSpent:
        log.warning("%s: purge stopped, max_seconds used up after %d row(s)", item["table"], row["deleted"])
        return {**row, "action": _skipped_for_budget(settings) + f" after {row['deleted']} row(s)"}
    except MySQLdb.Error as exc:
        log.warning("%s: purge failed: %s", item["table"], exc)
        return {**row, "action": f"failed: {type(exc).__name__}: {exc.args[-1] if exc.args else exc}"}


# -- time partitions -----------------------------------------------------------------------------------------

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

    def __init__(self, method: str, expression: str, table: str):
        self.method = method.upper()
        expr = expression.strip().strip("`").lower()
        if self.method == "RANGE COLUMNS":
            self.kind = "columns"
        elif re.fullmatch(r"to_days\(`?[^()]+`?\)", expr):
            self.kind = "to_days"
        elif re.fullmatch(r"unix_timestamp\(`?[^()]+`?\)", expr):
            self.kind = "unix_timestamp"
        else:
            raise ValueError(f"{table}: partitioned {method} ({expression}); only RANGE (TO_DAYS(col)),"
                             " RANGE (UNIX_TIMESTAMP(col)) and RANGE COLUMNS(col) on a date column are managed")

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


def plan_partitions(cur, item: dict) -> tuple[list[str], list[dict]]:
    """The DDL bringing one table's partitions in line with its settings, and one report row per change."""
    db, table = split_table(item["table"])
    interval = item["interval"]
    cur.execute("SELECT partition_name, partition_method, partition_expression, partition_description, table_rows"
                " FROM information_schema.partitions WHERE table_schema = %s AND table_name = %s"
                " ORDER BY partition_ordinal_position", (db, table))
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
    cur.execute("SELECT CURDATE()")
    today = cur.fetchone()[0]
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
            raise ValueError(f"{item['table']}: a partition named {name} exists already; cannot add the one from {last}")
        new.append(f"PARTITION {q(name)} {scheme.less_than(upper)}")
        rows.append({"table": item["table"], "partition": name, "operation": "add", "from": str(last),
                     "less_than": str(upper)})
        last = upper
    if new:
        target = f"ALTER TABLE {q(db)}.{q(table)}"
        if catch_all:
            ddl.append(f"{target} REORGANIZE PARTITION {q(catch_all)} INTO ("
                       + ", ".join(new + [f"PARTITION {q(catch_all)} VALUES LESS THAN MAXVALUE"]) + ")")
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
            rows.append({"table": item["table"], "partition": name, "operation": "drop", "less_than": str(bound),
                         "retention_cutoff": str(cutoff), "rows": int(cur.fetchone()[0]), "ddl": statement})
    return ddl, rows


def rotate_partitions(cur, item: dict, settings: dict, deadline: float, dry_run: bool) -> list[dict]:
    """Add the next partitions and drop the expired ones of one configured table (only logged in a dry run)."""
    import MySQLdb

    try:
        _left(deadline)
        ddl, rows = plan_partitions(cur, item)
    except BudgetSpent:
        return [{"table": item["table"], "action": _skipped_for_budget(settings)}]
    except (ValueError, MySQLdb.Error) as exc:
        log.warning("%s: partitions not managed: %s", item["table"], exc)
        return [{"table": item["table"], "action": f"failed: {exc}"}]
    if not rows:
        log.info("%s: partitions up to date", item["table"])
        return [{"table": item["table"], "action": "done: nothing to change"}]
    for r in rows:
        if r["operation"] == "drop":
            log.info("%s: partition %s ends %s, on or before the retention cut-off %s: %d row(s) %s", r["table"],
                     r["partition"], r["less_than"], r["retention_cutoff"], r["rows"],
                     "would be dropped (dry run)" if dry_run else "to drop")
    outcome = {}
    for statement in ddl:
        if dry_run:
            log.info("dry run: would run %s", statement)
            outcome[statement] = "would do"
            continue
        try:
            _left(deadline)
            log.info("%s", statement)
            cur.execute(statement)
            outcome[statement] = "done"
        except BudgetSpent:
            outcome[statement] = _skipped_for_budget(settings)
        except MySQLdb.Error as exc:
            log.warning("%s failed: %s", statement, exc)
            outcome[statement] = f"failed: {type(exc).__name__}: {exc.args[-1] if exc.args else exc}"
    return [{**r, "action": outcome[r["ddl"]]} for r in rows]


def _summarise(result: CheckResult, dry_run: bool) -> None:
    d = result.details
    done = [r for r in d["tables"] if r["action"] == "done"]
    optimized = [r for r in done if r["operation"] == "OPTIMIZE TABLE"]
    still_zero = [r for r in d["tables"] if r.get("zero_cardinality_after")]
    parts = d["partitions"]
    result.metrics.update({
        "mysql.optimize.tables": len(optimized),
        "mysql.optimize.reclaimed_bytes": sum(r["reclaimed_bytes"] for r in optimized),
        "mysql.analyze.tables": len(done) - len(optimized),
        "mysql.zero_cardinality_indexes": sum(len(r["zero_cardinality_after"]) for r in still_zero),
        "mysql.purge.expired_rows": sum(r.get("expired", 0) for r in d["purge"]),
        "mysql.purge.deleted_rows": sum(r["deleted"] for r in d["purge"]),
        "mysql.partitions.added": sum(1 for r in parts if r.get("operation") == "add" and r["action"] == "done"),
        "mysql.partitions.dropped": sum(1 for r in parts if r.get("operation") == "drop" and r["action"] == "done"),
        "mysql.recommend.redundant_indexes": len(d["redundant_indexes"]),
    })
    for r in d["redundant_indexes"]:
        result.add(WARNING, f"recommendation: {r['database']}.{r['table']} index {r['index']} is redundant"
                            f" ({r['reason']}): it slows every write for nothing; after checking no query hint"
                            f" names it, run: {r['alter']}")
    for r in still_zero:
        result.add(WARNING, f"{r['database']}.{r['table']}: index(es) {', '.join(r['zero_cardinality_after'])} still"
                            " have cardinality 0 after ANALYZE TABLE: constant or empty column, consider dropping")
    for rows, what in ((d["tables"], "table"), (d["purge"], "purge of"), (parts, "partitions of")):
        for r in rows:
            if r["action"].startswith(("failed", "skipped")):
                name = f"{r['database']}.{r['table']}" if "database" in r else r["table"]
                result.add(WARNING, f"{what} {name}: {r['action']}")
    pending_adds = [r for r in parts if r.get("operation") == "add" and r["action"] == "would do"]
    if dry_run and pending_adds:
        result.add(WARNING, f"dry run: {len(pending_adds)} partition(s) missing ahead of time were not added"
                            f" ({', '.join(sorted({r['table'] for r in pending_adds}))}); run with dry_run off")
