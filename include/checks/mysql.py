"""MySQL / MariaDB: connections against max_connections, Slow_queries growth,
and statements running longer than the threshold (10 s in the seeds)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.checks.base import CheckResult
from include.clients.mysql import connect

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
        status = _variables(cur, "SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_connected', 'Slow_queries', 'Uptime')")
        variables = _variables(cur, "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('max_connections', 'version')")
        result.details["version"] = variables.get("version")
        connected, limit = int(status["Threads_connected"]), int(variables["max_connections"])
        result.metrics["mysql.threads_connected"] = connected
        result.grade("mysql.connections_pct", round(100.0 * connected / limit, 1), t["connections_warning_pct"],
                     t["connections_critical_pct"],
                     f"{connected} of max_connections {limit} connected ({{value}}%; warning {{warning:g}}%, critical {{critical:g}}%)")
        _slow_queries_growth(result, int(status["Slow_queries"]), int(status["Uptime"]), window.previous, t)
        _long_queries(cur, result, t)
    finally:
        conn.close()
    return result


def _variables(cur, sql: str) -> dict[str, str]:
    cur.execute(sql)
    return {name: value for name, value in cur.fetchall()}


def _slow_queries_growth(result: CheckResult, total: int, uptime: int, previous: dict, t: dict) -> None:
    """Grade how many slow queries were added since the previous run (a counter: growth matters)."""
    result.metrics["mysql.slow_queries_total"] = total
    result.metrics["mysql.uptime_s"] = uptime
    before = previous.get("mysql.slow_queries_total")
    restarted = before is not None and uptime < previous.get("mysql.uptime_s", 0)
    if before is None or restarted:
        result.details["slow_queries_growth"] = (
            "server restarted since the previous run: growth counted from restart" if restarted
            else "no previous run recorded: growth counted since server start")
        before = 0
    result.grade("mysql.slow_queries_growth", max(0, total - int(before)), t["slow_queries_growth_warning"],
                 t["slow_queries_growth_critical"],
                 "{value} new slow queries since the previous check (warning {warning:g}, critical {critical:g})")


def _long_queries(cur, result: CheckResult, t: dict) -> None:
    cur.execute(
        "SELECT id, user, db, time, state, LEFT(info, 120) FROM information_schema.processlist"
        " WHERE command NOT IN ('Sleep', 'Daemon', 'Binlog Dump') AND time > %s AND id <> CONNECTION_ID()"
        " ORDER BY time DESC LIMIT 20",
        (int(t["long_query_s"]),),
    )
    rows = [dict(zip(("id", "user", "db", "time_s", "state", "query"), r)) for r in cur.fetchall()]
    result.details["long_queries"] = rows
    result.metrics["mysql.long_queries"] = len(rows)
    if rows:
        level = "critical" if len(rows) >= t["long_queries_critical"] else "warning"
        result.add(level, f"{len(rows)} statement(s) running over {t['long_query_s']:g}s; longest {rows[0]['time_s']}s"
                          f" (id {rows[0]['id']}, user {rows[0]['user']}): {rows[0]['query']!r}")
