"""The daily check's DAG on the days around both DST changes of its inventory's timezone (Europe/Berlin):
runs on consecutive days count every ERROR line of the log exactly once (a 23-hour and a 25-hour day),
their report windows meet, and each says its window in its own numbers.

dag.test gives each run the data interval the scheduler would (Airflow's cron trigger: 24 hours back in
UTC); the DAG's window is that interval moved to the schedule's wall clock (include/dag_defaults.py
run_window). Python's clock is moved to just after the last run (ticking), and the log file's mtime with it.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tests.helpers import load_dag, use_inventory

BERLIN = ZoneInfo("Europe/Berlin")
STEP = timedelta(minutes=10)


def run_days(days: list[datetime], tmp_path, monkeypatch) -> list[dict]:
    """Each day's 09:00 Berlin run of the daily check over one log with an ERROR line every 10 minutes
    from two days before the first run to a day after the last; the log target's report rows, in order."""
    use_inventory(
        monkeypatch,
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        defaults: {fail_run_on: never}
        schedules: {daily_health_check: {cron: "0 9 * * *", timezone: Europe/Berlin}}
        targets:
          - {name: app-logs, kind: log_source, paths: ["logs/*.log"], thresholds: {errors_warning: 100000, errors_critical: 200000}}
        """,
    )
    runs = [d.replace(hour=9, tzinfo=BERLIN) for d in days]
    first, last = runs[0].astimezone(UTC) - timedelta(days=2), runs[-1].astimezone(UTC) + timedelta(days=1)
    stamps, at = [], first
    while at < last:
        stamps.append(at)
        at += STEP
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "app.log"
    log.write_text("".join(f"{s:%Y-%m-%dT%H:%M:%S} ERROR batch {n} failed\n" for n, s in enumerate(stamps)))
    now = runs[-1] + timedelta(hours=1)
    os.utime(log, (now.timestamp(), now.timestamp()))
    rows = []
    with time_machine.travel(now, tick=True):
        dag = load_dag("daily_health_check")
        for when in runs:
            assert dag.test(logical_date=when, run_conf={"alert": False}).state == "success"
    for report in sorted((tmp_path / "artifacts" / "reports" / "daily_health_check").rglob("report.json")):
        [row] = [r for r in json.loads(report.read_text())["results"] if r["target"] == "app-logs"]
        rows.append(row)
    assert len(rows) == len(runs)
    return sorted(rows, key=lambda r: r["details"]["window"][0])


@pytest.mark.parametrize(
    ("days", "hours"),
    [
        ([datetime(2027, 3, 27), datetime(2027, 3, 28)], [24, 23]),  # clocks go forward in the night to the 28th
        ([datetime(2027, 10, 30), datetime(2027, 10, 31)], [24, 25]),  # clocks go back in the night to the 31st
    ],
    ids=["spring", "autumn"],
)
def test_daily_runs_across_dst_count_each_log_line_once(airflow_db, tmp_path, monkeypatch, days, hours):
    rows = run_days(days, tmp_path, monkeypatch)
    windows = [tuple(datetime.fromisoformat(w) for w in r["details"]["window"]) for r in rows]
    assert windows[0][1] == windows[1][0]  # they meet: no hour counted twice, none left out
    for (start, end), h in zip(windows, hours, strict=True):
        assert end - start == timedelta(hours=h)
        assert start.astimezone(BERLIN).hour == 9 == end.astimezone(BERLIN).hour
    counts = [r["metrics"]["logs.errors"] for r in rows]
    assert counts == [h * 6 for h in hours]  # an ERROR line every 10 minutes
