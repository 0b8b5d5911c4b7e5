"""Post-update tests: SQL assertions, HTTP health checks and the daily health check on the targets.

Every test is a report row (the :class:`~include.checks.base.CheckResult` shape); a test
*fails* when its status is critical or unreachable. SQL assertions run in read-only
sessions with the target's timeout; an assertion compares the first column of the first row,
as text, with ``expect``. After a rollback the SQL assertions are not run again (they assert
the *new* version); the HTTP and health checks are, to show the old version is healthy.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from include import redact
from include.checks.base import CRITICAL, SEVERITY, CheckResult, run_bounded
from include.inventory import Inventory, Target
from include.kinds import spec
from include.update.plan import Assertion, UpdatePlan

log = logging.getLogger(__name__)


def failed(row: dict[str, Any]) -> bool:
    """A test fails when it is critical or unreachable (a warning passes, and is reported)."""
    return SEVERITY[row["status"]] >= SEVERITY[CRITICAL]


def sql_assertion(inventory: Inventory, assertion: Assertion, index: int) -> dict[str, Any]:
    """Run one ``{target, sql, expect}`` assertion; the row is named ``assert[i] <target>``."""
    from include.targets import endpoint_for

    target = inventory.target(assertion.target)
    name = f"assert[{index}] {target.name}"

    def check() -> CheckResult:
        result = CheckResult(name, target.kind)
        got = _first_value(target, endpoint_for(target), assertion.sql, assertion.database)
        result.details.update(
            sql=redact.statement(assertion.sql, "mysql" if target.kind == "mysql" else "postgres"),
            expect=assertion.expect,
            got=got,
        )
        if str(got) != str(assertion.expect):
            result.add(CRITICAL, f"{assertion.sql!r} returned {got!r}, expected {assertion.expect!r}")
        return result

    return run_bounded(name, target.kind, check, target.timeout_seconds).to_dict()


def _first_value(target: Target, endpoint, query: str, database: str | None) -> Any:
    if target.kind == "postgres":
        from include.clients.postgres import connect

        with connect(endpoint, target.timeout_seconds, database, application_name="aegis-update-test") as conn:
            row = conn.execute(query.encode()).fetchone()
    else:
        from include.clients import mysql

        conn = mysql.connect(
            endpoint, target.timeout_seconds, database, read_only=True, statement_timeout_s=target.timeout_seconds
        )
        try:
            cur = conn.cursor()
            cur.execute(query)
            row = cur.fetchone()
        finally:
            conn.close()
    return None if row is None else row[0]


def http_check(url: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """GET ``url`` through the daily check's ``http_service`` code (expects 200)."""
    from urllib.parse import urlsplit

    from include.checks import run_check
    from include.targets import Endpoint

    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    target = Target(
        f"GET {redact.url(url)}",
        "http_service",
        None,
        (),
        dict(spec("http_service").thresholds),
        timeout_s,
        {"path": path, "expected_status": 200},
    )
    from datetime import UTC, datetime

    from include.checks import Window

    now = datetime.now(UTC)  # an HTTP check looks at no interval
    return run_check(target, Endpoint(host=f"{parts.scheme}://{parts.netloc}"), Window(now, now)).to_dict()


def health_checks(inventory: Inventory, names: list[str], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The daily health check's ``check_one`` on each affected target."""
    from include.daily_health import check_one

    return [check_one(inventory, name, {}, start, end) for name in names]


def run_tests(
    inventory: Inventory, plan: UpdatePlan, start: datetime, end: datetime, with_assertions: bool = True
) -> dict[str, Any]:
    """All tests of the plan: ``{passed, failures, results}``; ``failures`` are one sentence each."""
    results = []
    if with_assertions:
        results += [sql_assertion(inventory, a, i) for i, a in enumerate(plan.assertions)]
    results += [http_check(url) for url in plan.http_checks]
    results += health_checks(inventory, plan.health, start, end)
    failures = [
        f"{r['target']}: {f['message']}"
        for r in results
        if failed(r)
        for f in r["findings"]
        if SEVERITY[f["level"]] >= SEVERITY[CRITICAL]
    ]
    for r in results:
        log.info("test %-40s %s", r["target"], r["status"].upper())
    return {"passed": not failures, "failures": failures, "results": results}
