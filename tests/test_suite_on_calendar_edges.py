"""The date-dependent part of the suite, run whole with Python's clock moved to each calendar edge.

Each edge of :data:`tests.clock_edges.CALENDAR_EDGES` (the 1st of a month, 31 Dec and 1 Jan, 29 Feb, both DST
changes) runs the test files whose data or windows follow "today" in a fresh pytest with ``--calendar-edge``
(``tests/conftest.py``: time-machine moves the clock for the whole session, ticking) and the process timezone set
to one with DST. The files that need a real Airflow or a browser are left out (their servers run in other
processes, whose clock cannot be moved); their windows are taken from the same real clock as their data.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC

import pytest

from tests.clock_edges import CALENDAR_EDGES
from tests.helpers import REPO

#: the test files whose data, windows or schedules follow "today"
DATE_DEPENDENT = [
    "tests/test_calendar_edges.py",
    "tests/test_checks_logs.py",
    "tests/test_checks_logs_rotated.py",
    "tests/test_daily_fanout.py",
    "tests/test_incidents.py",
    "tests/test_inventory.py",
    "tests/test_monthly_backups.py",
    "tests/test_monthly_capacity.py",
    "tests/test_monthly_performance.py",
    "tests/test_monthly_report.py",
    "tests/test_monthly_updates.py",
    "tests/test_reports_view.py",
    "tests/test_trends.py",
    "tests/test_weekly_budget.py",
    "tests/test_weekly_routine.py",
]


@pytest.mark.parametrize("edge", list(CALENDAR_EDGES))
def test_the_date_dependent_tests_pass_with_the_clock_on_each_calendar_edge(edge):
    timezone = "Europe/Berlin" if "berlin" in edge else "America/New_York"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--calendar-edge={edge}", *DATE_DEPENDENT],
        cwd=REPO,
        env={**os.environ, "TZ": timezone},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    # the clock really was on the edge in there (a session whose option was ignored would read today)
    assert f"calendar edge: {edge}, Python's clock reads {CALENDAR_EDGES[edge].astimezone(UTC):%Y-%m-%d}" in proc.stdout
    assert " passed" in proc.stdout.splitlines()[-1] and "failed" not in proc.stdout.splitlines()[-1]
