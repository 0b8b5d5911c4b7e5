"""Drain: how many sessions are still doing work on a target (consumers see maintenance mode and stop).

Aegis's own sessions (``aegis-*`` application / client names) and the counting session itself
are never counted. Counting is read-only.

- **postgres**: client backends in ``pg_stat_activity`` that are not idle (running a statement
  or holding a transaction open), in the target's databases when it lists some;
- **mysql**: ``information_schema.processlist`` entries not sleeping, in the target's databases
  when it lists some;
- **redis**: clients from ``CLIENT LIST`` that sent a command within the last second, are blocked
  (``BLPOP`` …) or are inside ``MULTI`` (replicas and monitors excluded; an idle pooled connection is
  not work in flight).
"""

from __future__ import annotations

from typing import Any

from include.redact import statements_in

AEGIS_PREFIX = "aegis"


def active_sessions(kind: str, endpoint, databases: list[str], timeout_s: float) -> list[dict[str, Any]]:
    """The sessions still at work on the target, as short dicts (who, where, what)."""
    return {"postgres": _postgres, "mysql": _mysql, "redis": _redis}[kind](endpoint, databases, timeout_s)


def _postgres(endpoint, databases: list[str], timeout_s: float) -> list[dict[str, Any]]:
    from include.clients.postgres import connect

    with connect(endpoint, timeout_s, application_name="aegis-drain") as conn:
        rows = conn.execute(
            "select pid, usename, datname, state, left(query, 80) from pg_stat_activity"
            " where backend_type = 'client backend' and pid <> pg_backend_pid() and state <> 'idle'"
            " and coalesce(application_name, '') not like %s and (cardinality(%s::text[]) = 0 or datname = any(%s))",
            (f"{AEGIS_PREFIX}%", databases, databases),
        ).fetchall()
    return statements_in([dict(zip(("pid", "user", "database", "state", "query"), r)) for r in rows])


def _mysql(endpoint, databases: list[str], timeout_s: float) -> list[dict[str, Any]]:
    from include.clients.mysql import connect

    conn = connect(endpoint, timeout_s)
    try:
        cur = conn.cursor()
        cur.execute(
            "SELECT id, user, db, command, LEFT(info, 80) FROM information_schema.processlist"
            " WHERE id <> CONNECTION_ID() AND command NOT IN ('Sleep', 'Daemon', 'Binlog Dump', 'Binlog Dump GTID')"
            " AND user <> 'system user'"
        )
        rows = statements_in(
            [dict(zip(("id", "user", "database", "command", "query"), r)) for r in cur.fetchall()], dialect="mysql"
        )
    finally:
        conn.close()
    return [r for r in rows if not databases or r["database"] in databases]


def _redis(endpoint, databases: list[str], timeout_s: float) -> list[dict[str, Any]]:
    from include.clients.redis import connect

    client = connect(endpoint, timeout_s)
    try:
        me = client.client_id()
        clients = client.client_list()
    finally:
        client.close()
    return [
        {"id": c["id"], "addr": c.get("addr"), "name": c.get("name", ""), "cmd": c.get("cmd")}
        for c in clients
        if int(c["id"]) != me
        and not c.get("name", "").startswith(AEGIS_PREFIX)
        and not set(c.get("flags", "")) & {"S", "M", "O"}
        and (int(c.get("idle", 0)) < 1 or set(c.get("flags", "")) & {"b", "x"})
    ]


def count_all(targets: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    """``{target: number of active sessions, or "error: …"}`` for every drain target of the plan.

    A target that cannot be asked counts as not drained (its error is shown): the drain waits,
    and at its timeout the run goes on with the error in the report.
    """
    from include.targets import endpoint_for_conn

    out: dict[str, Any] = {}
    for t in targets:
        try:
            sessions = active_sessions(t["kind"], endpoint_for_conn(t["conn_id"]), t.get("databases") or [], timeout_s)
            out[t["name"]] = len(sessions)
        except Exception as exc:  # noqa: BLE001 - an unreachable target is a finding, not a crash
            out[t["name"]] = (
                f"error: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            )
    return out


def drained(counts: dict[str, Any]) -> bool:
    """True when every target answered and has no active session."""
    return all(v == 0 for v in counts.values())
