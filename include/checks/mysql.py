"""MySQL / MariaDB: connections against max_connections, Slow_queries growth, statements running
longer than the threshold (10 s in the seeds), replication state (when a replica), InnoDB deadlocks
since the previous run, tables without a primary key, and duplicate / left-prefix redundant indexes
(as ``pt-duplicate-key-checker`` finds them, with the ``ALTER`` that drops them: recommended, never run);
database and largest-table sizes as metrics (the monthly audit's capacity forecast).

Reads only; every statement has a server-side time limit (MariaDB ``max_statement_time``, MySQL
``max_execution_time``) under the client's read timeout, and every query is bounded by a LIMIT.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.checks.base import CheckResult, literal
from include.clients.mysql import connect, quote_ident
from include.redact import innodb_deadlock, statements_in

if TYPE_CHECKING:
    from include.checks import Window
    from include.inventory import Target
    from include.targets import Endpoint


def check(target: Target, endpoint: Endpoint, window: Window) -> CheckResult:
    """Grade one MySQL/MariaDB server against the target's thresholds."""
    t = target.thresholds
    result = CheckResult(target.name, target.kind)
    conn = connect(endpoint, target.timeout_seconds, read_only=True)
    try:
        cur = conn.cursor()
        status = _variables(
            cur, "SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_connected', 'Slow_queries', 'Uptime')"
        )
        variables = _variables(cur, "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('max_connections', 'version')")
        result.details["version"] = variables.get("version")
        _limit_statement_time(cur, variables.get("version") or "", target.timeout_seconds)
        connected, limit = int(status["Threads_connected"]), int(variables["max_connections"])
        result.metrics["mysql.threads_connected"] = connected
        result.grade(
            "mysql.connections_pct",
            round(100.0 * connected / limit, 1),
            t["connections_warning_pct"],
            t["connections_critical_pct"],
            f"{connected} of max_connections {limit} connected ({{value}}%; warning {{warning:g}}%, critical {{critical:g}}%)",
        )
        _slow_queries_growth(result, int(status["Slow_queries"]), int(status["Uptime"]), window.previous, t)
        _long_queries(cur, result, t)
        replication(cur, result, t)
        _deadlocks(cur, result, int(status["Uptime"]), window.previous, t)
        databases = list(target.options.get("databases") or []) or _user_databases(cur)
        _tables_without_primary_key(cur, result, databases, t)
        sizes(cur, result, databases)
        found = redundant_indexes(cur, databases)
        result.details["redundant_indexes"] = found
        result.grade(
            "mysql.redundant_indexes",
            len(found),
            t["redundant_indexes_warning"],
            None,
            "{value} redundant index(es)"
            + literal(
                f", e.g. {found[0]['database']}.{found[0]['table']} {found[0]['index']} ({found[0]['reason']})"
                if found
                else ""
            )
            + " (warning {warning:g}): each one slows every write and takes space for nothing;"
            " drop it after checking no query hints name it: " + literal(found[0]["alter"] if found else ""),
        )
    finally:
        conn.close()
    return result


def _variables(cur, sql: str) -> dict[str, str]:
    cur.execute(sql)
    return dict(cur.fetchall())


def _slow_queries_growth(result: CheckResult, total: int, uptime: int, previous: dict, t: dict) -> None:
    """Grade how many slow queries were added since the previous run (a counter: growth matters)."""
    result.metrics["mysql.slow_queries_total"] = total
    result.metrics["mysql.uptime_s"] = uptime
    before = previous.get("mysql.slow_queries_total")
    if before is None:  # the first run is the baseline (as check_mysql_health's deltas): a lifetime total is no news
        result.details["slow_queries_growth"] = (
            f"no previous run recorded: {total} slow queries since server start, graded from the next run on"
        )
        return
    if uptime < previous.get("mysql.uptime_s", 0):
        result.details["slow_queries_growth"] = "server restarted since the previous run: growth counted from restart"
        before = 0
    result.grade(
        "mysql.slow_queries_growth",
        max(0, total - int(before)),
        t["slow_queries_growth_warning"],
        t["slow_queries_growth_critical"],
        "{value} new slow queries since the previous check (warning {warning:g}, critical {critical:g})",
    )


def _long_queries(cur, result: CheckResult, t: dict) -> None:
    cur.execute(
        "SELECT id, user, db, time, state, LEFT(info, 120) FROM information_schema.processlist"
        " WHERE command NOT IN ('Sleep', 'Daemon', 'Binlog Dump') AND time > %s AND id <> CONNECTION_ID()"
        " ORDER BY time DESC LIMIT 20",
        (int(t["long_query_s"]),),
    )
    rows = statements_in(
        [dict(zip(("id", "user", "db", "time_s", "state", "query"), r)) for r in cur.fetchall()], dialect="mysql"
    )
    result.details["long_queries"] = rows
    result.metrics["mysql.long_queries"] = len(rows)
    if rows:
        level = "critical" if len(rows) >= t["long_queries_critical"] else "warning"
        result.add(
            level,
            f"{len(rows)} statement(s) running over {t['long_query_s']:g}s; longest {rows[0]['time_s']}s"
            f" (id {rows[0]['id']}, user {rows[0]['user']}): {rows[0]['query']!r}",
        )


SYSTEM_DATABASES = ("mysql", "information_schema", "performance_schema", "sys")


def _limit_statement_time(cur, version: str, timeout_s: float) -> None:
    """A server-side limit on every statement of this session (the client read timeout is the backstop)."""
    if "mariadb" in version.lower():
        cur.execute("SET SESSION max_statement_time = %s", (float(timeout_s),))
    else:
        cur.execute("SET SESSION max_execution_time = %s", (int(timeout_s * 1000),))


#: how many tables (largest first) get a size metric
SIZE_TABLES = 10


def sizes(cur, result: CheckResult, databases: list[str]) -> None:
    """Metrics only, never graded: ``mysql.database_bytes[<database>]`` (data + indexes) of each checked
    database and ``mysql.table_bytes[<database>.<table>]`` of their largest tables, from
    ``information_schema.tables``: the history the monthly audit's capacity section fits a trend to."""
    if not databases:
        return
    cur.execute(
        "SELECT table_schema, COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables"
        " WHERE table_schema IN %s GROUP BY table_schema LIMIT 1000",
        (tuple(databases),),
    )
    for database, size in cur.fetchall():
        result.metrics[f"mysql.database_bytes[{database}]"] = float(size)
    cur.execute(
        "SELECT table_schema, table_name, COALESCE(data_length + index_length, 0) AS size"
        " FROM information_schema.tables WHERE table_schema IN %s AND table_type = 'BASE TABLE'"
        " ORDER BY size DESC, table_schema, table_name LIMIT %s",
        (tuple(databases), SIZE_TABLES),
    )
    for database, table, size in cur.fetchall():
        result.metrics[f"mysql.table_bytes[{database}.{table}]"] = float(size)


def _user_databases(cur) -> list[str]:
    cur.execute(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN %s"
        " ORDER BY schema_name LIMIT 1000",
        (SYSTEM_DATABASES,),
    )
    return [r[0] for r in cur.fetchall()]


def replication(cur, result: CheckResult, t: dict) -> None:
    """IO/SQL threads, seconds behind the source and the last error; not graded when not a replica."""
    import MySQLdb

    try:
        cur.execute("SHOW SLAVE STATUS")  # MariaDB and MySQL (SHOW REPLICA STATUS is newer in both)
    except MySQLdb.OperationalError as exc:  # no REPLICATION CLIENT / SLAVE MONITOR privilege
        result.details["replication"] = f"replica status unreadable ({exc.args[-1]}): replication not checked"
        return
    names = [d[0] for d in cur.description or []]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    if not rows:
        result.details["replication"] = "not a replica: replication not graded"
        return
    status = rows[0]

    def field(*keys):
        return next((status[k] for k in keys if k in status), None)

    io, sql = field("Slave_IO_Running", "Replica_IO_Running"), field("Slave_SQL_Running", "Replica_SQL_Running")
    behind = field("Seconds_Behind_Master", "Seconds_Behind_Source")
    error = field("Last_IO_Error") or field("Last_SQL_Error") or ""
    source = f"{field('Master_Host', 'Source_Host')}:{field('Master_Port', 'Source_Port')}"
    result.details["replication"] = {
        "source": source,
        "io_running": io,
        "sql_running": sql,
        "seconds_behind": behind,
        "last_error": error[:300],
    }
    result.metrics["mysql.replication_running"] = float(io == "Yes" and sql == "Yes")
    if io != "Yes" or sql != "Yes":
        result.add(
            "critical",
            f"replication from {source} stopped: IO thread {io}, SQL thread {sql}"
            + (f", last error: {error[:200]}" if error else "")
            + ": this replica falls further behind every second; fix the error, then"
            " START SLAVE (check the source is up and the replication user can log in)",
        )
        return
    result.grade(
        "mysql.replication_lag_s",
        None if behind is None else int(behind),
        t["replication_lag_warning_s"],
        t["replication_lag_critical_s"],
        "replica {value}s behind " + literal(source) + " (warning {warning:g}s, critical {critical:g}s):"
        " reads from it are stale; look for long transactions on the source or a slow SQL thread",
    )


def _deadlocks(cur, result: CheckResult, uptime: int, previous: dict, t: dict) -> None:
    """InnoDB deadlocks since the previous run (MariaDB ``Innodb_deadlocks``, MySQL ``lock_deadlocks``)."""
    cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")
    row = cur.fetchone()
    if row is None:
        cur.execute("SELECT count FROM information_schema.innodb_metrics WHERE name = 'lock_deadlocks'")
        row = cur.fetchone()
        row = (None, row[0]) if row else None
    if row is None:
        result.details["deadlocks"] = "no deadlock counter on this server: not checked"
        return
    total = int(row[1])
    result.metrics["mysql.deadlocks_total"] = total
    before = previous.get("mysql.deadlocks_total")
    if before is None:  # the first run is the baseline: a lifetime total says nothing about now
        result.details["deadlocks_growth"] = (
            f"no previous run recorded: {total} deadlock(s) since server start, graded from the next run on"
        )
        return
    if uptime < previous.get("mysql.uptime_s", 0) or total < before:
        result.details["deadlocks_growth"] = (
            "server restarted since the previous run: deadlocks counted since its start"
        )
        before = 0
    growth = total - int(before)
    result.grade(
        "mysql.deadlocks",
        growth,
        t["deadlocks_warning"],
        t["deadlocks_critical"],
        "{value} InnoDB deadlock(s) since the previous check (warning {warning:g}, critical {critical:g}):"
        " each one rolled a transaction back; the latest is in SHOW ENGINE INNODB STATUS"
        " (LATEST DETECTED DEADLOCK): make the transactions take their locks in one order",
    )
    if growth:
        result.details["latest_deadlock"] = _latest_deadlock(cur)


def _latest_deadlock(cur) -> str:
    """The LATEST DETECTED DEADLOCK section of SHOW ENGINE INNODB STATUS (bounded), or why not."""
    import MySQLdb

    try:
        cur.execute("SHOW ENGINE INNODB STATUS")
        text = cur.fetchone()[2]
    except MySQLdb.OperationalError as exc:
        return f"SHOW ENGINE INNODB STATUS not allowed ({exc.args[-1]})"
    start = text.find("LATEST DETECTED DEADLOCK")
    if start < 0:
        return "no deadlock section in SHOW ENGINE INNODB STATUS"
    end = text.find("\n------------\nTRANSACTIONS", start)
    return innodb_deadlock(text[start : end if end > 0 else start + 3000][:3000])


def _tables_without_primary_key(cur, result: CheckResult, databases: list[str], t: dict) -> None:
    """Base tables with no primary key: row-based replication scans them, Galera and clusters refuse them."""
    if not databases:
        return
    cur.execute(
        "SELECT t.table_schema, t.table_name FROM information_schema.tables t"
        " LEFT JOIN information_schema.table_constraints c ON c.table_schema = t.table_schema"
        "  AND c.table_name = t.table_name AND c.constraint_type = 'PRIMARY KEY'"
        " WHERE t.table_type = 'BASE TABLE' AND t.table_schema IN %s AND c.constraint_name IS NULL"
        " ORDER BY t.table_schema, t.table_name LIMIT 100",
        (tuple(databases),),
    )
    tables = [f"{db}.{name}" for db, name in cur.fetchall()]
    result.details["tables_without_primary_key"] = tables
    result.grade(
        "mysql.tables_without_pk",
        len(tables),
        t["tables_without_pk_warning"],
        None,
        "{value} table(s) without a primary key"
        + literal(f" ({', '.join(tables[:5])})" if tables else "")
        + " (warning {warning:g}): replicas apply each row change to them by a full scan; add one",
    )


def redundant_indexes(cur, databases: list[str]) -> list[dict]:
    """Duplicate indexes and left-prefix redundant ones of ``databases``, as pt-duplicate-key-checker
    finds them (without its foreign-key and clustered-suffix checks), each with the ``ALTER`` that drops it.

    Rules: among B-tree indexes of one table, an index whose columns (and prefix lengths) equal another's
    is a duplicate, and one whose columns are a left prefix of another's is redundant; a unique index is
    never dropped in favour of a non-unique one, the primary key never.
    """
    if not databases:
        return []
    cur.execute(
        "SELECT table_schema, table_name, index_name, non_unique, index_type, column_name, sub_part"
        " FROM information_schema.statistics WHERE table_schema IN %s"
        " ORDER BY table_schema, table_name, index_name, seq_in_index LIMIT 50000",
        (tuple(databases),),
    )
    tables: dict[tuple[str, str], dict[str, dict]] = {}
    for db, table, index, non_unique, kind, column, sub_part in cur.fetchall():
        key = tables.setdefault((db, table), {}).setdefault(
            index, {"unique": not int(non_unique), "type": kind, "columns": []}
        )
        key["columns"].append((column.lower(), sub_part))
    found = []
    for (db, table), keys in tables.items():
        for name, key in sorted(keys.items()):
            reason = _redundant_because(name, key, keys)
            if reason:
                found.append(
                    {
                        "database": db,
                        "table": table,
                        "index": name,
                        "reason": reason,
                        "columns": [c for c, _ in key["columns"]],
                        "alter": f"ALTER TABLE {quote_ident(db)}.{quote_ident(table)} DROP INDEX {quote_ident(name)}",
                    }
                )
    return found


def _redundant_because(name: str, key: dict, keys: dict) -> str | None:
    """Why index ``name`` can go (the index that covers it), or None when it cannot."""
    if name == "PRIMARY" or key["type"] != "BTREE":
        return None
    for other_name, other in sorted(keys.items()):
        if other_name == name or other["type"] != "BTREE":
            continue
        if other["columns"] == key["columns"]:
            # of two equal keys keep the primary, then the unique one, then the first by name
            if (
                other_name == "PRIMARY"
                or (other["unique"] and not key["unique"])
                or (other["unique"] == key["unique"] and other_name < name)
            ):
                return f"duplicate of {other_name}"
        elif not key["unique"] and other["columns"][: len(key["columns"])] == key["columns"]:
            return f"left prefix of {other_name}"
    return None
