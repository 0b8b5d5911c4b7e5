"""A frozen clock on the calendar's edges, for tests whose data depend on "today".

``calendar_edge`` (a fixture, parametrised) freezes Python's clock (time-machine, ``tick=False``) at:
the 1st of a month, just before and just after New Year, 29 February of a leap year, and shortly
after both DST changes of Europe/Berlin (the UTC date is one day behind the local one there).
Code under test takes "now" from Python's clock (the weekly :class:`~include.weekly.budget.Budget`),
and the MySQL session pins its server-side clock to it, so the whole run sees the frozen date.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

BERLIN = ZoneInfo("Europe/Berlin")
CALENDAR_EDGES: dict[str, datetime] = {
    "1st-of-month": datetime(2026, 12, 1, 0, 0, 5, tzinfo=UTC),
    "31-dec": datetime(2026, 12, 31, 23, 59, 50, tzinfo=UTC),
    "1-jan": datetime(2027, 1, 1, 0, 0, 5, tzinfo=UTC),
    "29-feb": datetime(2028, 2, 29, 12, 0, tzinfo=UTC),
    "dst-spring-berlin": datetime(2027, 3, 28, 0, 30, tzinfo=BERLIN),  # 27 Mar 23:30 UTC, clocks go forward at 02:00
    "dst-autumn-berlin": datetime(2027, 10, 31, 0, 30, tzinfo=BERLIN),  # 30 Oct 22:30 UTC, clocks go back at 03:00
}


@pytest.fixture(params=list(CALENDAR_EDGES.values()), ids=list(CALENDAR_EDGES))
def calendar_edge(request) -> datetime:
    """Python's clock frozen at one calendar edge for the whole test (set-up, run and checks)."""
    with time_machine.travel(request.param, tick=False):
        yield request.param
