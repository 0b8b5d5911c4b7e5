"""The shape every check returns, and the bounded way every check is run.

A check never raises for a sick target: it returns a :class:`CheckResult` whose
``status`` says how the target is and whose ``findings`` say why. A target that
cannot be reached, or that does not answer within its timeout, is reported as
``unreachable`` (which counts as critical) so the rest of the run goes on.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger(__name__)

OK, WARNING, CRITICAL, UNREACHABLE = "ok", "warning", "critical", "unreachable"
SEVERITY = {OK: 0, WARNING: 1, CRITICAL: 2, UNREACHABLE: 2}


def worst(*statuses: str) -> str:
    """The most severe of ``statuses`` (``ok`` when there are none)."""
    return max(statuses, key=lambda s: SEVERITY[s], default=OK)


def level_for(value: float | None, warning: float | None, critical: float | None) -> str:
    """Grade ``value`` against a warning and a critical threshold (higher is worse)."""
    if value is None:
        return OK
    if critical is not None and value >= critical:
        return CRITICAL
    if warning is not None and value >= warning:
        return WARNING
    return OK


@dataclass
class Finding:
    """One thing a check noticed: a level and a sentence a person can act on."""

    level: str
    message: str


@dataclass
class CheckResult:
    """What one check learned about one target."""

    target: str
    kind: str
    status: str = OK
    findings: list[Finding] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    concern: str | None = None  # the routine part it belongs to (the weekly report's concerns); None: not shown

    def add(self, level: str, message: str) -> None:
        """Record a finding; a finding above ``ok`` raises the target's status."""
        if level != OK:
            self.findings.append(Finding(level, message))
        self.status = worst(self.status, level)

    def grade(
        self, name: str, value: float | None, warning: float | None, critical: float | None, message: str
    ) -> None:
        """Record metric ``name`` and add a finding when it crosses a threshold.

        ``message`` is formatted with ``value``, ``warning`` and ``critical``.
        """
        if value is None:
            return
        self.metrics[name] = float(value)
        level = level_for(value, warning, critical)
        if level != OK:
            self.add(level, message.format(value=value, warning=warning, critical=critical))

    def grade_floor(
        self, name: str, value: float | None, warning_min: float | None, critical_min: float | None, message: str
    ) -> None:
        """Like :meth:`grade` for metrics where lower is worse (hit ratios)."""
        if value is None:
            return
        self.metrics[name] = float(value)
        level = level_for(
            -value, None if warning_min is None else -warning_min, None if critical_min is None else -critical_min
        )
        if level != OK:
            self.add(level, message.format(value=value, warning=warning_min, critical=critical_min))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data["concern"] is None:
            del data["concern"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        data = dict(data)
        data["findings"] = [Finding(**f) for f in data.get("findings", [])]
        return cls(**data)


def run_bounded(target: str, kind: str, check: Callable[[], CheckResult], timeout_s: float) -> CheckResult:
    """Run ``check`` with a hard wall-clock bound.

    Drivers get their own connect/statement timeouts; this is the backstop for
    anything that still hangs: when it expires, the statements of the connections the check opened
    are cancelled on their servers (:mod:`include.clients.cancel`) and the result says which. A
    timeout or an exception becomes an ``unreachable`` result naming the cause, never an exception.
    """
    from include.clients.cancel import CancelScope, run_in_scope

    started = time.monotonic()
    scope = CancelScope()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"check-{target}")
    future = pool.submit(run_in_scope, scope, check)
    result: CheckResult
    try:
        result = future.result(timeout=timeout_s)
    except concurrent.futures.TimeoutError:
        result = CheckResult(target, kind)
        cut = scope.cancel()  # the statements still running on the servers are cut, not left behind
        result.add(
            UNREACHABLE,
            f"no answer within {timeout_s:g}s" + (f"; cancelled on the server: {'; '.join(cut)}" if cut else ""),
        )
        if cut:
            result.details["cancelled"] = cut
    except Exception as exc:  # noqa: BLE001 - any failure of a target is a finding, not a crash
        result = CheckResult(target, kind)
        result.add(UNREACHABLE, f"{type(exc).__name__}: {_first_line(exc)}")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    result.duration_s = round(time.monotonic() - started, 3)
    log.info(
        "%s (%s): %s in %.2fs%s",
        target,
        kind,
        result.status,
        result.duration_s,
        "".join(f"\n  - [{f.level}] {f.message}" for f in result.findings),
    )
    return result


def counter_growth(total: float, before: float) -> float:
    """How much a counter that only counts up grew since the previous check's ``before``; a counter below it
    was reset (a restart, a statistics reset) and counts from zero, so its whole ``total`` is the growth."""
    return total - before if total >= before else total


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""


def literal(text: object) -> str:
    """``text`` safe inside a :meth:`CheckResult.grade` message (its braces escaped for ``str.format``):
    names and statements come from the target and may hold ``{`` or ``}``."""
    return str(text).replace("{", "{{").replace("}", "}}")
