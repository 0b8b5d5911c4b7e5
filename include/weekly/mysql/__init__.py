"""MySQL / MariaDB weekly maintenance: three steps in order, each in its own module.

1. :mod:`.optimize`: OPTIMIZE TABLE the fragmented InnoDB tables (with room on disk), ANALYZE TABLE those
   with zero-cardinality indexes (step ``optimize``; dry run: lists them);
2. :mod:`.purge`: delete expired rows in batches (step ``purge``; dry run: counts them);
3. :mod:`.partitions`: add the next time partitions (always, also in a dry run: it only adds), drop the
   expired ones (step ``partitions``; dry run: logs the DDL);
4. redundant indexes (duplicates and left prefixes, as ``pt-duplicate-key-checker`` finds them):
   recommended with the ``ALTER TABLE … DROP INDEX`` that removes each, never run.

**Databases**: the target's ``databases`` option, else the connection's database, else every
database but the system ones. One session (:mod:`.session`) serves all steps: every statement
and lock wait bounded, the server's clock pinned to the run's (:class:`~include.weekly.budget.Budget`),
no new step once ``max_seconds`` is used up. Identifiers are quoted by
:func:`include.clients.mysql.quote_ident`; values are bound parameters.
"""

from __future__ import annotations

from typing import Any

from include.checks.base import WARNING, CheckResult
from include.targets import Endpoint
from include.weekly.budget import Budget
from include.weekly.concern import concern
from include.weekly.mysql.partitions import INTERVALS, PARTITION_KEYS
from include.weekly.mysql.purge import PURGE_KEYS
from include.weekly.mysql.session import split_table

DEFAULTS: dict[str, Any] = {
    "max_seconds": 3600,
    "connect_timeout_s": 10,
    "statement_timeout_s": 1800,  # one OPTIMIZE / DELETE batch / ALTER at most
    "lock_wait_timeout_s": 10,  # metadata and row lock waits
    "fragmentation_ratio": 0.2,  # data_free against data + index size
    "fragmentation_min_bytes": 64 << 20,
    "purge": [],  # [{table: "db.table", column, older_than_days, batch_size}]
    "partitions": [],  # [{table: "db.table", interval: day|month, premake, retention_days}]
}
#: Destructive steps (the names ``weekly.apply`` takes); adding partitions ahead is not one: it always runs.
STEPS = {
    "optimize": "OPTIMIZE TABLE fragmented InnoDB tables, ANALYZE TABLE those with zero-cardinality indexes",
    "purge": "delete expired rows of the configured tables",
    "partitions": "drop partitions past retention_days",
}


def check_settings(settings: dict[str, Any]) -> None:
    """Raise ``ValueError("<key>: <reason>")`` for settings that cannot work (missing keys: the defaults)."""
    settings = {**DEFAULTS, **settings}
    for key in (
        "max_seconds",
        "connect_timeout_s",
        "statement_timeout_s",
        "lock_wait_timeout_s",
        "fragmentation_ratio",
        "fragmentation_min_bytes",
    ):
        value: Any = settings.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{key}: must be a non-negative number, got {value!r}")
    for key, fields in (("purge", PURGE_KEYS), ("partitions", PARTITION_KEYS)):
        items = settings.get(key)
        if not isinstance(items, list):
            raise ValueError(f"{key}: must be a list, got {type(items).__name__}")
        for i, item in enumerate(items):
            where = f"{key}[{i}]"
            if not isinstance(item, dict):
                raise ValueError(f"{where}: must be a mapping with {', '.join(fields)}")
            unknown = set(item) - set(fields)
            if unknown:
                raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (allowed: {', '.join(fields)})")
            fields_of: dict[str, Any] = fields
            for name, kind in fields_of.items():
                value = item.get(name, 1000 if name == "batch_size" else None)
                if value is None:
                    raise ValueError(f"{where}.{name}: missing")
                if isinstance(value, bool) or not isinstance(value, kind):
                    raise ValueError(f"{where}.{name}: wrong type {type(value).__name__}")
                if not isinstance(value, str) and value <= 0 and name != "retention_days":
                    raise ValueError(f"{where}.{name}: must be greater than 0, got {value!r}")
                if name == "retention_days" and value < 1:
                    raise ValueError(f"{where}.retention_days: must be at least 1 day, got {value!r}")
            split_table(item["table"], f"{where}.table")
            if key == "partitions" and item["interval"] not in INTERVALS:
                raise ValueError(f"{where}.interval: must be one of {', '.join(INTERVALS)}, got {item['interval']!r}")
            if key == "purge" and not item["column"].strip():
                raise ValueError(f"{where}.column: empty")


@concern(DEFAULTS, check_settings, STEPS)
def maintain(
    target: Any,
    endpoint: Endpoint,
    settings: dict[str, Any],
    budget: Budget,
    *,
    dry_run: bool = True,
    applied: frozenset[str] = frozenset(),
) -> CheckResult:
    """Optimize/analyze what needs it, then purge and rotate partitions: each destructive step only when in
    ``applied`` (else listed); missing partitions are added in every run."""
    from include.checks.mysql import redundant_indexes
    from include.weekly.mysql.optimize import (
        analyze_zero_cardinality,
        optimize_fragmented,
    )
    from include.weekly.mysql.partitions import rotate_partitions
    from include.weekly.mysql.purge import purge_one
    from include.weekly.mysql.session import connect_session, user_databases

    result = CheckResult(target.name, target.kind)
    conn = connect_session(endpoint, settings, budget)
    try:
        cur = conn.cursor()
        databases = list(target.options.get("databases") or []) or (
            [endpoint.schema] if endpoint.schema else user_databases(cur)
        )
        result.details["databases"] = databases
        result.details["dry_run"] = dry_run
        optimize, purge, drop = ("optimize" in applied, "purge" in applied, "partitions" in applied)
        result.details["tables"] = optimize_fragmented(
            cur, databases, settings, budget, dry_run=not optimize, host=endpoint.host
        )
        result.details["tables"] += analyze_zero_cardinality(cur, databases, budget, dry_run=not optimize)
        result.details["purge"] = [purge_one(cur, item, budget, not purge) for item in settings["purge"]]
        result.details["partitions"] = []
        for item in settings["partitions"]:
            result.details["partitions"] += rotate_partitions(cur, item, budget, not drop)
        result.details["redundant_indexes"] = redundant_indexes(cur, databases)  # recommended, never dropped here
    finally:
        conn.close()
    _summarise(result)
    return result


def _summarise(result: CheckResult) -> None:
    """Metrics of the three steps, and a warning for every step that failed or was skipped."""
    d = result.details
    done = [r for r in d["tables"] if r["action"] == "done"]
    optimized = [r for r in done if r["operation"] == "OPTIMIZE TABLE"]
    still_zero = [r for r in d["tables"] if r.get("zero_cardinality_after")]
    parts = d["partitions"]
    result.metrics.update(
        {
            "mysql.optimize.tables": len(optimized),
            "mysql.optimize.reclaimed_bytes": sum(r["reclaimed_bytes"] for r in optimized),
            "mysql.analyze.tables": len(done) - len(optimized),
            "mysql.zero_cardinality_indexes": sum(len(r["zero_cardinality_after"]) for r in still_zero),
            "mysql.purge.expired_rows": sum(r.get("expired", 0) for r in d["purge"]),
            "mysql.purge.deleted_rows": sum(r["deleted"] for r in d["purge"]),
            "mysql.partitions.added": sum(1 for r in parts if r.get("operation") == "add" and r["action"] == "done"),
            "mysql.partitions.dropped": sum(1 for r in parts if r.get("operation") == "drop" and r["action"] == "done"),
            "mysql.recommend.redundant_indexes": len(d["redundant_indexes"]),
        }
    )
    for r in d["redundant_indexes"]:
        result.add(
            WARNING,
            f"recommendation: {r['database']}.{r['table']} index {r['index']} is redundant"
            f" ({r['reason']}): it slows every write for nothing; after checking no query hint"
            f" names it, run: {r['alter']}",
        )
    for r in still_zero:
        result.add(
            WARNING,
            f"{r['database']}.{r['table']}: index(es) {', '.join(r['zero_cardinality_after'])} still"
            " have cardinality 0 after ANALYZE TABLE: constant or empty column, consider dropping",
        )
    for rows, what in ((d["tables"], "table"), (d["purge"], "purge of"), (parts, "partitions of")):
        for r in rows:
            if r["action"].startswith(("failed", "skipped")):
                name = f"{r['database']}.{r['table']}" if "database" in r else r["table"]
                result.add(WARNING, f"{what} {name}: {r['action']}")
