"""The run contract: what every routine hands to the publish tail (:mod:`include.publish`).

A :class:`Report` is one run of one routine: its interval, its verdict with every reason, its
rows (one :class:`~include.checks.base.CheckResult` per target or step), optional sections and
whatever the routine adds (``extra``: the form's ``dry_run``, the backup's retention, the
update's plan). It travels between tasks as JSON (:meth:`Report.to_dict` /
:meth:`Report.from_dict`, XCom-safe) and is rendered by :mod:`include.rendering`.

States are string enums, so JSON, the catalog and the templates read as plain words:
:class:`Verdict` (a run's health), :class:`Outcome` (what a backup, verification, restore or
update ended as).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from include.checks.base import CheckResult
from include.health import evaluate


class Verdict(StrEnum):
    """A run's overall health: the worst of its rows (unreachable and missing count as critical)."""

    HEALTHY = "healthy"
    WARNING = "warning"
    CRITICAL = "critical"


class Outcome(StrEnum):
    """What a backup, verification, restore or planned update (or one of its steps) ended as."""

    RUNNING = "running"
    COMPLETE = "complete"  # backup set written with its manifest
    VERIFIED = "verified"  # backup set restored into scratch and matched its manifest
    RESTORED = "restored"  # restore over the live target matched the manifest
    DELETED = "deleted"
    DRY_RUN = "dry-run"
    FAILED = "failed"
    PROMOTED = "promoted"  # planned update kept
    ROLLED_BACK = "rolled-back"
    ROLLBACK_FAILED = "rollback-failed"
    NOT_RUN = "not-run"  # planned update stopped before the change
    NOT_APPLIED = "not-applied"  # planned update failed before changing anything: target kept, no rollback
    REFUSED = "refused"  # the request (the trigger form) was refused before anything was done


class FailRunOn(StrEnum):
    """From which verdict on a run ends failed (red in the grid) once its report is out (``defaults.fail_run_on``)."""

    CRITICAL = "critical"
    WARNING = "warning"
    NEVER = "never"

    def fails(self, verdict: Verdict) -> bool:
        """Whether ``verdict`` is at or past this level."""
        if self is FailRunOn.NEVER:
            return False
        return _SEVERITY[verdict] >= _SEVERITY[Verdict(self.value)]


_SEVERITY = {Verdict.HEALTHY: 0, Verdict.WARNING: 1, Verdict.CRITICAL: 2}

#: Outcomes a backup / verify / restore row counts as ``ok``; any other is critical.
GOOD_OUTCOMES = frozenset({Outcome.COMPLETE, Outcome.VERIFIED, Outcome.RESTORED, Outcome.DRY_RUN})


@dataclass
class Reason:
    """One reason for the verdict: a target (or step), its level and the sentence that explains it."""

    target: str
    level: str
    message: str


@dataclass
class Summary:
    """The verdict, why, how many rows are in each state, and how many targets were expected."""

    verdict: Verdict
    reasons: list[Reason] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    targets: int = 0

    @classmethod
    def of(cls, rows: list[dict[str, Any]], expected: list[str]) -> Summary:
        """Fold ``rows`` into a verdict; an expected target without a row is critical (:func:`evaluate`)."""
        return cls.from_dict(evaluate(rows, expected))

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.verdict.value,
            "reasons": [vars(r).copy() for r in self.reasons],
            "counts": dict(self.counts),
            "targets": self.targets,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        return cls(
            Verdict(data["status"]),
            [Reason(**r) for r in data.get("reasons", [])],
            dict(data.get("counts", {})),
            int(data.get("targets", 0)),
        )


@dataclass
class Section:
    """A titled part of the report showing the rows of some concerns (the weekly report's sections)."""

    title: str
    concerns: list[str]


@dataclass
class Report:
    """One run of one routine, as the publish tail writes, records and sends it."""

    routine: str
    title: str
    run_id: str
    interval_start: datetime
    interval_end: datetime
    summary: Summary
    rows: list[CheckResult] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    mode: str | None = None  # e.g. "dry run: destructive steps were only listed"
    outcome: Outcome | None = None  # restore and planned update: what the run ended as
    alert_subject: str | None = None  # instead of the default "[Aegis] <routine>: <VERDICT> (n reason(s))"
    extra: dict[str, Any] = field(default_factory=dict)  # the routine's own facts and settings (JSON values)
    #: from which verdict the run ends failed (None: a verdict alone never fails it; see include.publish.run_failure)
    fail_run_on: FailRunOn | None = None
    #: what the run ran with: ``form`` (the trigger form's values) and ``inventory`` (settings that differ from
    #: the defaults); filled by the publish tail (:func:`include.publish.run_settings`)
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outcome is not None:
            self.outcome = Outcome(self.outcome)  # a plain state word from a runner is checked here
        if self.fail_run_on is not None:
            self.fail_run_on = FailRunOn(self.fail_run_on)

    @property
    def verdict(self) -> Verdict:
        return self.summary.verdict

    @classmethod
    def build(
        cls,
        routine: str,
        title: str,
        run_id: str,
        start: datetime,
        end: datetime,
        rows: list[dict[str, Any]],
        *,
        expected: list[str] | None = None,
        reasons_from: list[dict[str, Any]] | None = None,
        **fields: Any,
    ) -> Report:
        """The report of ``rows`` (result dicts), its verdict evaluated against ``expected`` targets
        (default: the rows' own). ``reasons_from`` evaluates other rows instead (the weekly report
        labels each reason with its concern)."""
        expected = [r["target"] for r in rows] if expected is None else expected
        summary = Summary.of(rows if reasons_from is None else reasons_from, expected)
        return cls(routine, title, run_id, start, end, summary, [CheckResult.from_dict(r) for r in rows], **fields)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON values: the shape of ``report.json`` and of the XCom between tasks."""
        data: dict[str, Any] = {
            "title": self.title,
            "routine": self.routine,
            "run_id": self.run_id,
            "interval": [self.interval_start.isoformat(), self.interval_end.isoformat()],
            "summary": self.summary.to_dict(),
            "results": [r.to_dict() for r in self.rows],
        }
        if self.sections:
            data["sections"] = [vars(s).copy() for s in self.sections]
        for key in ("mode", "outcome", "alert_subject", "fail_run_on"):
            if getattr(self, key) is not None:
                data[key] = str(getattr(self, key))
        if self.settings:
            data["settings"] = self.settings
        clash = set(self.extra) & set(data)
        if clash:
            raise ValueError(f"report extra keys {sorted(clash)} clash with the report's own fields")
        return {**data, **self.extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """The report back from :meth:`to_dict` (keys it does not know go to ``extra``)."""
        data = dict(data)
        start, end = data.pop("interval")
        outcome = data.pop("outcome", None)
        return cls(
            routine=data.pop("routine"),
            title=data.pop("title"),
            run_id=data.pop("run_id"),
            interval_start=_datetime(start),
            interval_end=_datetime(end),
            summary=Summary.from_dict(data.pop("summary")),
            rows=[CheckResult.from_dict(r) for r in data.pop("results")],
            sections=[Section(s["title"], list(s["concerns"])) for s in data.pop("sections", [])],
            mode=data.pop("mode", None),
            outcome=None if outcome is None else Outcome(outcome),
            alert_subject=data.pop("alert_subject", None),
            fail_run_on=data.pop("fail_run_on", None),
            settings=data.pop("settings", {}),
            extra=data,
        )


def _datetime(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
