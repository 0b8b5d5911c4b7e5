"""Health checks, one module per kind of target.

Every module exposes ``check(target, endpoint, window) -> CheckResult``. A check
may raise when it cannot talk to its target; :func:`run_check` turns that (and
any hang past the target's timeout) into an ``unreachable`` result.
Modules are imported only when a check of their kind runs, so parsing a DAG
never pays for a driver import.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime

from include.checks.base import CheckResult, run_bounded
from include.inventory import Target
from include.targets import Endpoint

CHECK_MODULES = {
    "host": "include.checks.host",
    "postgres": "include.checks.postgres",
    "mysql": "include.checks.mysql",
    "redis": "include.checks.redis_check",
    "milvus": "include.checks.milvus",
    "neo4j": "include.checks.neo4j",
    "kubernetes": "include.checks.kubernetes",
    "http_service": "include.checks.http_service",
    "log_source": "include.checks.logs",
    "alertmanager": "include.checks.alertmanager",
}


@dataclass(frozen=True)
class Window:
    """The data interval a run looks at (the log window, growth counters)."""

    start: datetime
    end: datetime
    #: the target's metrics from the previous run (from the catalog), for counters
    #: whose growth matters more than their value (MySQL Slow_queries, Redis evictions)
    previous: dict[str, float] = field(default_factory=dict)


def run_check(target: Target, endpoint: Endpoint, window: Window) -> CheckResult:
    """Run the check for ``target``'s kind, bounded by ``target.timeout_seconds``."""
    module = importlib.import_module(CHECK_MODULES[target.kind])
    return run_bounded(target.name, target.kind, lambda: module.check(target, endpoint, window),
                       target.timeout_seconds)
