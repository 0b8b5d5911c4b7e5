"""Log rotation, archiving and expiry on real files, with a local folder and moto's S3 as the artifact store.

Every test that dates files runs on a frozen clock at each calendar edge (``calendar_edge``): the files'
ages, the archive's date folders and the run's "now" all come from it."""

from __future__ import annotations

import gzip
import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk import ObjectStoragePath

from include.inventory import parse_inventory
from include.targets import Endpoint
from include.weekly import logs
from tests import clock_edges

calendar_edge = clock_edges.calendar_edge  # the fixture: a frozen clock at each calendar edge

DAY = 86400
APP_LINES = b"".join(b"2026-11-27 10:00:%02d ERROR request %d failed\n" % (i % 60, i) for i in range(2000))


def target_for(folder):
    return parse_inventory(
        {"targets": [{"name": "app-logs", "kind": "log_source", "paths": [str(folder / "*.log")]}]}
    ).targets[0]


def aged(path, days: float, content: bytes = b"") -> str:
    """Write ``path`` (gzip-compressed when it ends in .gz) and date its last write ``days`` ago."""
    if str(path).endswith(".gz"):
        with gzip.open(path, "wb") as fh:
            fh.write(content or f"old lines of {path.name}\n".encode())
    else:
        path.write_bytes(content)
    stamp = time.time() - days * DAY
    os.utime(path, (stamp, stamp))
    return str(path)


def day(days_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).date().isoformat()


@pytest.fixture
def logdir(tmp_path, calendar_edge):
    """On the frozen clock: app.log (live, written now), empty.log, a 10-day-old and a 3-day-old rotated log,
    an unrelated file."""
    d = tmp_path / "logs"
    d.mkdir()
    aged(d / "app.log", 0, APP_LINES)
    (d / "empty.log").write_bytes(b"")
    aged(d / "app.log.20261117T000000Z.gz", 10)
    aged(d / "app.log.20261124T000000Z.gz", 3)
    aged(d / "notes.txt", 200, b"not a log")
    return d


@pytest.fixture
def store(tmp_path, calendar_edge):
    """An archive folder holding a 120-day-old archive (past retention) and a 30-day-old one (within)."""
    folder = ObjectStoragePath(f"file://{tmp_path / 'artifacts'}") / "logs" / "app-logs"
    for days_ago in (120, 30):
        f = folder / day(days_ago) / "var/log/app/app.log.x.gz"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"archived")
    return folder


def run(logdir, dry_run, folder=None, **settings):
    return logs.maintain(
        target_for(logdir), Endpoint(), {**logs.DEFAULTS, **settings}, dry_run=dry_run, archive_folder=folder
    )


def local(logdir) -> list[str]:
    return sorted(p.name for p in logdir.iterdir())


def test_dry_run_only_reads(logdir, store):
    before = {p.name: (p.stat().st_ino, p.stat().st_size, p.read_bytes()) for p in logdir.iterdir()}
    stored = sorted(str(p) for p in store.rglob("*"))

    result = run(logdir, dry_run=True, folder=store)

    assert result.status == "ok", result.findings
    assert {p.name: (p.stat().st_ino, p.stat().st_size, p.read_bytes()) for p in logdir.iterdir()} == before
    assert sorted(str(p) for p in store.rglob("*")) == stored  # nothing archived, nothing expired
    assert result.metrics["logs.rotated_files"] == 0
    assert result.metrics["logs.archived_files"] == 0
    assert result.metrics["logs.local_deleted_files"] == 0
    steps = {(r["step"], r["file"].rsplit("/", 1)[-1]): r["action"] for r in result.details["files"]}
    assert steps[("rotate", "app.log")] == "would do"
    assert steps[("rotate", "empty.log")] == "skipped: empty"
    assert steps[("archive", "app.log.20261117T000000Z.gz")].startswith("would do")
    expire = [r for r in result.details["files"] if r["step"] == "expire"]
    assert [(r["file"].endswith(day(120)), r["action"]) for r in expire] == [(True, "would do")]


def test_earnest_run_archives_deletes_past_retention_and_keeps_the_rest(logdir, store):
    old = logdir / "app.log.20261117T000000Z.gz"
    old_bytes = old.read_bytes()
    result = run(logdir, dry_run=False, folder=store)

    assert result.status == "ok", result.findings
    assert not old.exists()
    assert (store / day(10) / str(old).lstrip("/")).read_bytes() == old_bytes
    assert (logdir / "app.log.20261124T000000Z.gz").exists()  # within archive_after_days: stays local
    assert (logdir / "notes.txt").exists()
    assert not (store / day(120)).exists()
    assert (store / day(30) / "var/log/app/app.log.x.gz").exists()
    assert result.metrics["logs.local_deleted_files"] == 1
    assert result.metrics["logs.expired_archives_files"] == 1

    before_local, before_store = local(logdir), sorted(str(p) for p in store.rglob("*"))
    again = run(logdir, dry_run=False, folder=store)  # idempotent: nothing left to do
    assert again.metrics["logs.rotated_files"] == 0
    assert again.metrics["logs.archived_files"] == 0
    assert again.metrics["logs.local_deleted_files"] == 0
    assert local(logdir) == before_local
    assert sorted(str(p) for p in store.rglob("*")) == before_store


def test_already_archived_file_is_not_uploaded_again_and_a_clash_is_never_overwritten(logdir, store):
    copy = logs.archive_path(store, str(logdir / "app.log.20261117T000000Z.gz"))
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes((logdir / "app.log.20261117T000000Z.gz").read_bytes())  # archived by an earlier run
    again = run(logdir, dry_run=True, folder=store)
    row = next(r for r in again.details["files"] if r["step"] == "archive")
    assert row["uploaded"] is False and row["action"].startswith("would do")

    clash = logs.archive_path(store, str(logdir / "app.log.20261117T000000Z.gz"))
    clash.write_bytes(b"someone else's file")
    result = run(logdir, dry_run=False, folder=store)
    assert result.status == "warning"
    assert "another checksum" in result.findings[0].message
    assert clash.read_bytes() == b"someone else's file"
    assert (logdir / "app.log.20261117T000000Z.gz").exists()


def test_without_an_archive_folder_only_logs_past_retention_are_deleted(logdir):
    aged(logdir / "app.log.20260601T000000Z.gz", 100)
    dry = run(logdir, dry_run=True)
    assert (logdir / "app.log.20260601T000000Z.gz").exists()
    assert "no archive folder" in dry.details["note"]

    result = run(logdir, dry_run=False)
    assert not (logdir / "app.log.20260601T000000Z.gz").exists()
    assert (logdir / "app.log.20261117T000000Z.gz").exists()  # 10 days: within the 90-day retention
    assert result.metrics["logs.local_deleted_files"] == 1


def test_rotate_min_bytes_leaves_small_logs_alone(logdir):
    result = run(logdir, dry_run=True, rotate_min_bytes=10**6)
    assert (logdir / "app.log").read_bytes() == APP_LINES
    assert result.metrics["logs.rotated_files"] == 0


def test_archive_to_s3_through_the_settings_uri(logdir, s3_bucket):
    old = logdir / "app.log.20261117T000000Z.gz"
    content = old.read_bytes()
    folder = ObjectStoragePath(f"s3://{s3_bucket}/logs/app-logs", conn_id="aegis_s3_test")
    for days_ago in (120, 30):
        (folder / day(days_ago) / "srv/app.log.x.gz").write_bytes(b"archived")
    result = run(
        logdir, dry_run=False, archive_folder=f"s3://{s3_bucket}/logs/app-logs", archive_conn_id="aegis_s3_test"
    )

    assert result.status == "ok", result.findings
    assert not old.exists()
    assert (folder / day(10) / str(old).lstrip("/")).read_bytes() == content
    assert not (folder / day(120) / "srv/app.log.x.gz").exists()
    assert (folder / day(30) / "srv/app.log.x.gz").exists()
    assert result.metrics["logs.expired_archives_files"] == 1


def test_time_bound_skips_the_rest_and_says_so(logdir, store):
    result = run(logdir, dry_run=False, folder=store, max_seconds=1e-9)
    assert result.status == "warning"
    assert "stopped at max_seconds" in result.findings[0].message
    assert {r["action"] for r in result.details["files"]} == {"skipped: max_seconds reached"}
    assert (logdir / "app.log").read_bytes() == APP_LINES


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="archive_retention_days: must be above archive_after_days"):
        logs.check_settings({**logs.DEFAULTS, "archive_retention_days": 3})
    with pytest.raises(ValueError, match="archive_folder: must be a file:// or s3:// URI"):
        logs.check_settings({**logs.DEFAULTS, "archive_folder": "/tmp/x"})
