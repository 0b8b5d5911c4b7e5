"""PostgreSQL: reachability, connections, long transactions, replication lag,
wraparound age, cache hit ratio and slow statements (pg_stat_statements).

Read-only: every query is a catalog/statistics view, run in a read-only
session with a statement timeout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg

from include.checks.base import CheckResult
from include.clients.postgres import connect

if TYPE_CHECKING:
    from include.checks import Window
    from include.inventory import Target
    from include.targets import Endpoint



def check(target: Target, endpoint: Endpoint, window: Window) -> CheckResult:
    """Grade one PostgreSQL server against the target's thresholds."""
    result = CheckResult(target.name, target.kind)
    with connect(endpoint, target.timeout_seconds) as conn:
        result.details["version"] = conn.execute("show server_version").fetchone()[0]
        _connections(conn, result, target.thresholds)
        _long_transactions(conn, result, target.thresholds)
        _replication(conn, result, target.thresholds)
        _wraparound(conn, result, target.thresholds)
        _cache_hit(conn, result, target.thresholds)
        slow_statements(conn, result, target.thresholds["slow_statement_ms"])
    return result


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
    result.grade("pg.connections_pct", round(100.0 * used / limit, 1), t["connections_warning_pct"],
                 t["connections_critical_pct"],
                 f"{used} of max_connections {limit} in use ({{value}}%; warning {{warning:g}}%, critical {{critical:g}}%)")


def _long_transactions(conn, result: CheckResult, t: dict) -> None:
    rows = conn.execute(
        "select pid, usename, datname, state, extract(epoch from now() - xact_start)::float as age_s,"
        " left(query, 120) from pg_stat_activity"
        " where xact_start is not null and pid <> pg_backend_pid() and backend_type = 'client backend'"
        " order by xact_start limit 10"
    ).fetchall()
    longest = [dict(zip(("pid", "user", "database", "state", "age_s", "query"), r)) for r in rows]
    result.details["long_transactions"] = longest
    oldest = longest[0] if longest else None
    result.grade(
        "pg.oldest_transaction_s", round(oldest["age_s"], 1) if oldest else 0.0,
        t["long_transaction_warning_s"], t["long_transaction_critical_s"],
        "oldest transaction open {value:.0f}s" + (
            f" (pid {oldest['pid']}, {oldest['state']}, db {oldest['database']}, user {oldest['user']})" if oldest else ""
        ) + " (warning {warning:g}s, critical {critical:g}s)",
    )
    idle = [r for r in longest if r["state"] and r["state"].startswith("idle in transaction")]
    result.metrics["pg.idle_in_transaction"] = len(idle)


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
    result.grade("pg.replication_lag_s", lag, t["replication_lag_warning_s"], t["replication_lag_critical_s"],
                 "replication lag {value:.0f}s (warning {warning:g}s, critical {critical:g}s)")


def _wraparound(conn, result: CheckResult, t: dict) -> None:
    datname, age = conn.execute(
        "select datname, age(datfrozenxid) from pg_database order by 2 desc limit 1"
    ).fetchone()
    result.grade("pg.xid_age", age, t["xid_age_warning"], t["xid_age_critical"],
                 f"transaction ID age {{value:,}} in database {datname} (warning {{warning:,.0f}}, critical {{critical:,.0f}}): vacuum it")


def _cache_hit(conn, result: CheckResult, t: dict) -> None:
    hit, read = conn.execute(
        "select coalesce(sum(blks_hit), 0)::float, coalesce(sum(blks_read), 0)::float from pg_stat_database"
    ).fetchone()
    if hit + read < 10_000:  # too few reads for the ratio to mean anything
        result.details["cache_hit"] = "not enough block reads yet to grade"
        return
    result.grade_floor("pg.cache_hit_pct", round(100.0 * hit / (hit + read), 2),
                       t["cache_hit_warning_min_pct"], t["cache_hit_critical_min_pct"],
                       "cache hit ratio {value}% (warning below {warning:g}%, critical below {critical:g}%)")


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
    result.details["slow_statements"] = [{"query": q, "calls": c, "mean_ms": m} for q, c, m in rows]
    result.metrics["pg.slow_statements"] = len(rows)
    if rows:
        result.add("warning", f"{len(rows)} statement(s) average over {slow_ms:g} ms;"
                              f" slowest {rows[0][2]} ms: {rows[0][0][:80]!r}")
