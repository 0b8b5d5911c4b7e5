"""The time budget of one weekly concern run: when it started, how much is left, when to stop starting work.

A concern gets one :class:`Budget` for its ``max_seconds``. Before each new step it calls
:meth:`Budget.check` (which raises :class:`BudgetSpent` once the budget is used up) and bounds a
statement by :meth:`Budget.bounded`. :attr:`Budget.started_at` is the run's "now" (UTC wall clock,
taken once at the start): every date a concern derives (cut-offs, "today") comes from it, so a test
that freezes the clock (time-machine) controls them all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime


class BudgetSpent(Exception):
    """``max_seconds`` is used up: no new step is started."""


@dataclass(frozen=True)
class Budget:
    """``max_seconds`` of work from ``started`` (monotonic clock) on; ``started_at`` is the same instant in UTC."""

    max_seconds: float
    started: float = field(default_factory=time.monotonic)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def deadline(self) -> float:
        """The monotonic time after which no new step starts."""
        return self.started + self.max_seconds

    def remaining(self) -> float:
        """Seconds left (0 when spent)."""
        return max(0.0, self.deadline - time.monotonic())

    def spent(self) -> bool:
        """True once ``max_seconds`` is used up."""
        return time.monotonic() >= self.deadline

    def check(self) -> float:
        """The seconds left, or :class:`BudgetSpent` when there are none: call before starting a step."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise BudgetSpent()
        return left

    def bounded(self, timeout_s: float) -> float:
        """``timeout_s``, cut to what is left of the budget (for one statement or wait)."""
        return min(float(timeout_s), self.remaining())

    def today(self) -> date:
        """The run's date in UTC (from ``started_at``)."""
        return self.started_at.date()

    def skipped(self) -> str:
        """The action recorded for a step the budget left no time for."""
        return f"skipped: max_seconds budget ({self.max_seconds:g}s) used up"
