"""Neo4j maintenance: indexes not ONLINE, constraints, store size, and a checkpoint.

What it looks at, in the target's database (the connection's schema, else the
server's default):

- **Indexes** (``SHOW INDEXES``): one that is not ``ONLINE`` is a warning
  (``POPULATING``) or critical (``FAILED``), graded like the daily check. Nothing
  is dropped or rebuilt automatically: a failed index needs its cause read first.
- **Constraints** (``SHOW CONSTRAINTS``): listed for the report, with the index
  each one owns.
- **Store size**: ``apoc.monitor.store()`` when APOC Extended is installed (Neo4j 5
  has no built-in procedure for it); otherwise reported as unavailable, with the
  node and relationship counts (answered from the count store, no scan) kept as
  the size trend either way.

Which procedures exist depends on the server and its version: Neo4j answers an
unknown one with ``ProcedureNotFound``, other Bolt servers (ArcadeDB) with
``Neo.DatabaseError.General.UnknownError`` "Unknown procedure/function" (GQL
status 50N42). Either way the step says "not supported by this server" for that
part and goes on: neither is a finding.

What it changes: ``CALL db.checkpoint()`` flushes the page cache to the store
files and lets the transaction logs be pruned. It writes nothing new, so it runs
in dry-run too; it is I/O heavy, so it gets its own ``checkpoint_timeout_seconds``
(at most ``max_seconds``). Every other statement has the target's timeout.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from include.checks.base import WARNING, CheckResult
from include.checks.neo4j import grade_indexes
from include.targets import Endpoint
from include.weekly.budget import Budget
from include.weekly.concern import concern
from include.weekly.settings_check import require_numbers

if TYPE_CHECKING:
    from neo4j.exceptions import Neo4jError

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "checkpoint": True,
    "checkpoint_timeout_seconds": 600,
    "max_seconds": 900,
}
SHOW_INDEXES = (
    "SHOW INDEXES YIELD name, state, populationPercent, type, entityType, labelsOrTypes, properties, owningConstraint"
)
SHOW_CONSTRAINTS = "SHOW CONSTRAINTS YIELD name, type, entityType, labelsOrTypes, properties, ownedIndex"
STORE_SIZE = (
    "CALL apoc.monitor.store() YIELD totalStoreSize, nodeStoreSize, relStoreSize, propStoreSize,"
    " stringStoreSize, arrayStoreSize, logSize"
)
COUNT_NODES = "MATCH (n) RETURN count(n) AS nodes"  # both answered from the count store, no scan
COUNT_RELATIONSHIPS = "MATCH ()-[r]->() RETURN count(r) AS relationships"
CHECKPOINT = "CALL db.checkpoint() YIELD success, message"
PROCEDURE_NOT_FOUND = "Neo.ClientError.Procedure.ProcedureNotFound"
UNKNOWN_ERROR = "Neo.DatabaseError.General.UnknownError"
NOT_SUPPORTED = "not supported by this server"


def procedure_missing(exc: Neo4jError) -> bool:
    """True when the server says the procedure does not exist (Neo4j's ProcedureNotFound, or the
    ``UnknownError`` "Unknown procedure/function" of Bolt servers such as ArcadeDB)."""
    if exc.code == PROCEDURE_NOT_FOUND:
        return True
    return exc.code == UNKNOWN_ERROR and "unknown procedure" in str(exc.message or "").lower()


def check_settings(settings: dict) -> None:
    """Raise ``ValueError("<key>: <reason>")`` for settings this module cannot use (missing keys: defaults)."""
    settings = {**DEFAULTS, **settings}
    require_numbers(settings, positive=("checkpoint_timeout_seconds", "max_seconds"))


@concern(DEFAULTS, check_settings)
def maintain(
    target: Any,
    endpoint: Endpoint,
    settings: dict[str, Any],
    budget: Budget,
    *,
    dry_run: bool = True,
    client: Any = None,
) -> CheckResult:
    """Report indexes, constraints and store size, then checkpoint; the client is built from ``endpoint``
    (:func:`include.clients.neo4j.connect`) unless one is given."""
    from include.clients.neo4j import connect

    result = CheckResult(target.name, target.kind)
    database = endpoint.schema or None
    own_client = client is None
    if own_client:
        client = connect(endpoint, target.timeout_seconds)
    try:
        indexes = client.query(SHOW_INDEXES, database=database)
        constraints = client.query(SHOW_CONSTRAINTS, database=database)
        counts = {
            **(client.query(COUNT_NODES, database=database) or [{}])[0],
            **(client.query(COUNT_RELATIONSHIPS, database=database) or [{}])[0],
        }
        store, store_note = store_size(client, database)
        checkpoint = _checkpoint(client, database, settings) if settings["checkpoint"] else None
    finally:
        if own_client:
            client.close()

    grade_indexes(result, indexes)
    result.metrics["neo4j.indexes"] = float(len(indexes))
    result.metrics["neo4j.constraints"] = float(len(constraints))
    for key in ("nodes", "relationships"):
        if counts.get(key) is not None:
            result.metrics[f"neo4j.{key}"] = float(counts[key])
    if store is not None:
        result.metrics["neo4j.store_bytes"] = float(store["totalStoreSize"])
    result.details.update(
        {
            "database": database or "(default)",
            "indexes": [
                {
                    **i,
                    "action": "none needed"
                    if str(i.get("state")).upper() == "ONLINE"
                    else "skipped: reported, never rebuilt automatically",
                }
                for i in indexes
            ],
            "constraints": constraints,
            "counts": counts,
            "store_size": store
            if store is not None
            else f"unavailable: {store_note}; node and relationship counts kept instead",
            "checkpoint": checkpoint if checkpoint is not None else {"action": "skipped: checkpoint is off"},
        }
    )
    if checkpoint is not None and checkpoint["success"] is False:
        result.add(WARNING, f"checkpoint did not succeed: {checkpoint['message']}")
    return result


def store_size(client, database: str | None) -> tuple[dict[str, Any] | None, str]:
    """(store file sizes in bytes from APOC, "") or (None, why not) when the server cannot tell."""
    from neo4j.exceptions import ClientError, Neo4jError

    try:
        rows = client.query(STORE_SIZE, database=database)
    except Neo4jError as exc:  # no APOC Extended (ProcedureNotFound / UnknownError), or not allowed to call it
        if not (isinstance(exc, ClientError) or procedure_missing(exc)):
            raise
        reason = (
            f"apoc.monitor.store() is {NOT_SUPPORTED} (APOC Extended not installed)"
            if procedure_missing(exc)
            else f"apoc.monitor.store() failed: {exc.code}: {exc.message}"
        )
        log.info("store size unavailable: %s", reason)
        return None, reason
    return (rows[0], "") if rows else (None, "apoc.monitor.store() returned nothing")


def _checkpoint(client, database: str | None, settings: dict) -> dict[str, Any]:
    """``CALL db.checkpoint()``, bounded by ``checkpoint_timeout_seconds``."""
    from neo4j.exceptions import Neo4jError

    timeout_s = min(float(settings["checkpoint_timeout_seconds"]), float(settings["max_seconds"]))
    try:
        rows = client.query(CHECKPOINT, database=database, timeout_s=timeout_s)
    except Neo4jError as exc:
        if not procedure_missing(exc):
            raise
        log.info("checkpoint of %s: db.checkpoint() is %s", database or "the default database", NOT_SUPPORTED)
        return {
            "success": None,
            "message": f"db.checkpoint() is {NOT_SUPPORTED} ({exc.code})",
            "action": f"skipped: {NOT_SUPPORTED}",
        }
    row = rows[0] if rows else {"success": False, "message": "no answer from db.checkpoint()"}
    log.info(
        "checkpoint of %s: %s (%s)",
        database or "the default database",
        "done" if row.get("success") else "failed",
        row.get("message"),
    )
    return {
        "success": bool(row.get("success")),
        "message": row.get("message"),
        "action": "done" if row.get("success") else "failed",
    }
