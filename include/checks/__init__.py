"""Daily health checks, one module per kind of target (named by the kind's spec, :mod:`include.kinds`).

What belongs here: grading. Every module exposes ``check(target, endpoint, window) -> CheckResult``
(:mod:`include.checks.base` holds the result type and the bounded runner). A check opens its
server through :mod:`include.clients` and may raise when it cannot talk to its target;
:func:`run_check` turns that (and any hang past the target's timeout) into an ``unreachable``
result. Modules are imported only when a check of their kind runs, so parsing a DAG never
pays for a driver import. Connections, quoting and other routines do not belong here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from include.checks.base import CheckResult, run_bounded
from include.inventory import Target
from include.kinds import load, spec
from include.targets import Endpoint


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
    check_module = spec(target.kind).check
    if check_module is None:
        raise KeyError(f"kind {target.kind!r} has no daily check")
    module = load(check_module)
    return run_bounded(target.name, target.kind, lambda: module.check(target, endpoint, window), target.timeout_seconds)
