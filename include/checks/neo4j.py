"""Neo4j check: every database online, every index online.

A database whose ``currentStatus`` is not ``online`` is critical, unless an
operator asked for it to be offline (``requestedStatus`` ``offline``), which is
a warning. An index that is not ``ONLINE`` is a warning (still populating),
critical when ``FAILED``.
"""

from __future__ import annotations

from typing import Any

from include.checks.base import CRITICAL, WARNING, CheckResult
from include.inventory import Target
from include.targets import Endpoint

SHOW_DATABASES = "SHOW DATABASES YIELD name, currentStatus, requestedStatus"
SHOW_INDEXES = "SHOW INDEXES YIELD name, state, populationPercent, type"


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
        result.add(level, f"database {db.get('name')} is {db.get('currentStatus')} "
                          f"(requested {requested})" + (" on purpose" if level == WARNING else ""))
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
        result.add(level, f"{index.get('type', '')} index {index.get('name')} is {index.get('state')} "
                          f"({float(index.get('populationPercent') or 0):g}% populated)")
    result.metrics["neo4j.indexes_not_online"] = float(not_online)


def check(target: Target, endpoint: Endpoint, window=None, client=None) -> CheckResult:
    """Grade database and index status; build the client from ``endpoint`` when not given."""
    from include.clients.neo4j import connect

    result = CheckResult(target.name, target.kind)
    own_client = client is None
    if own_client:
        client = connect(endpoint, target.timeout_seconds)
    try:
        databases = client.query(SHOW_DATABASES, database="system")
        indexes = client.query(SHOW_INDEXES, database=endpoint.schema or None)
    finally:
        if own_client:
            client.close()

    result.details["databases"] = databases
    result.details["indexes"] = indexes
    grade_databases(result, databases)
    grade_indexes(result, indexes)
    return result
