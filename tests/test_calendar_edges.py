"""Calendar edges in the pure-Python parts: windows of scheduled runs across both DST changes of an
inventory timezone (the daily log check counts each line exactly once on 23- and 25-hour days), the
monthly audit's month and the month before it (1 Jan, a leap February, a summer-time 1st), console
staleness across DST, the on-call hand-over across a DST change and a year end, backup retention at each
edge of ``tests/clock_edges.py``, and the DAG docs' schedule wording against the fire times.

Nothing here reads the real clock: "now" is an edge, a fire time of the real timetable, or frozen.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pendulum
import pytest
from airflow.serialization.decoders import decode_timetable
from airflow.serialization.encoders import encode_timetable
from airflow.timetables.base import DataInterval, TimeRestriction
from airflow.timetables.interval import CronDataIntervalTimetable

from include.backup.retention import plan
from include.checks.logs import scan_file
from include.console.overview import GRACE, _cell, allowed_age
from include.dag_defaults import dag_doc, run_window, scheduled_dag_args
from include.incidents.oncall import on_call
from include.incidents.settings import parse as parse_oncall
from include.inventory import Schedule, load_inventory
from include.monthly.audit import month_window, previous_month_start
from include.monthly.audit import schedule as audit_schedule
from tests import clock_edges
from tests.helpers import write_inventory

calendar_edge = clock_edges.calendar_edge  # the fixture: a frozen clock at each calendar edge

#: A timezone's DST changes: (zone, the day clocks go forward, the day they go back)
DST = {
    "Europe/Berlin": (datetime(2027, 3, 28), datetime(2027, 10, 31)),
    "America/New_York": (datetime(2027, 3, 14), datetime(2027, 11, 7)),
}
DST_CASES = [(tz, season) for tz in DST for season in ("spring", "autumn")]
WEEK = timedelta(days=7)
TS = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})")


def inventory(tmp_path, tz: str, schedules: str = ""):
    path = write_inventory(
        tmp_path,
        f"""
        schedules:
          daily_health_check: {{cron: "0 9 * * *", timezone: {tz}}}
          weekly_maintenance: {{cron: "0 3 * * 0", timezone: {tz}}}
          {schedules}
        targets:
          - {{name: box, kind: host}}
        """,
    )
    return load_inventory(path)


def scheduled_intervals(timetable, since: datetime, count: int) -> list[DataInterval]:
    """``count`` consecutive data intervals the scheduler would give, the first after ``since`` (the DAG's
    timetable through the serialisation the scheduler reads it from)."""
    timetable = decode_timetable(encode_timetable(timetable))
    restriction = TimeRestriction(earliest=pendulum.instance(since), latest=None, catchup=True)
    out: list[DataInterval] = []
    last = None
    for _ in range(count):
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        out.append(info.data_interval)
        last = info.data_interval
    return out


# ------------------------------------------------------------------ scheduled windows across DST
@pytest.mark.parametrize(("tz", "season"), DST_CASES)
@pytest.mark.parametrize(
    ("routine", "span", "hour"), [("daily_health_check", timedelta(days=1), 9), ("weekly_maintenance", WEEK, 3)]
)
def test_scheduled_windows_meet_across_dst_and_count_each_log_line_once(tmp_path, tz, season, routine, span, hour):
    """Consecutive runs' windows (the DAGs' run_window with the schedule's zone) meet exactly, are 23/25
    hours (167/169) around the change, start and end at the schedule's wall-clock hour, and the log check
    counts every line of a log spanning them exactly once. Airflow's own intervals (24 h each in UTC)
    overlap or leave a gap there: the reason for the seam."""
    zone = ZoneInfo(tz)
    spring, autumn = DST[tz]
    change = spring if season == "spring" else autumn
    inv = inventory(tmp_path, tz)
    timetable = scheduled_dag_args(inv, routine, "doc", span)["schedule"]
    intervals = scheduled_intervals(timetable, (change - 3 * span).replace(tzinfo=zone), 6)
    raw_gaps = {b.start - a.end for a, b in zip(intervals, intervals[1:], strict=False)}
    assert raw_gaps != {timedelta(0)}, "Airflow's intervals met already: the seam is no longer needed"

    windows = [run_window(None, i.start, i.end, span, tz) for i in intervals]
    for (_, end), (start, _) in zip(windows, windows[1:], strict=False):
        assert start == end
    lengths = {timedelta(seconds=end.timestamp() - start.timestamp()) for start, end in windows}
    assert lengths == {span, span + (timedelta(hours=-1) if season == "spring" else timedelta(hours=1))}
    for start, end in windows:
        assert start.astimezone(zone).hour == hour and end.astimezone(zone).hour == hour
        assert start.astimezone(zone).minute == end.astimezone(zone).minute

    # one ERROR line every 7 minutes across all windows (stamps in UTC, as the check reads them)
    first, last = windows[0][0], windows[-1][1]
    log = tmp_path / "app.log"
    step, stamps = timedelta(minutes=7), []
    at = first
    while at < last:
        stamps.append(at)
        at += step
    log.write_text("".join(f"{s:%Y-%m-%dT%H:%M:%S} ERROR job {n} failed\n" for n, s in enumerate(stamps)))
    counts = [scan_file(str(log), re.compile(r"\bERROR\b"), TS, start, end, Counter()) for start, end in windows]
    assert sum(counts) == len(stamps)
    for (start, end), count in zip(windows, counts, strict=True):
        assert count == sum(1 for s in stamps if start <= s < end)


def test_a_manual_run_without_interval_looks_back_the_default_span():
    class Run:
        run_after = datetime(2027, 3, 28, 12, tzinfo=UTC)

    assert run_window(Run(), None, None, timedelta(days=1), "Europe/Berlin") == (
        datetime(2027, 3, 27, 12, tzinfo=UTC),
        Run.run_after,
    )


# ------------------------------------------------------------------------ the monthly audit's months
def monthly_interval(tz: str, run_on: datetime) -> DataInterval:
    """The monthly audit's data interval (its real timetable) for the run on ``run_on`` (a 1st)."""
    timetable = CronDataIntervalTimetable("0 5 1 * *", timezone=tz)
    since = (run_on - timedelta(days=40)).replace(tzinfo=ZoneInfo(tz))
    restriction = TimeRestriction(earliest=pendulum.instance(since), latest=None, catchup=True)
    last = None
    while True:
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        last = info.data_interval
        if last.end.astimezone(ZoneInfo(tz)).date() == run_on.date():
            return last


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "America/New_York"])
@pytest.mark.parametrize(
    ("run_on", "audited", "compared_with", "days"),
    [
        (datetime(2027, 1, 1), (2026, 12), (2026, 11), 31),  # 1 Jan: December of the previous year vs November
        (datetime(2028, 3, 1), (2028, 2), (2028, 1), 29),  # the backfill of a leap February
        (datetime(2027, 4, 1), (2027, 3), (2027, 2), 31),  # March: the month in which summer time starts
        (datetime(2027, 5, 1), (2027, 4), (2027, 3), 30),  # April against March (one 1st in winter time)
        (datetime(2027, 11, 1), (2027, 10), (2027, 9), 31),  # October: summer time ends
    ],
)
def test_monthly_audit_month_and_the_month_before(tmp_path, tz, run_on, audited, compared_with, days):
    zone = ZoneInfo(tz)
    interval = monthly_interval(tz, run_on)

    class Run:
        run_after = interval.end

    start, end = month_window(Run(), interval.start, interval.end)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    assert (local_start.year, local_start.month, local_start.day, local_start.hour) == (*audited, 1, 5)
    assert local_end.replace(tzinfo=None) == run_on.replace(hour=5)
    assert (local_end.date() - local_start.date()).days == days

    previous = previous_month_start(start, tz).astimezone(zone)
    assert (previous.year, previous.month, previous.day, previous.hour, previous.minute) == (*compared_with, 1, 5, 0)
    # the month before is exactly the previous run's window (no hour overlapped or left out)
    before = monthly_interval(tz, datetime(*audited, 1))
    assert previous_month_start(start, tz) == before.start and start == before.end

    inv = load_inventory(
        write_inventory(
            tmp_path,
            f"schedules: {{daily_health_check: {{cron: '0 9 * * *', timezone: {tz}}}}}\n"
            "targets: [{name: box, kind: host}]\n",
        )
    )
    assert audit_schedule(inv) == Schedule("0 5 1 * *", tz)  # the audit follows the inventory's zone


# -------------------------------------------------------------------------------- console staleness
@pytest.mark.parametrize("tz", list(DST))
def test_console_stale_judgement_across_dst(tz):
    """A daily result is stale once the next run is GRACE overdue, measured in elapsed time: on the
    25-hour day that is 25 h + GRACE after it, on the 23-hour day 23 h + GRACE (not 24 h + GRACE both)."""
    zone = ZoneInfo(tz)
    schedule = Schedule("0 9 * * *", tz)
    spring, autumn = DST[tz]
    for change, day_hours in ((spring, 23), (autumn, 25)):
        before = (change - timedelta(days=1)).replace(hour=9, tzinfo=zone).astimezone(UTC)
        due = change.replace(hour=9, tzinfo=zone).astimezone(UTC)
        assert due - before == timedelta(hours=day_hours)
        status = {"interval_end": f"{before:%Y-%m-%dT%H:%M:%SZ}", "status": "healthy"}
        just_in = due + GRACE - timedelta(minutes=5)
        overdue = due + GRACE + timedelta(minutes=5)
        assert allowed_age(schedule, just_in) == timedelta(hours=day_hours) + GRACE
        assert not _cell(status, schedule, just_in).stale, (tz, day_hours)
        assert _cell(status, schedule, overdue).stale, (tz, day_hours)


# ---------------------------------------------------------------------------------------- on-call
ROTATION = {
    "rotation": [
        {"primary": "alice", "secondary": "bob"},
        {"primary": "bob", "secondary": "charlie"},
        {"primary": "charlie", "secondary": "alice"},
    ]
}


def primaries(mondays: list[datetime]) -> list[str]:
    settings = parse_oncall(ROTATION, {})
    return [on_call(settings, m + timedelta(hours=12))["primary"] for m in mondays]


@pytest.mark.parametrize(
    "first_monday",
    [
        datetime(2026, 12, 14, tzinfo=UTC),  # weeks 51, 52, 53 of 2026, then week 1 and 2 of 2027
        datetime(2027, 12, 13, tzinfo=UTC),  # weeks 50-52 of 2027 (a 52-week year), then weeks 1-2 of 2028
        datetime(2028, 12, 11, tzinfo=UTC),  # a leap year's end
    ],
)
def test_rotation_goes_round_across_the_year_end(first_monday):
    """Each person in turn, every week, across the ISO year's end: the ISO week number restarts at 1 there,
    which used to put one person on two weeks running (52 → 1) or skip one (53 → 1)."""
    got = primaries([first_monday + timedelta(weeks=n) for n in range(7)])
    order = ["alice", "bob", "charlie"]
    start = order.index(got[0])
    assert got == [order[(start + n) % 3] for n in range(7)]


@pytest.mark.parametrize("tz", list(DST))
def test_on_call_hands_over_once_on_the_monday_after_a_dst_change(tz):
    """Around each DST change (a Sunday), on call changes exactly once, at Monday 00:00 UTC, whatever the
    local clock did the night before (the hand-over is in UTC; an aware local time gives the same answer)."""
    settings = parse_oncall(ROTATION, {})
    zone = ZoneInfo(tz)
    for change in DST[tz]:
        assert change.weekday() == 6  # both zones change on a Sunday
        hand_over = (change + timedelta(days=1)).replace(tzinfo=UTC)
        moments = [hand_over + timedelta(minutes=m) for m in range(-36 * 60, 36 * 60, 30)]
        who = [on_call(settings, m)["primary"] for m in moments]
        changes = [m for m, a, b in zip(moments[1:], who, who[1:], strict=False) if a != b]
        assert changes == [hand_over]
        assert [on_call(settings, m.astimezone(zone))["primary"] for m in moments] == who


# ------------------------------------------------------------------------------- backup retention
def test_retention_days_at_each_calendar_edge(calendar_edge):
    """Sets started every 6 hours over 40 days before the frozen "now": exactly those started more than
    ``retention_days`` (7 × 24 h) before it go, across month and year ends, 29 Feb and DST nights."""
    now = datetime.now(UTC)
    assert now == calendar_edge.astimezone(UTC)
    sets = [
        {"set_id": f"s{n:03d}", "target": "db", "state": "complete", "started_at": now - timedelta(hours=6 * n)}
        for n in range(1, 160)
    ]
    gone = {d.set_id for d in plan(sets, now, retention_days=7, keep_last=3)}
    expected = {s["set_id"] for s in sets[3:] if s["started_at"] < now - timedelta(days=7)}
    assert gone == expected
    assert "s028" not in gone and "s029" in gone  # exactly 7 days old stays, 7 days 6 hours goes


# --------------------------------------------------------------------------------- DAG doc wording
@pytest.mark.parametrize("tz", list(DST))
def test_dag_docs_say_the_local_time_every_run_keeps_across_dst(tmp_path, tz):
    """Each scheduled DAG's doc says "at HH:MM (<zone>)"; its real timetable fires at that wall-clock time
    on the days around both DST changes (so at a UTC time that moves by an hour)."""
    zone = ZoneInfo(tz)
    inv = inventory(tmp_path, tz, schedules=f'monthly_audit: {{cron: "0 5 1 * *", timezone: {tz}}}')
    for routine, span, hhmm in (
        ("daily_health_check", timedelta(days=1), "09:00"),
        ("weekly_maintenance", WEEK, "03:00"),
    ):
        args = scheduled_dag_args(inv, routine, "Doc.", span)
        assert f"At {hhmm}" in args["doc_md"] and f"({tz}; cron" in args["doc_md"], args["doc_md"]
        for change in DST[tz]:
            fires = [i.end for i in scheduled_intervals(args["schedule"], (change - 2 * span).replace(tzinfo=zone), 4)]
            assert {f"{f.astimezone(zone):%H:%M}" for f in fires} == {hhmm}
            assert len({f.astimezone(UTC).hour for f in fires}) == 2  # the UTC time does move
    monthly = dag_doc("Doc.", audit_schedule(inv))
    assert "At 05:00, on day 1 of the month" in monthly and tz in monthly, monthly
