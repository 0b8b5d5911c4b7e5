"""The daily log check counts the window's errors that the weekly copy-truncate rotation moved into a
gzip-compressed sibling (``<log>.<stamp>.gz``), and skips rotated files last written before the window."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime, timedelta

from include.checks import Window
from include.checks.logs import check, window_files
from include.inventory import parse_inventory
from include.targets import Endpoint

START, END = datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)


def dated(path, when: datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def test_an_error_rotated_into_a_gz_of_the_window_is_counted(tmp_path):
    live = tmp_path / "app.log"
    live.write_text("2026-03-09T20:00:00 ERROR after the rotation (order 3)\n")
    dated(live, END - timedelta(hours=1))
    rotated = tmp_path / "app.log.20260309T180000Z.gz"
    with gzip.open(rotated, "wt") as fh:
        fh.write(
            "2026-03-08T23:00:00 ERROR the day before: not this window\n"
            "2026-03-09T10:00:00 ERROR payment gateway timeout (order 1)\n"
            "2026-03-09T11:00:00 INFO fine\n"
            "2026-03-09T17:59:00 ERROR payment gateway timeout (order 2)\n"
        )
    dated(rotated, START + timedelta(hours=18))
    old = tmp_path / "app.log.20260301T000000Z.gz"
    with gzip.open(old, "wt") as fh:
        fh.write("2026-03-09T12:00:00 ERROR would count, but the file was last written before the window\n")
    dated(old, START - timedelta(days=7))
    (tmp_path / "other.log.1.gz").write_bytes(gzip.compress(b"2026-03-09T12:00:00 ERROR not a sibling\n"))
    target = parse_inventory(
        {"targets": [{"name": "app", "kind": "log_source", "paths": [str(tmp_path / "app.log")]}]}
    ).targets[0]

    result = check(target, Endpoint(), Window(START, END, {}))

    assert window_files([str(tmp_path / "app.log")]) == [str(live), str(old), str(rotated)]
    assert result.metrics["logs.errors"] == 3
    assert result.details["files"] == {str(live): 1, str(old): 0, str(rotated): 2}
    top = result.details["top_signatures"][0]
    assert (top["signature"], top["count"]) == ("payment gateway timeout (order <n>)", 2)
    # the count is recorded per signature, its text kept under the metric's id
    assert result.metrics[f"logs.signature.{top['id']}"] == 2
    assert result.details["signature_texts"][top["id"]] == "payment gateway timeout (order <n>)"
    # the log volume: every file the check looked at, the compressed siblings as stored (not "other.log")
    assert result.metrics["logs.bytes"] == sum(os.path.getsize(p) for p in (live, old, rotated))


def test_errors_the_weekly_rotation_moved_into_a_gz_are_counted_by_the_next_daily_check(tmp_path):
    """End to end on real files: the weekly copy-truncate rotation (include.weekly.logs, in earnest) moves the
    day's errors into ``app.log.<stamp>.gz`` and empties the live log; more errors are written after it; the
    daily check of that day counts both. On a frozen clock (time-machine): the stamp and the window are its."""
    import time_machine

    from include.weekly import logs as weekly_logs

    now = START + timedelta(hours=18)
    live = tmp_path / "app.log"
    live.write_text(
        "2026-03-09T09:00:00 ERROR payment gateway timeout (order 1)\n"
        "2026-03-09T10:00:00 INFO fine\n"
        "2026-03-09T11:00:00 ERROR payment gateway timeout (order 2)\n"
    )
    dated(live, now - timedelta(minutes=5))
    target = parse_inventory(
        {"targets": [{"name": "app", "kind": "log_source", "paths": [str(tmp_path / "*.log")]}]}
    ).targets[0]
    with time_machine.travel(now, tick=False):
        done = weekly_logs.maintain(target, Endpoint(), dict(weekly_logs.DEFAULTS), dry_run=False)
    [rotated] = tmp_path.glob("app.log.*.gz")
    assert done.metrics["logs.rotated_files"] == 1 and live.stat().st_size == 0  # really rotated and truncated
    assert b"order 2" in gzip.decompress(rotated.read_bytes())
    with live.open("a") as fh:
        fh.write("2026-03-09T20:00:00 ERROR payment gateway timeout (order 3)\n")
    dated(live, END - timedelta(hours=1))

    result = check(target, Endpoint(), Window(START, END, {}))

    assert result.metrics["logs.errors"] == 3  # two from the rotated .gz, one written after the rotation
    assert result.details["files"] == {str(live): 1, str(rotated): 2}
