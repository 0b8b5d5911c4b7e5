"""Neo4j check: every database online, every index online, no transaction open too long.

A database whose ``currentStatus`` is not ``online`` is critical, unless an
operator asked for it to be offline (``requestedStatus`` ``offline``), which is
a warning. An index that is not ``ONLINE`` is a warning (still populating),
critical when ``FAILED``. The oldest open transaction (``SHOW TRANSACTIONS``,
the check's own statement left out) is graded with ``long_transaction_warning_s``
/ ``long_transaction_critical_s``; its id, user and database are reported, never
its statement.
"""

from __future__ import annotations

from typing import Any

from include.checks.base import CRITICAL, WARNING, CheckResult
from include.inventory import Target
from include.targets import Endpoint

SHOW_DATABASES = "SHOW DATABASES YIELD name, currentStatus, requestedStatus"
SHOW_INDEXES = "SHOW INDEXES YIELD name, state, populationPercent, type"
SHOW_TRANSACTIONS = "SHOW TRANSACTIONS YIELD transactionId, database, username, currentQuery, elapsedTime, status"


def database_level(db: dict[str, Any]) -> str | None:
    """``None`` for an online database, else ``warning`` (offline on request) or ``critical``."""
    if str(db.get("currentStatus", "")).lower() == "online":
        return None
    return WARNING if str(db.get("requestedStatus", "")).lower() == "offline" else CRITICAL


def index_level(index: dict[str, Any]) -> str | None:
    """``None`` for an ``ONLINE`` index, ``critical`` for ``FAILED``, else ``warning``."""
    state = str(index.get("state", "")).upper()
    if state == "ONLINE":
        return None
    return CRITICAL if state == "FAILED" else WARNING


def grade_databases(result: CheckResult, databases: list[dict[str, Any]]) -> None:
    """Findings and metrics for ``SHOW DATABASES`` rows."""
    offline = 0
    for db in databases:
        level = database_level(db)
        if level is None:
            continue
        offline += 1
        requested = db.get("requestedStatus")
        result.add(
            level,
            f"database {db.get('name')} is {db.get('currentStatus')} "
            f"(requested {requested})" + (" on purpose" if level == WARNING else ""),
        )
    result.metrics["neo4j.databases"] = float(len(databases))
    result.metrics["neo4j.databases_offline"] = float(offline)


def grade_indexes(result: CheckResult, indexes: list[dict[str, Any]]) -> None:
    """Findings and metrics for ``SHOW INDEXES`` rows."""
    not_online = 0
    for index in indexes:
        level = index_level(index)
        if level is None:
            continue
        not_online += 1
        result.add(
            level,
            f"{index.get('type', '')} index {index.get('name')} is {index.get('state')} "
            f"({float(index.get('populationPercent') or 0):g}% populated)",
        )
    result.metrics["neo4j.indexes_not_online"] = float(not_online)


def elapsed_seconds(value: Any) -> float:
    """Seconds of an ``elapsedTime`` (a ``neo4j.time.Duration``, or a number of milliseconds)."""
    if value is None:
        return 0.0
    if isinstance(value, (int, float)):
        return float(value) / 1000.0
    return (
        float(getattr(value, "months", 0)) * 30 * 86400
        + float(getattr(value, "days", 0)) * 86400
        + float(getattr(value, "seconds", 0))
        + float(getattr(value, "nanoseconds", 0)) / 1e9
    )


def open_transactions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``SHOW TRANSACTIONS`` rows as ``{id, database, user, status, elapsed_s}``, oldest first; the listing's
    own transaction and every statement text left out."""
    found = [
        {
            "id": r.get("transactionId"),
            "database": r.get("database"),
            "user": r.get("username"),
            "status": r.get("status"),
            "elapsed_s": round(elapsed_seconds(r.get("elapsedTime")), 1),
        }
        for r in rows
        if not str(r.get("currentQuery") or "").lstrip().upper().startswith("SHOW TRANSACTIONS")
    ]
    return sorted(found, key=lambda t: -t["elapsed_s"])


def grade_transactions(result: CheckResult, rows: list[dict[str, Any]], thresholds: dict[str, float]) -> None:
    """Grade the oldest open transaction's age; list the ten oldest in the details."""
    transactions = open_transactions(rows)
    result.details["long_transactions"] = transactions[:10]
    oldest = transactions[0] if transactions else None
    who = f" ({oldest['id']}, user {oldest['user']}, database {oldest['database']})" if oldest else ""
    result.grade(
        "neo4j.oldest_transaction_s",
        oldest["elapsed_s"] if oldest else 0.0,
        thresholds.get("long_transaction_warning_s"),
        thresholds.get("long_transaction_critical_s"),
        "oldest transaction open {value:.0f}s"
        + who.replace("{", "{{").replace("}", "}}")
        + " (warning {warning:g}s, critical {critical:g}s)",
    )


def check(target: Target, endpoint: Endpoint, window=None, client=None) -> CheckResult:
    """Grade database and index status and the oldest open transaction; build the client from
    ``endpoint`` when not given."""
    from include.clients.neo4j import connect

    result = CheckResult(target.name, target.kind)
    own_client = client is None
    if own_client:
        client = connect(endpoint, target.timeout_seconds)
    try:
        databases = client.query(SHOW_DATABASES, database="system")
        indexes = client.query(SHOW_INDEXES, database=endpoint.schema or None)
        transactions = client.query(SHOW_TRANSACTIONS, database=endpoint.schema or None)
    finally:
        if own_client:
            client.close()

    result.details["databases"] = databases
    result.details["indexes"] = indexes
    grade_databases(result, databases)
    grade_indexes(result, indexes)
    grade_transactions(result, transactions, target.thresholds)
    return result
