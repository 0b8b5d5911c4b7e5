"""PostgreSQL weekly maintenance: VACUUM (ANALYZE) only where the statistics say so, plus recommendations.

**What it looks at**, in each database of the target (its ``databases`` option; empty = the
connection's own database): ``pg_stat_user_tables`` and ``pg_class``. A table is

- vacuumed (``VACUUM (ANALYZE)``) when it has at least ``dead_tuples_min`` dead tuples and they are
  at least ``dead_ratio`` of its live ones, or when it has that many dead tuples and no vacuum (by
  hand or autovacuum) for ``vacuum_stale_days``;
- vacuumed with freezing (``VACUUM (FREEZE, ANALYZE)``) when its ``relfrozenxid`` age reaches
  ``freeze_age`` (wraparound protection);
- only analyzed (``ANALYZE``) when just its statistics are stale: at least ``analyze_mod_min`` rows
  changed since the last analyze and that is ``analyze_mod_ratio`` of its live rows, or rows
  changed and no analyze for ``analyze_stale_days``;
- left alone otherwise. Nothing is ever vacuumed blindly.

**How**: outside transactions (autocommit), worst tables first, at most ``parallelism`` tables at
once per server (like ``vacuumdb --jobs``; the weekly DAG also bounds it with an Airflow pool),
identifiers quoted by the driver. ``lock_timeout_s`` makes a table an application holds locked a
"skipped" row instead of a queue behind it; ``statement_timeout_s`` bounds one table. Once
``max_seconds`` is used up no further table is started (statements in flight are cut off at the
budget too) and the rest are reported as skipped. Per table the report gives the duration, dead
tuples and total size (``pg_total_relation_size``) before and after: the difference is the space
given back to the operating system (plain VACUUM only truncates empty pages at the end of a table;
the rest becomes free space for new rows, counted as dead tuples removed).

**Recommendations, never applied**: slow statements from ``pg_stat_statements`` (a note when the
extension is absent), unused indexes (no scan since the statistics were reset, not unique or primary
key, at least ``unused_index_min_bytes``), duplicate indexes (same table, same key columns or
expressions, same predicate), missing-index candidates (tables of at least ``seq_scan_min_rows`` rows
read by sequential scan at least ``seq_scan_min`` times and more often than through an index), and
connections in use against ``max_connections`` minus ``superuser_reserved_connections`` and against
``pool_size`` (the total size of the application / PgBouncer pools pointing at this server), if set.

**Rewrite candidates, recommended only**: after the VACUUMs, a table whose heap is still at least
``full_vacuum_min_bytes`` and of which at least ``full_vacuum_ratio`` is free space (plain VACUUM
keeps it inside the file) is recommended for ``VACUUM FULL`` or ``pg_repack``, with the space the
rewrite would return and the lock it needs. Free space is measured by ``pgstattuple_approx`` where the
``pgstattuple`` extension is installed in the database, else estimated from the live row count and
the columns' average widths (``pg_stats``). Aegis never runs either.

VACUUM and ANALYZE change no data: they run whether or not the run is a dry run.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from include.checks.base import WARNING, CheckResult
from include.targets import Endpoint
from include.weekly.budget import Budget
from include.weekly.concern import concern
from include.weekly.settings_check import require_numbers

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "max_seconds": 3600,  # budget of the whole step; no new table is started after it
    "parallelism": 2,  # tables vacuumed at once (connections), like vacuumdb --jobs
    "connect_timeout_s": 10,
    "statement_timeout_s": 1800,  # one table's VACUUM at most
    "lock_timeout_s": 10,  # a table locked longer than this by an application is skipped
    "dead_tuples_min": 1000,
    "dead_ratio": 0.1,  # dead tuples against live ones
    "vacuum_stale_days": 7,
    "freeze_age": 150_000_000,  # relfrozenxid age (vacuum_freeze_table_age's default)
    "analyze_mod_min": 1000,
    "analyze_mod_ratio": 0.1,
    "analyze_stale_days": 7,
    "slow_statement_ms": 1000,
    "unused_index_min_bytes": 1 << 20,
    "seq_scan_min_rows": 100_000,
    "seq_scan_min": 100,
    "pool_size": None,  # total configured pool size towards this server, when known
    "connections_warning_pct": 75,
    "full_vacuum_min_bytes": 100 << 20,  # heap size from which a rewrite is worth recommending
    "full_vacuum_ratio": 0.5,  # share of the heap that is free space after VACUUM
}
APPLICATION_NAME = "aegis-weekly-vacuum"
_POSITIVE = ("max_seconds", "parallelism", "connect_timeout_s", "statement_timeout_s", "lock_timeout_s")
_NON_NEGATIVE = (
    "dead_tuples_min",
    "dead_ratio",
    "vacuum_stale_days",
    "freeze_age",
    "analyze_mod_min",
    "analyze_mod_ratio",
    "analyze_stale_days",
    "slow_statement_ms",
    "unused_index_min_bytes",
    "seq_scan_min_rows",
    "seq_scan_min",
    "connections_warning_pct",
    "full_vacuum_min_bytes",
    "full_vacuum_ratio",
)

TABLE_STATS = r"""
    select s.schemaname, s.relname, s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze,
           extract(epoch from now() - greatest(s.last_vacuum, s.last_autovacuum))::float / 86400,
           extract(epoch from now() - greatest(s.last_analyze, s.last_autoanalyze))::float / 86400,
           age(c.relfrozenxid), pg_total_relation_size(c.oid)
    from pg_stat_user_tables s join pg_class c on c.oid = s.relid
    where c.relkind in ('r', 'm') and s.schemaname not like 'pg\_temp\_%'
      and s.schemaname not like 'pg\_toast\_temp\_%'"""
TABLE_AFTER = (
    "select n_dead_tup, pg_total_relation_size(relid) from pg_stat_user_tables where schemaname = %s and relname = %s"
)


def check_settings(settings: dict) -> None:
    """Raise ``ValueError("<key>: <reason>")`` for a setting that cannot work (missing keys: the defaults)."""
    settings = {**DEFAULTS, **settings}
    require_numbers(settings, positive=_POSITIVE, non_negative=_NON_NEGATIVE)
    if not isinstance(settings["parallelism"], int):
        raise ValueError(f"parallelism: must be a whole number of connections, got {settings['parallelism']!r}")
    pool = settings.get("pool_size")
    if pool is not None and (isinstance(pool, bool) or not isinstance(pool, int) or pool <= 0):
        raise ValueError(f"pool_size: must be a positive whole number or empty, got {pool!r}")


@dataclass
class Job:
    """One table to maintain: what to run on it and why."""

    database: str
    schema: str
    table: str
    operation: str  # "VACUUM (ANALYZE)", "VACUUM (FREEZE, ANALYZE)" or "ANALYZE"
    reason: str
    dead_before: int
    size_before: int


@concern(DEFAULTS, check_settings)
def maintain(
    target: Any, endpoint: Endpoint, settings: dict[str, Any], budget: Budget, *, dry_run: bool = True
) -> CheckResult:
    """Server-wide recommendations, then per database: recommendations and VACUUM/ANALYZE where needed.

    A server that cannot be reached raises (the DAG turns it into an ``unreachable`` result); a
    database of the list that cannot be opened becomes a warning and the others go on.
    """
    import psycopg

    from include.checks.postgres import slow_statements

    result = CheckResult(target.name, target.kind)
    databases = list(target.options.get("databases") or []) or [endpoint.schema or "postgres"]
    with _read_connection(endpoint, endpoint.schema or "postgres", settings) as conn:
        _connection_usage(conn, result, settings)
        slow_statements(conn, result, settings["slow_statement_ms"])
    rows: list[dict] = []
    recommendations: dict[str, list] = {
        "unused_indexes": [],
        "duplicate_indexes": [],
        "seq_scan_candidates": [],
        "rewrite_candidates": [],
    }
    for database in databases:
        try:
            with _read_connection(endpoint, database, settings) as conn:
                for name, found in recommend(conn, settings).items():
                    recommendations[name] += [{"database": database, **r} for r in found]
                jobs = pick_tables(conn, database, settings)
        except psycopg.Error as exc:
            message = (str(exc).strip().splitlines() or [""])[0]
            log.warning("%s/%s: not maintained: %s", target.name, database, message)
            result.add(WARNING, f"database {database} not maintained: {message}")
            continue
        log.info("%s/%s: %d table(s) need maintenance", target.name, database, len(jobs))
        rows += run_jobs(endpoint, database, jobs, settings, budget)
        try:  # after the VACUUMs: what plain VACUUM could not give back
            with _read_connection(endpoint, database, settings) as conn:
                recommendations["rewrite_candidates"] += [
                    {"database": database, **r} for r in rewrite_candidates(conn, settings)
                ]
        except psycopg.Error as exc:
            result.add(
                WARNING,
                f"database {database}: rewrite candidates not measured: {(str(exc).strip().splitlines() or [''])[0]}",
            )
    _summarise(result, rows, recommendations, settings)
    return result


def _read_connection(endpoint, database: str, settings: dict):
    from include.clients.postgres import connect

    return connect(
        endpoint,
        settings["connect_timeout_s"],
        database,
        read_only=True,
        statement_timeout_s=min(60, settings["statement_timeout_s"]),
        application_name=APPLICATION_NAME,
    )


def pick_tables(conn, database: str, settings: dict) -> list[Job]:
    """The tables of ``database`` (``conn`` is connected to it) whose statistics call for VACUUM or ANALYZE,
    worst first."""
    stats = conn.execute(TABLE_STATS).fetchall()
    jobs = [job for row in stats if (job := _job_for(database, row, settings))]
    order = {"VACUUM (FREEZE, ANALYZE)": 0, "VACUUM (ANALYZE)": 1, "ANALYZE": 2}
    return sorted(jobs, key=lambda j: (order[j.operation], -j.dead_before, j.schema, j.table))


def _job_for(database: str, row: tuple, s: dict) -> Job | None:
    schema, table, live, dead, modified, vacuum_days, analyze_days, xid_age, size = row
    never = float("inf")
    vacuum_days = never if vacuum_days is None else vacuum_days
    analyze_days = never if analyze_days is None else analyze_days
    operation = reason = None
    if xid_age >= s["freeze_age"]:
        operation, reason = "VACUUM (FREEZE, ANALYZE)", f"relfrozenxid age {xid_age:,} ≥ {s['freeze_age']:,}"
    elif dead >= s["dead_tuples_min"] and dead >= s["dead_ratio"] * live:
        operation, reason = "VACUUM (ANALYZE)", f"{dead:,} dead tuples against {live:,} live"
    elif dead >= s["dead_tuples_min"] and vacuum_days >= s["vacuum_stale_days"]:
        operation = "VACUUM (ANALYZE)"
        reason = f"{dead:,} dead tuples and " + (
            "never vacuumed" if vacuum_days == never else f"last vacuumed {vacuum_days:.0f} days ago"
        )
    elif modified >= s["analyze_mod_min"] and modified >= s["analyze_mod_ratio"] * live:
        operation, reason = "ANALYZE", f"{modified:,} rows changed since the last analyze ({live:,} live)"
    elif modified > 0 and analyze_days >= s["analyze_stale_days"]:
        operation = "ANALYZE"
        reason = f"{modified:,} rows changed and " + (
            "never analyzed" if analyze_days == never else f"last analyzed {analyze_days:.0f} days ago"
        )
    if operation is None:
        return None
    return Job(database, schema, table, operation, reason or operation, dead, size)


class _Connections:
    """One writable autocommit connection per worker thread, all closed at the end."""

    def __init__(self, endpoint, database: str, settings: dict):
        self.endpoint, self.database, self.settings = endpoint, database, settings
        self.local, self.lock = threading.local(), threading.Lock()
        self.opened: list[Any] = []

    def get(self):
        conn = getattr(self.local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            from include.clients.postgres import connect

            s = self.settings
            conn = connect(
                self.endpoint,
                s["connect_timeout_s"],
                self.database,
                read_only=False,
                statement_timeout_s=s["statement_timeout_s"],
                lock_timeout_s=s["lock_timeout_s"],
                application_name=APPLICATION_NAME,
            )
            self.local.conn = conn
            with self.lock:
                self.opened.append(conn)
        return conn

    def close(self) -> None:
        for conn in self.opened:
            conn.close()


def run_jobs(
    endpoint: Endpoint, database: str, jobs: list[Job], settings: dict[str, Any], budget: Budget
) -> list[dict]:
    """Run ``jobs`` on ``parallelism`` connections at most; one report row per job, in job order."""
    if not jobs:
        return []
    connections = _Connections(endpoint, database, settings)
    try:
        with ThreadPoolExecutor(
            max_workers=min(settings["parallelism"], len(jobs)), thread_name_prefix=f"vacuum-{database}"
        ) as pool:
            return list(pool.map(lambda job: run_job(connections, job, settings, budget), jobs))
    finally:
        connections.close()


def run_job(connections: _Connections, job: Job, settings: dict[str, Any], budget: Budget) -> dict:
    """VACUUM/ANALYZE one table (unless the budget is spent) and measure it before and after."""
    import psycopg
    from psycopg import errors, sql

    row = {
        "database": job.database,
        "schema": job.schema,
        "table": job.table,
        "operation": job.operation,
        "reason": job.reason,
        "dead_tuples_before": job.dead_before,
        "size_before": job.size_before,
    }
    remaining = budget.remaining()
    if remaining <= 0:
        log.info(
            "%s: %s.%s skipped, max_seconds %s used up (would run %s: %s)",
            job.database,
            job.schema,
            job.table,
            settings["max_seconds"],
            job.operation,
            job.reason,
        )
        return {**row, "action": budget.skipped()}
    statement = sql.SQL(job.operation + " {}").format(sql.Identifier(job.schema, job.table))
    started = time.monotonic()
    try:
        conn = connections.get()
        timeout_ms = int(max(1.0, min(settings["statement_timeout_s"], remaining)) * 1000)
        conn.execute("select set_config('statement_timeout', %s, false)", (str(timeout_ms),))
        log.info("%s: %s (%s)", job.database, statement.as_string(conn), job.reason)
        conn.execute(statement)
        after = conn.execute(TABLE_AFTER, (job.schema, job.table)).fetchone()
    except errors.LockNotAvailable:
        action = f"skipped: locked by another session for over lock_timeout_s={settings['lock_timeout_s']:g}"
    except errors.QueryCanceled:
        action = f"failed: cut off after {time.monotonic() - started:.0f}s (statement timeout or max_seconds)"
    except errors.UndefinedTable:
        action = "skipped: the table no longer exists"
    except psycopg.Error as exc:
        action = f"failed: {type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
    else:
        dead_after, size_after = after if after else (None, None)
        row.update(
            action="done",
            duration_s=round(time.monotonic() - started, 3),
            dead_tuples_after=dead_after,
            size_after=size_after,
            reclaimed_bytes=max(0, job.size_before - size_after) if size_after is not None else 0,
        )
        log.info(
            "%s: %s.%s done in %.2fs: dead tuples %s -> %s, size %s -> %s",
            job.database,
            job.schema,
            job.table,
            row["duration_s"],
            job.dead_before,
            dead_after,
            job.size_before,
            size_after,
        )
        return row
    log.warning("%s: %s.%s %s", job.database, job.schema, job.table, action)
    return {**row, "action": action, "duration_s": round(time.monotonic() - started, 3)}


UNUSED_INDEXES = r"""
    select s.schemaname, s.relname, s.indexrelname, pg_relation_size(s.indexrelid)
    from pg_stat_user_indexes s join pg_index i on i.indexrelid = s.indexrelid
    where s.idx_scan = 0 and not i.indisunique and not i.indisprimary and not i.indisexclusion
      and not exists (select 1 from pg_constraint k where k.conindid = s.indexrelid)
      and pg_relation_size(s.indexrelid) >= %s
    order by 4 desc, 1, 2, 3 limit 50"""
DUPLICATE_INDEXES = r"""
    select n.nspname, t.relname,
           array_agg(ci.relname order by i.indisprimary desc, i.indisunique desc, ci.relname),
           sum(pg_relation_size(i.indexrelid))::bigint, min(pg_get_indexdef(i.indexrelid))
    from pg_index i join pg_class ci on ci.oid = i.indexrelid join pg_class t on t.oid = i.indrelid
    join pg_namespace n on n.oid = t.relnamespace
    where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\_toast%'
    group by n.nspname, t.relname, i.indrelid, i.indkey::text, i.indclass::text,
             coalesce(pg_get_expr(i.indexprs, i.indrelid), ''), coalesce(pg_get_expr(i.indpred, i.indrelid), '')
    having count(*) > 1 order by 1, 2 limit 50"""
SEQ_SCAN_CANDIDATES = """
    select schemaname, relname, n_live_tup, seq_scan, coalesce(idx_scan, 0), seq_tup_read / seq_scan
    from pg_stat_user_tables
    where n_live_tup >= %s and seq_scan >= greatest(%s, 1) and seq_scan > coalesce(idx_scan, 0)
    order by seq_tup_read desc, 1, 2 limit 20"""


def recommend(conn, settings: dict) -> dict[str, list[dict]]:
    """Unused and duplicate indexes and missing-index candidates of one database (never applied)."""
    reset = conn.execute("select stats_reset from pg_stat_database where datname = current_database()").fetchone()
    since = f"since the statistics were reset ({reset[0]:%Y-%m-%d})" if reset and reset[0] else "since statistics began"
    unused = [
        {
            "schema": s,
            "table": t,
            "index": i,
            "size_bytes": b,
            "advice": f"never scanned {since}: consider DROP INDEX after checking replicas use it neither",
        }
        for s, t, i, b in conn.execute(UNUSED_INDEXES, (settings["unused_index_min_bytes"],)).fetchall()
    ]
    duplicates = []
    for s, t, names, size, definition in conn.execute(DUPLICATE_INDEXES).fetchall():
        # names come primary key first, then unique ones: keep the first, drop the others
        duplicates.append(
            {
                "schema": s,
                "table": t,
                "indexes": sorted(names),
                "size_bytes": size,
                "definition": definition,
                "advice": f"same key: keep {names[0]}, drop {', '.join(names[1:])}",
            }
        )
    seq = [
        {
            "schema": s,
            "table": t,
            "live_rows": live,
            "seq_scans": scans,
            "index_scans": idx,
            "rows_per_seq_scan": per_scan,
            "advice": "read mostly by sequential scans: look at its queries for a missing index",
        }
        for s, t, live, scans, idx, per_scan in conn.execute(
            SEQ_SCAN_CANDIDATES, (settings["seq_scan_min_rows"], settings["seq_scan_min"])
        ).fetchall()
    ]
    return {"unused_indexes": unused, "duplicate_indexes": duplicates, "seq_scan_candidates": seq}


REWRITE_SIZES = r"""
    select n.nspname, c.relname, c.oid::int, pg_relation_size(c.oid), s.n_live_tup, s.n_dead_tup,
           (select sum(st.avg_width) from pg_stats st where st.schemaname = n.nspname and st.tablename = c.relname),
           coalesce((select option_value::int from pg_options_to_table(c.reloptions)
                     where option_name = 'fillfactor'), 100)
    from pg_class c join pg_namespace n on n.oid = c.relnamespace join pg_stat_user_tables s on s.relid = c.oid
    where c.relkind = 'r' and pg_relation_size(c.oid) >= %s
      and n.nspname not like 'pg\_temp\_%%' and n.nspname not like 'pg\_toast\_temp\_%%'
    order by 4 desc, 1, 2 limit 50"""
TUPLE_OVERHEAD_BYTES = 28  # heap tuple header (23, aligned to 24) + line pointer (4)


def rewrite_candidates(conn, settings: dict) -> list[dict]:
    """Tables still mostly free space after VACUUM: recommended for VACUUM FULL / pg_repack, never run."""
    exact = bool(conn.execute("select 1 from pg_extension where extname = 'pgstattuple'").fetchone())
    found = []
    for schema, table, oid, size, live, dead, width, fillfactor in conn.execute(
        REWRITE_SIZES, (settings["full_vacuum_min_bytes"],)
    ).fetchall():
        if dead >= settings["dead_tuples_min"] and dead >= settings["dead_ratio"] * live:
            continue  # plain VACUUM comes first (this run's, or the next one's)
        if exact:
            live_bytes = conn.execute(
                "select approx_tuple_len from pgstattuple_approx(%s::regclass)", (oid,)
            ).fetchone()[0]
            measured = "pgstattuple_approx"
        elif width is not None:
            live_bytes, measured = int(live * (TUPLE_OVERHEAD_BYTES + width)), "estimate from pg_stats widths"
        else:
            continue  # never analyzed: no width to estimate from
        needed = int(live_bytes * 100 / fillfactor)
        reclaimable = max(0, size - needed)
        if reclaimable < settings["full_vacuum_ratio"] * size:
            continue
        mb = 2**20
        found.append(
            {
                "schema": schema,
                "table": table,
                "size_bytes": size,
                "live_bytes": needed,
                "reclaimable_bytes": reclaimable,
                "measured_by": measured,
                "advice": (
                    f"{reclaimable / mb:,.0f} MB of its {size / mb:,.0f} MB is free space VACUUM cannot return:"
                    " VACUUM FULL would give it back but holds an ACCESS EXCLUSIVE lock (every read and write"
                    f" waits) for the whole rewrite and needs about {needed / mb:,.0f} MB free disk for the copy;"
                    " pg_repack does it online (ACCESS EXCLUSIVE only briefly at start and end; needs the"
                    " pg_repack extension and a primary key). Recommended only: Aegis never runs either"
                ),
            }
        )
    return found


def _connection_usage(conn, result: CheckResult, settings: dict) -> None:
    """Connections in use against what applications may open, and against the configured pool size."""
    from include.checks.postgres import connection_usage

    used, limit, reserved = connection_usage(conn)
    available = limit - reserved
    pool = settings.get("pool_size")
    result.details["connections"] = {
        "used": used,
        "max_connections": limit,
        "superuser_reserved": reserved,
        "available_to_applications": available,
        "pool_size": pool,
    }
    result.metrics["pg.connections"] = used
    result.grade(
        "pg.connections_pct",
        round(100.0 * used / available, 1),
        settings["connections_warning_pct"],
        None,
        f"{used} connections in use of the {available} open to applications"
        f" (max_connections {limit} - {reserved} reserved): {{value}}% (warning {{warning:g}}%)",
    )
    if pool is not None and pool > available:
        result.add(
            WARNING,
            f"configured pool size {pool} exceeds the {available} connections the server accepts"
            f" from applications (max_connections {limit} - superuser_reserved {reserved}):"
            " raise max_connections or shrink the pools",
        )


def _summarise(result: CheckResult, rows: list[dict], recommendations: dict, settings: dict) -> None:
    done = [r for r in rows if r["action"] == "done"]
    vacuumed = [r for r in done if r["operation"].startswith("VACUUM")]
    skipped = [r for r in rows if r["action"].startswith("skipped")]
    failed = [r for r in rows if r["action"].startswith("failed")]
    result.details["tables"] = rows
    result.details["recommendations"] = recommendations
    result.metrics.update(
        {
            "pg.vacuum.tables": len(vacuumed),
            "pg.analyze.tables": len(done) - len(vacuumed),
            "pg.vacuum.skipped_tables": len(skipped),
            "pg.vacuum.failed_tables": len(failed),
            "pg.vacuum.reclaimed_bytes": sum(r["reclaimed_bytes"] for r in done),
            "pg.vacuum.dead_tuples_removed": sum(
                max(0, r["dead_tuples_before"] - (r["dead_tuples_after"] or 0)) for r in vacuumed
            ),
            "pg.vacuum.seconds": round(sum(r.get("duration_s", 0) for r in rows), 3),
            "pg.recommend.unused_indexes": len(recommendations["unused_indexes"]),
            "pg.recommend.duplicate_indexes": len(recommendations["duplicate_indexes"]),
            "pg.recommend.seq_scan_tables": len(recommendations["seq_scan_candidates"]),
            "pg.recommend.rewrite_tables": len(recommendations["rewrite_candidates"]),
            "pg.recommend.rewrite_reclaimable_bytes": sum(
                r["reclaimable_bytes"] for r in recommendations["rewrite_candidates"]
            ),
        }
    )
    if skipped:
        result.add(WARNING, f"{len(skipped)} table(s) not maintained: {_names(skipped)} ({skipped[0]['action']})")
    if failed:
        result.add(WARNING, f"{len(failed)} table(s) failed: {_names(failed)} ({failed[0]['action']})")
    kept = [r for r in vacuumed if (r["dead_tuples_after"] or 0) * 2 > r["dead_tuples_before"]]
    if kept:
        result.add(
            WARNING,
            f"{len(kept)} vacuumed table(s) kept most of their dead tuples ({_names(kept)}):"
            " an old open transaction, prepared transaction or replication slot holds them;"
            " look at pg_stat_activity.backend_xmin",
        )
    for name, what in (
        ("unused_indexes", "unused index(es)"),
        ("duplicate_indexes", "set(s) of duplicate indexes"),
        ("seq_scan_candidates", "large table(s) read by sequential scans (missing index?)"),
        ("rewrite_candidates", "table(s) mostly free space after VACUUM (VACUUM FULL / pg_repack)"),
    ):
        found = recommendations[name]
        if found:
            result.add(
                WARNING,
                f"recommendation: {len(found)} {what}, e.g. {found[0]['database']}:"
                f" {found[0]['schema']}.{found[0]['table']}: {found[0]['advice']}",
            )


def _names(rows: list[dict], limit: int = 5) -> str:
    names = [f"{r['database']}:{r['schema']}.{r['table']}" for r in rows[:limit]]
    return ", ".join(names) + (f" and {len(rows) - limit} more" if len(rows) > limit else "")
