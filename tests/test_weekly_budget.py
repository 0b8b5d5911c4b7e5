"""The weekly Budget and the @concern contract: what a concern receives and when it must stop."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest
import time_machine

from include.checks.base import CheckResult
from include.weekly.budget import Budget, BudgetSpent
from include.weekly.concern import concern


def test_budget_counts_down_and_refuses_new_work_when_spent():
    budget = Budget(0.3)
    assert 0 < budget.remaining() <= 0.3 and not budget.spent()
    assert budget.check() > 0
    assert budget.bounded(10) <= 0.3 and budget.bounded(0.1) == 0.1
    time.sleep(0.35)
    assert budget.spent() and budget.remaining() == 0 and budget.bounded(10) == 0
    with pytest.raises(BudgetSpent):
        budget.check()
    assert budget.skipped() == "skipped: max_seconds budget (0.3s) used up"


def test_budget_takes_now_from_the_clock_once():
    with time_machine.travel(datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC), tick=False):
        budget = Budget(60)
    assert budget.today() == date(2028, 2, 29)  # fixed at the start, whatever the clock says later
    assert budget.started_at == datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC)


def test_concern_merges_validates_and_hands_a_budget():
    seen = {}

    def check(settings: dict) -> None:
        if settings["limit"] < 0:
            raise ValueError(f"limit: must be >= 0, got {settings['limit']}")

    @concern({"max_seconds": 5, "limit": 1}, check)
    def maintain(target, endpoint, settings, budget, *, dry_run, extra=None):
        seen.update(settings=settings, budget=budget, dry_run=dry_run, extra=extra)
        return CheckResult("t", "k")

    maintain(None, None, {"limit": 3}, extra="x")
    assert seen["settings"] == {"max_seconds": 5, "limit": 3} and seen["dry_run"] is True and seen["extra"] == "x"
    assert seen["budget"].max_seconds == 5 and not seen["budget"].spent()
    with pytest.raises(ValueError, match="^limit: must be >= 0"):
        maintain(None, None, {"limit": -1})
