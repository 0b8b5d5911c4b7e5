"""PostgreSQL: reachability, connections, long transactions and statements, idle-in-transaction
sessions, blocking lock chains, prepared transactions, replication lag and slots, WAL archiving,
time since the last checkpoint, wraparound age, sequences near exhaustion, cache hit ratio per
database and slow statements (pg_stat_statements); database sizes and the connected database's largest
tables as metrics (the monthly audit's capacity forecast).

Read-only: every query is a catalog/statistics view, run in a read-only
session with a statement timeout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg

from include.checks.base import CheckResult, counter_growth, literal
from include.clients.postgres import connect, scalar
from include.redact import statement, statements_in

if TYPE_CHECKING:
    from include.checks import Window
    from include.inventory import Target
    from include.targets import Endpoint


def check(target: Target, endpoint: Endpoint, window: Window) -> CheckResult:
    """Grade one PostgreSQL server against the target's thresholds."""
    result = CheckResult(target.name, target.kind)
    with connect(endpoint, target.timeout_seconds) as conn:
        result.details["version"] = scalar(conn, "show server_version")
        _connections(conn, result, target.thresholds)
        _long_transactions(conn, result, target.thresholds)
        _idle_in_transaction(conn, result, target.thresholds)
        _long_statements(conn, result, target.thresholds)
        _blocking_locks(conn, result, target.thresholds)
        _prepared_transactions(conn, result, target.thresholds)
        _replication(conn, result, target.thresholds)
        _replication_slots(conn, result, target.thresholds)
        _archiver(conn, result, window.previous, target.thresholds)
        _checkpoint_age(conn, result, target.thresholds)
        _wraparound(conn, result, target.thresholds)
        _cache_hit(conn, result, target.thresholds)
        sizes(conn, result)
        slow_statements(conn, result, target.thresholds["slow_statement_ms"])
        if not target.options.get("databases"):
            _key_ranges(conn, result, target.thresholds)
    for database in target.options.get("databases") or []:
        _key_ranges_in(endpoint, target, database, result)
    return result


def _key_ranges(conn, result: CheckResult, t: dict) -> None:
    """How close sequences and integer primary keys of the connected database are to their maximum."""
    _sequences(conn, result, t)
    _integer_keys(conn, result, t)


def _key_ranges_in(endpoint, target, database: str, result: CheckResult) -> None:
    """:func:`_key_ranges` in ``database``; one that cannot be opened is a warning and the check goes on."""
    try:
        with connect(endpoint, target.timeout_seconds, database) as conn:
            _key_ranges(conn, result, target.thresholds)
    except psycopg.OperationalError as exc:
        result.add(
            "warning",
            f"database {database}: cannot be opened ({_first_line(exc)}): its sequences and"
            " integer keys were not checked; check the name in the inventory and the grants",
        )


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def connection_usage(conn) -> tuple[int, int, int]:
    """Client backends in use, ``max_connections`` and ``superuser_reserved_connections``."""
    return conn.execute(
        "select (select count(*) from pg_stat_activity where backend_type = 'client backend'),"
        " current_setting('max_connections')::int,"
        " current_setting('superuser_reserved_connections')::int"
    ).fetchone()


def _connections(conn, result: CheckResult, t: dict) -> None:
    used, limit, reserved = connection_usage(conn)
    result.metrics["pg.connections"] = used
    result.details["connections"] = {"used": used, "max_connections": limit, "superuser_reserved": reserved}
    result.grade(
        "pg.connections_pct",
        round(100.0 * used / limit, 1),
        t["connections_warning_pct"],
        t["connections_critical_pct"],
        f"{used} of max_connections {limit} in use ({{value}}%; warning {{warning:g}}%, critical {{critical:g}}%)",
    )


def _long_transactions(conn, result: CheckResult, t: dict) -> None:
    rows = conn.execute(
        "select pid, usename, datname, state, extract(epoch from now() - xact_start)::float as age_s,"
        " left(query, 120) from pg_stat_activity"
        " where xact_start is not null and pid <> pg_backend_pid() and backend_type = 'client backend'"
        " order by xact_start limit 10"
    ).fetchall()
    longest = statements_in([dict(zip(("pid", "user", "database", "state", "age_s", "query"), r)) for r in rows])
    result.details["long_transactions"] = longest
    oldest = longest[0] if longest else None
    result.grade(
        "pg.oldest_transaction_s",
        round(oldest["age_s"], 1) if oldest else 0.0,
        t["long_transaction_warning_s"],
        t["long_transaction_critical_s"],
        "oldest transaction open {value:.0f}s"
        + (
            f" (pid {oldest['pid']}, {oldest['state']}, db {oldest['database']}, user {oldest['user']})"
            if oldest
            else ""
        )
        + " (warning {warning:g}s, critical {critical:g}s)",
    )


def _idle_in_transaction(conn, result: CheckResult, t: dict) -> None:
    """Count every idle-in-transaction session (not only the oldest ten) and grade the count."""
    count, longest = conn.execute(
        "select count(*), coalesce(max(extract(epoch from now() - state_change)), 0)::float"
        " from pg_stat_activity where state like 'idle in transaction%' and backend_type = 'client backend'"
    ).fetchone()
    result.metrics["pg.idle_in_transaction_longest_s"] = round(longest, 1)
    result.grade(
        "pg.idle_in_transaction",
        count,
        t["idle_in_transaction_warning"],
        t["idle_in_transaction_critical"],
        "{value} sessions idle in transaction, longest idle " + f"{longest:.0f}s"
        " (warning {warning:g}, critical {critical:g}): they hold locks and stop VACUUM from removing"
        " dead rows; fix the application that leaves them open or set idle_in_transaction_session_timeout",
    )


def _long_statements(conn, result: CheckResult, t: dict) -> None:
    """The longest-running active statements, graded apart from long transactions."""
    rows = conn.execute(
        "select pid, usename, datname, extract(epoch from now() - query_start)::float, left(query, 120)"
        " from pg_stat_activity where state = 'active' and pid <> pg_backend_pid()"
        " and backend_type = 'client backend' and query_start is not null order by query_start limit 5"
    ).fetchall()
    longest = statements_in([dict(zip(("pid", "user", "database", "running_s", "query"), r)) for r in rows])
    result.details["long_statements"] = longest
    top = longest[0] if longest else None
    result.grade(
        "pg.longest_statement_s",
        round(top["running_s"], 1) if top else 0.0,
        t["long_statement_warning_s"],
        t["long_statement_critical_s"],
        "longest running statement {value:.0f}s"
        + (
            literal(f" (pid {top['pid']}, db {top['database']}, user {top['user']}: {top['query'][:60]!r})")
            if top
            else ""
        )
        + " (warning {warning:g}s, critical {critical:g}s): it holds its locks and snapshot;"
        " look at its plan, cancel it with pg_cancel_backend if it is a runaway",
    )


def _blocking_locks(conn, result: CheckResult, t: dict) -> None:
    """Who blocks whom and for how long (pg_blocking_pids), the longest wait graded."""
    rows = conn.execute(
        "select a.pid, a.usename, a.datname, extract(epoch from now() - coalesce(l.waitstart, a.state_change))::float,"
        " pg_blocking_pids(a.pid), left(a.query, 120)"
        " from pg_stat_activity a left join lateral (select min(waitstart) as waitstart from pg_locks"
        "   where pid = a.pid and not granted) l on true"
        " where a.wait_event_type = 'Lock' and cardinality(pg_blocking_pids(a.pid)) > 0"
        " order by 4 desc limit 20"
    ).fetchall()
    chains = statements_in(
        [dict(zip(("pid", "user", "database", "waiting_s", "blocked_by", "query"), r)) for r in rows]
    )
    result.details["blocked_sessions"] = chains
    result.metrics["pg.blocked_sessions"] = len(chains)
    top = chains[0] if chains else None
    blocker = ""
    if top:
        who = conn.execute(
            "select pid, state, usename, left(query, 80) from pg_stat_activity where pid = %s", (top["blocked_by"][0],)
        ).fetchone()
        blocker = literal(
            f" behind pid {who[0]} ({who[1]}, user {who[2]}: {statement(who[3])!r})"
            if who
            else f" behind pid {top['blocked_by'][0]}"
        )
    result.grade(
        "pg.blocked_longest_s",
        round(top["waiting_s"], 1) if top else 0.0,
        t["blocked_warning_s"],
        t["blocked_critical_s"],
        f"{len(chains)} session(s) waiting on a lock; pid {top['pid'] if top else '-'} has waited {{value:.0f}}s"
        + blocker
        + " (warning {warning:g}s, critical {critical:g}s): its work is stalled;"
        " finish or end the blocking session (pg_terminate_backend) if it is stuck",
    )


def _prepared_transactions(conn, result: CheckResult, t: dict) -> None:
    """Prepared (two-phase) transactions left open: they hold locks and the xmin horizon like any old one."""
    rows = conn.execute(
        "select gid, owner, database, extract(epoch from now() - prepared)::float from pg_prepared_xacts"
        " order by prepared limit 10"
    ).fetchall()
    prepared = [dict(zip(("gid", "owner", "database", "age_s"), r)) for r in rows]
    result.details["prepared_transactions"] = prepared
    result.metrics["pg.prepared_transactions"] = len(prepared)
    top = prepared[0] if prepared else None
    result.grade(
        "pg.oldest_prepared_transaction_s",
        round(top["age_s"], 1) if top else 0.0,
        t["prepared_transaction_warning_s"],
        t["prepared_transaction_critical_s"],
        "prepared transaction "
        + literal(f"{top['gid'] if top else ''!r}")
        + " open {value:.0f}s (db "
        + literal(top["database"] if top else "")
        + ";"
        " warning {warning:g}s, critical {critical:g}s): it holds locks and blocks VACUUM across restarts;"
        " have its transaction manager finish it, or COMMIT PREPARED / ROLLBACK PREPARED it by hand",
    )


def _replication(conn, result: CheckResult, t: dict) -> None:
    in_recovery = conn.execute("select pg_is_in_recovery()").fetchone()[0]
    result.details["role"] = "replica" if in_recovery else "primary"
    if in_recovery:
        lag = conn.execute(
            "select coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp()), 0)::float"
        ).fetchone()[0]
    else:
        rows = conn.execute(
            "select application_name, state, coalesce(extract(epoch from replay_lag), 0)::float"
            " from pg_stat_replication"
        ).fetchall()
        result.details["replicas"] = [{"name": r[0], "state": r[1], "replay_lag_s": r[2]} for r in rows]
        lag = max((r[2] for r in rows), default=None)
    result.grade(
        "pg.replication_lag_s",
        lag,
        t["replication_lag_warning_s"],
        t["replication_lag_critical_s"],
        "replication lag {value:.0f}s (warning {warning:g}s, critical {critical:g}s)",
    )


def _replication_slots(conn, result: CheckResult, t: dict) -> None:
    """Replication slots: the WAL each one retains, and slots no consumer is attached to."""
    rows = conn.execute(
        "select slot_name, slot_type, active, coalesce(database, ''),"
        " coalesce(pg_wal_lsn_diff(case when pg_is_in_recovery() then pg_last_wal_receive_lsn()"
        "   else pg_current_wal_lsn() end, restart_lsn), 0)::bigint"
        " from pg_replication_slots order by 5 desc limit 50"
    ).fetchall()
    slots = [dict(zip(("slot", "type", "active", "database", "retained_bytes"), r)) for r in rows]
    result.details["replication_slots"] = slots
    inactive = [s for s in slots if not s["active"]]
    result.metrics["pg.inactive_slots"] = len(inactive)
    if inactive:
        names = ", ".join(s["slot"] for s in inactive[:5])
        result.add(
            "warning",
            f"{len(inactive)} replication slot(s) with no consumer attached ({names}):"
            " an inactive slot keeps WAL (and for logical slots old rows) forever;"
            " reconnect its replica or drop it with pg_drop_replication_slot",
        )
    top = slots[0] if slots else None
    result.grade(
        "pg.slot_retained_wal_mb",
        round(top["retained_bytes"] / 2**20, 1) if top else 0.0,
        t["slot_retained_wal_warning_mb"],
        t["slot_retained_wal_critical_mb"],
        "replication slot "
        + literal(repr(top["slot"] if top else ""))
        + f" ({'active' if top and top['active'] else 'inactive'})"
        " retains {value:,.1f} MB of WAL (warning {warning:g} MB, critical {critical:g} MB): the WAL disk fills;"
        " catch its consumer up or drop the slot",
    )


def _archiver(conn, result: CheckResult, previous: dict, t: dict) -> None:
    """WAL archiving failures since the previous run (pg_stat_archiver), when archive_mode is on."""
    mode = conn.execute("select current_setting('archive_mode')").fetchone()[0]
    if mode == "off":
        result.details["archiver"] = "archive_mode is off: WAL archiving not checked"
        return
    failed, archived, last_failed_wal, failing = conn.execute(
        "select failed_count, archived_count, last_failed_wal,"
        " coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false)"
        " from pg_stat_archiver"
    ).fetchone()
    result.metrics["pg.archive_failed_total"] = failed
    result.details["archiver"] = {
        "archive_mode": mode,
        "failed_count": failed,
        "archived_count": archived,
        "last_failed_wal": last_failed_wal,
        "failing_now": failing,
    }
    growth = counter_growth(failed, previous.get("pg.archive_failed_total", 0))  # statistics reset or restart
    result.grade(
        "pg.archive_failures",
        growth,
        t["archive_failures_warning"],
        t["archive_failures_critical"],
        "{value:.0f} WAL archiving failure(s) since the previous check"
        + (f", still failing (last {last_failed_wal})" if failing else "")
        + " (warning {warning:g}, critical {critical:g}): unarchived WAL piles up in pg_wal and point-in-time"
        " recovery has a gap; read the server log for the archive_command error",
    )


def _checkpoint_age(conn, result: CheckResult, t: dict) -> None:
    """Seconds since the last checkpoint (pg_control_checkpoint): a long one means a long crash recovery.

    Not graded while less than one WAL segment was written since its redo point: an idle server
    skips checkpoints and has nothing to replay.
    """
    try:
        age, wal_since, segment = conn.execute(
            "select extract(epoch from now() - checkpoint_time)::float,"
            " pg_wal_lsn_diff(case when pg_is_in_recovery() then pg_last_wal_replay_lsn()"
            "   else pg_current_wal_lsn() end, redo_lsn)::bigint,"
            " pg_size_bytes(current_setting('wal_segment_size'))"
            " from pg_control_checkpoint()"
        ).fetchone()
    except psycopg.errors.InsufficientPrivilege:
        result.details["checkpoint"] = "pg_control_checkpoint() not allowed for this login: not checked"
        return
    result.details["checkpoint"] = {"age_s": round(age, 1), "wal_since_redo_bytes": wal_since}
    if wal_since is None or wal_since < segment:
        result.details["checkpoint"]["note"] = "under one WAL segment written since: idle, not graded"
        return
    result.grade(
        "pg.checkpoint_age_s",
        round(age, 1),
        t["checkpoint_age_warning_s"],
        t["checkpoint_age_critical_s"],
        f"last checkpoint {{value:.0f}}s ago with {wal_since / 2**20:,.0f} MB of WAL written since"
        " (warning {warning:g}s, critical {critical:g}s): crash recovery would replay all of it;"
        " check checkpoint_timeout / max_wal_size and the server log for failed checkpoints",
    )


SEQUENCES = r"""
    select s.schemaname, s.sequencename, s.last_value,
           least(s.max_value, case t.typname when 'int2' then 32767 when 'int4' then 2147483647
                                             else 9223372036854775807 end),
           c.relname, a.attname, t.typname
    from pg_sequences s
    join pg_class sc on sc.relname = s.sequencename
    join pg_namespace sn on sn.oid = sc.relnamespace and sn.nspname = s.schemaname
    left join pg_depend d on d.objid = sc.oid and d.classid = 'pg_class'::regclass and d.deptype in ('a', 'i')
    left join pg_class c on c.oid = d.refobjid
    left join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
    left join pg_type t on t.oid = a.atttypid
    where s.increment_by > 0 and s.last_value is not null
    order by s.last_value::numeric / least(s.max_value, case t.typname when 'int2' then 32767
             when 'int4' then 2147483647 else 9223372036854775807 end) desc
    limit 10"""


def _sequences(conn, result: CheckResult, t: dict) -> None:
    """Ascending sequences against their maximum, or the maximum of the integer column they feed
    (a ``serial`` primary key on a bigint sequence still stops at 2,147,483,647)."""
    database = conn.info.dbname
    rows = conn.execute(SEQUENCES).fetchall()
    found = [
        {
            "database": database,
            "sequence": f"{s}.{n}",
            "last_value": last,
            "max_value": top,
            "used_pct": round(100.0 * last / top, 2),
            "column": f"{table}.{column} ({typ})" if table else None,
        }
        for s, n, last, top, table, column, typ in rows
    ]
    result.details.setdefault("sequences", []).extend(found)
    if not found:
        return
    worst = found[0]
    result.grade(
        f"pg.sequence_used_pct[{database}]",
        worst["used_pct"],
        t["sequence_warning_pct"],
        t["sequence_critical_pct"],
        literal(
            f"sequence {database}:{worst['sequence']} at {worst['last_value']:,} of {worst['max_value']:,}"
            + (f" (feeds {worst['column']})" if worst["column"] else "")
        )
        + " = {value}% used (warning {warning:g}%, critical {critical:g}%): inserts fail when it runs out;"
        " move the column and sequence to bigint before then",
    )


INTEGER_KEYS = r"""
    select n.nspname, c.relname, a.attname, t.typname
    from pg_index i join pg_class c on c.oid = i.indrelid join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attnum = i.indkey[0] join pg_type t on t.oid = a.atttypid
    where i.indisprimary and i.indnatts = 1 and t.typname in ('int2', 'int4') and c.relkind = 'r'
      and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\_temp\_%'
    order by pg_relation_size(c.oid) desc, 1, 2 limit 20"""
INTEGER_MAX = {"int2": 32_767, "int4": 2_147_483_647}


def _integer_keys(conn, result: CheckResult, t: dict) -> None:
    """Single-column smallint/integer primary keys against their type's maximum (the 20 largest tables,
    ``max()`` read through the key's index; a table locked for over a second is skipped)."""
    from psycopg import sql

    database = conn.info.dbname
    found, skipped = [], []
    conn.execute("set lock_timeout = '1s'")
    for schema, table, column, typ in conn.execute(INTEGER_KEYS).fetchall():
        try:
            top = conn.execute(
                sql.SQL("select max({}) from {}").format(sql.Identifier(column), sql.Identifier(schema, table))
            ).fetchone()[0]
        except psycopg.errors.LockNotAvailable:
            skipped.append(f"{schema}.{table}")
            continue
        if top is not None:
            found.append(
                {
                    "database": database,
                    "key": f"{schema}.{table}.{column}",
                    "type": typ,
                    "max_used": top,
                    "used_pct": round(100.0 * top / INTEGER_MAX[typ], 2),
                }
            )
    found.sort(key=lambda k: -k["used_pct"])
    result.details.setdefault("integer_keys", []).extend(found)
    if skipped:
        result.details.setdefault("integer_keys_skipped_locked", []).extend(skipped)
    if not found:
        return
    worst = found[0]
    result.grade(
        f"pg.integer_key_used_pct[{database}]",
        worst["used_pct"],
        t["sequence_warning_pct"],
        t["sequence_critical_pct"],
        literal(
            f"primary key {database}:{worst['key']} ({worst['type']}) at {worst['max_used']:,} of"
            f" {INTEGER_MAX[worst['type']]:,}"
        )
        + " = {value}% of its type (warning {warning:g}%, critical {critical:g}%): inserts fail at the"
        " maximum; change the column to bigint (a table rewrite: plan the window)",
    )


def _wraparound(conn, result: CheckResult, t: dict) -> None:
    datname, age = conn.execute("select datname, age(datfrozenxid) from pg_database order by 2 desc limit 1").fetchone()
    result.grade(
        "pg.xid_age",
        age,
        t["xid_age_warning"],
        t["xid_age_critical"],
        "transaction ID age {value:,} in database "
        + literal(datname)
        + " (warning {warning:,.0f}, critical {critical:,.0f}): vacuum it",
    )


#: how many databases (largest first) and tables of the connected database get a size metric
SIZE_DATABASES, SIZE_TABLES = 50, 10


def sizes(conn, result: CheckResult) -> None:
    """Metrics only, never graded: ``pg.database_bytes[<database>]`` of the largest databases the login may
    connect to and ``pg.table_bytes[<schema>.<table>]`` (heap, indexes, TOAST) of the connected database's
    largest tables: the history the monthly audit's capacity section fits a trend to. A size that cannot be
    read (a database dropped meanwhile, a statement timeout) is a note, not a failure of the check."""
    queries = {
        "pg.database_bytes": (
            "select datname, pg_database_size(oid) from pg_database"
            " where datallowconn and not datistemplate and has_database_privilege(oid, 'CONNECT')"
            " order by 2 desc, 1 limit %s",
            SIZE_DATABASES,
        ),
        "pg.table_bytes": (
            "select n.nspname || '.' || c.relname, pg_total_relation_size(c.oid) from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace"
            " where c.relkind in ('r', 'm') and n.nspname <> 'information_schema' and n.nspname !~ '^pg_'"
            " order by 2 desc, 1 limit %s",
            SIZE_TABLES,
        ),
    }
    for metric, (query, limit) in queries.items():
        try:
            rows = conn.execute(query, (limit,)).fetchall()
        except psycopg.Error as exc:
            result.details.setdefault("sizes_not_read", {})[metric] = _first_line(exc)
            continue
        for name, size in rows:
            result.metrics[f"{metric}[{name}]"] = float(size)


CACHE_HIT_MIN_BLOCKS = 10_000  # fewer block reads than this and a database's ratio means nothing yet


def _cache_hit(conn, result: CheckResult, t: dict) -> None:
    """The cache hit ratio of each database on its own (a cold one is not hidden behind a busy one)."""
    rows = conn.execute(
        "select datname, blks_hit::float, blks_read::float from pg_stat_database"
        " where datname is not null order by datname limit 500"
    ).fetchall()
    ratios, quiet = {}, []
    for datname, hit, read in rows:
        if hit + read < CACHE_HIT_MIN_BLOCKS:
            quiet.append(datname)
            continue
        ratios[datname] = round(100.0 * hit / (hit + read), 2)
        result.grade_floor(
            f"pg.cache_hit_pct[{datname}]",
            ratios[datname],
            t["cache_hit_warning_min_pct"],
            t["cache_hit_critical_min_pct"],
            "cache hit ratio of database " + literal(datname) + " {value}% (warning below {warning:g}%,"
            " critical below {critical:g}%): its reads go to disk; look at shared_buffers and"
            " at its queries that read whole tables",
        )
    result.details["cache_hit"] = {
        "per_database_pct": ratios,
        "not_graded_fewer_than_blocks": CACHE_HIT_MIN_BLOCKS,
        "not_graded": quiet,
    }
    if ratios:
        result.metrics["pg.cache_hit_pct"] = min(ratios.values())


def slow_statements(conn, result: CheckResult, slow_ms: float) -> None:
    """Statements averaging over ``slow_ms`` (pg_stat_statements), or a note saying why not checked."""
    if not conn.execute("select 1 from pg_extension where extname = 'pg_stat_statements'").fetchone():
        result.details["slow_statements"] = "pg_stat_statements is not installed: slow statements not checked"
        return
    try:
        rows = conn.execute(
            "select left(query, 200), calls, round(mean_exec_time::numeric, 1)::float"
            " from pg_stat_statements where mean_exec_time > %s order by mean_exec_time desc limit 10",
            (slow_ms,),
        ).fetchall()
    except psycopg.Error as exc:  # installed but not in shared_preload_libraries
        result.details["slow_statements"] = f"pg_stat_statements unreadable: {str(exc).strip().splitlines()[0]}"
        return
    result.details["slow_statements"] = [{"query": statement(q), "calls": c, "mean_ms": m} for q, c, m in rows]
    result.metrics["pg.slow_statements"] = len(rows)
    if rows:
        result.add(
            "warning",
            f"{len(rows)} statement(s) average over {slow_ms:g} ms; slowest {rows[0][2]} ms: {rows[0][0][:80]!r}",
        )
