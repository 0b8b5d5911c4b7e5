"""Slow statements (the seed's 3.3): find them, and cancel one only after an approval that names it.

The approval names the statement normalised (literals replaced by ``?``: no value reaches a log or a
page) and its session: PostgreSQL ``pid`` + ``backend_start``, MySQL/MariaDB thread ``id`` + the statement and
its running time.
Before acting the session is looked up again; if it is gone, is another session that reuses the pid/id,
or now runs another statement, nothing is cancelled.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
_SPACE = re.compile(r"\s+")


def normalise(sql: str | None) -> str:
    """The statement without literals (``'…'`` and numbers → ``?``), spaces collapsed, at most 300 chars."""
    text = _NUMBER.sub("?", _STRING.sub("?", sql or ""))
    return _SPACE.sub(" ", text).strip()[:300]


@dataclass(frozen=True)
class SlowQuery:
    """One long-running statement and the session running it (``session``: what identifies it)."""

    kind: str  # postgres or mysql
    pid: int
    session: str  # PostgreSQL backend_start (ISO); MySQL: the thread id again
    user: str
    database: str
    seconds: float
    query: str  # normalised

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PG_SLOW = """
select pid, backend_start, usename, datname, extract(epoch from now() - query_start), query
from pg_stat_activity
where state = 'active' and pid <> pg_backend_pid() and backend_type = 'client backend'
  and now() - query_start > make_interval(secs => %s)
order by query_start
"""
MY_SLOW = """
select id, user, db, time, info from information_schema.processlist
where command <> 'Sleep' and info is not null and time > %s and id <> connection_id()
order by time desc
"""


def find_postgres(conn, min_seconds: float = 10) -> list[SlowQuery]:
    with conn.cursor() as cur:
        cur.execute(PG_SLOW, (min_seconds,))
        return [
            SlowQuery("postgres", pid, started.isoformat(), user or "", db or "", float(secs), normalise(sql))
            for pid, started, user, db, secs, sql in cur.fetchall()
        ]


def find_mysql(conn, min_seconds: float = 10) -> list[SlowQuery]:
    with conn.cursor() as cur:
        cur.execute(MY_SLOW, (int(min_seconds),))
        return [
            SlowQuery("mysql", int(tid), str(tid), user or "", db or "", float(secs), normalise(sql))
            for tid, user, db, secs, sql in cur.fetchall()
        ]


def same_session(now: list[SlowQuery], approved: SlowQuery) -> SlowQuery | None:
    """The approved statement if it still runs in the same session: same pid/id, session start and statement,
    and (MySQL, which has no session start) running at least as long as when it was approved — a statement
    run again in that thread has started over."""
    for q in now:
        if (q.pid, q.session, q.query) != (approved.pid, approved.session, approved.query):
            continue
        if approved.kind == "mysql" and q.seconds < approved.seconds:
            continue
        return q
    return None


def cancel(conn, approved: SlowQuery, approval: str) -> dict[str, Any]:
    """Cancel ``approved`` when ``approval`` is ``Approve`` and it still runs in the same session.

    PostgreSQL ``pg_cancel_backend(pid)``; MySQL/MariaDB ``KILL QUERY id`` (the statement, not the
    connection). Returns what was done and why."""
    if approval != "Approve":
        return {"cancelled": False, "why": f"not approved ({approval})", **approved.to_dict()}
    current = (find_postgres if approved.kind == "postgres" else find_mysql)(conn, 0)
    if same_session(current, approved) is None:
        return {
            "cancelled": False,
            "why": "the session changed or the statement finished; nothing cancelled",
            **approved.to_dict(),
        }
    with conn.cursor() as cur:
        if approved.kind == "postgres":
            cur.execute("select pg_cancel_backend(%s)", (approved.pid,))
            done = bool(cur.fetchone()[0])
        else:
            cur.execute(f"KILL QUERY {int(approved.pid)}")
            done = True
    return {"cancelled": done, "why": "approved and still the same session", **approved.to_dict()}


# ------------------------------------------------------------- the rest of the seed's slow-query analysis
def mysql_locked_tables(conn) -> list[dict[str, Any]]:
    """``SHOW OPEN TABLES WHERE In_use > 0``: tables some session holds a lock on."""
    with conn.cursor() as cur:
        cur.execute("SHOW OPEN TABLES WHERE In_use > 0")
        return [{"database": db, "table": table, "in_use": int(in_use)} for db, table, in_use, _ in cur.fetchall()]


def mysql_zero_cardinality_indexes(conn, schema: str) -> list[dict[str, Any]]:
    """Indexes of ``schema`` whose cardinality is 0 (an index that tells rows apart by nothing)."""
    with conn.cursor() as cur:
        cur.execute(
            "select table_name, index_name from information_schema.statistics "
            "where table_schema = %s and cardinality = 0 group by table_name, index_name "
            "order by table_name, index_name",
            (schema,),
        )
        return [{"table": t, "index": i} for t, i in cur.fetchall()]


def mysql_slow_log(conn, limit: int = 20) -> list[dict[str, Any]] | None:
    """The slowest entries of ``mysql.slow_log`` (statements normalised), or None when the slow log is off
    or not written to a table."""
    with conn.cursor() as cur:
        cur.execute("select @@slow_query_log, @@log_output")
        on, output = cur.fetchone()
        if not int(on) or "TABLE" not in str(output).upper():
            return None
        cur.execute(
            "select time_to_sec(query_time), time_to_sec(lock_time), rows_sent, rows_examined, sql_text "
            "from mysql.slow_log where query_time > '00:00:01' order by query_time desc limit %s",
            (limit,),
        )
        return [
            {
                "seconds": float(q),
                "lock_seconds": float(lk),
                "rows_sent": int(s),
                "rows_examined": int(e),
                "query": normalise(sql.decode() if isinstance(sql, bytes) else sql),
            }
            for q, lk, s, e, sql in cur.fetchall()
        ]


def postgres_top_statements(conn, limit: int = 10) -> list[dict[str, Any]] | None:
    """The statements with the most total time in ``pg_stat_statements`` (None: the extension is not
    installed in this database)."""
    with conn.cursor() as cur:
        cur.execute("select 1 from pg_extension where extname = 'pg_stat_statements'")
        if cur.fetchone() is None:
            return None
        cur.execute(
            "select calls, total_exec_time, mean_exec_time, query from pg_stat_statements "
            "order by total_exec_time desc limit %s",
            (limit,),
        )
        return [
            {"calls": int(c), "total_ms": float(t), "mean_ms": float(m), "query": normalise(q)}
            for c, t, m, q in cur.fetchall()
        ]
