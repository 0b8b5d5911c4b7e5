"""Backup validation: real file-backup sets made at times the test controls; the newest set of each target is
restore-tested through the verify code. A stale set, a set whose restore test fails and a fresh one are
told apart; recovery point and time are measured against the inventory's objectives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import time_machine

from include.backup.runner import backup_target, sets_folder
from include.catalog import Catalog
from include.inventory import parse_inventory
from include.monthly.audit import build_report
from include.monthly.backups import recovery_point, validate, validate_target
from include.rendering import render_html
from include.targets import Endpoint, endpoint_for

END = datetime(2026, 7, 1, 5, 0, tzinfo=UTC)
START = datetime(2026, 6, 1, 5, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path):
    for name in ("fresh", "stale", "broken"):
        (tmp_path / "data" / name).mkdir(parents=True)
        (tmp_path / "data" / name / "app.conf").write_text(f"{name} = 1\n" * 100)
    inventory = parse_inventory(
        {
            "artifacts": {"base": str(tmp_path / "artifacts")},
            "catalog": {"path": str(tmp_path / "catalog.db")},
            "audit": {
                "objectives": {"rpo_hours": 48, "rto_minutes": 30},
                "target_objectives": {"fresh": {"rpo_hours": 12}},
            },
            "targets": [
                {"name": n, "kind": "files", "paths": [str(tmp_path / "data" / n)]}
                for n in ("fresh", "stale", "broken")
            ],
        },
        tmp_path / "inventory.yaml",
    )
    catalog = Catalog(f"sqlite:///{inventory.catalog_path}")
    return inventory, catalog


def back_up(inventory, catalog, name: str, when: datetime) -> str:
    with time_machine.travel(when, tick=True):
        return backup_target(inventory, inventory.target(name), Endpoint(), when, catalog)["set_id"]


def test_stale_backup_failed_restore_test_and_a_good_one(world):
    inventory, catalog = world
    back_up(inventory, catalog, "fresh", END - timedelta(days=3))
    newest = back_up(inventory, catalog, "fresh", END - timedelta(hours=6))
    back_up(inventory, catalog, "stale", END - timedelta(days=10))
    broken = back_up(inventory, catalog, "broken", END - timedelta(hours=6))
    folder = sets_folder(inventory, "broken", broken)
    archive = next(p for p in folder.iterdir() if p.name.startswith("files.tar.gz"))
    data = archive.read_bytes()
    archive.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])  # one flipped bit

    with time_machine.travel(END, tick=True):
        rows = {r["target"]: r for r in validate(inventory, catalog, inventory.targets, START, END, "audit-run-7")}

    fresh, stale, failed = rows["fresh"], rows["stale"], rows["broken"]
    # only the newest set was restore-tested (verified): the month went without a verified set until then
    assert [f["message"] for f in fresh["findings"]] == [
        "during the month the recovery point reached 714 h (objective 12 h)"
    ]
    assert fresh["details"]["restore_test"]["state"] == "verified"
    assert catalog.backup_set(newest)["verified_by_run_id"] == "audit-run-7"  # the audit's run verified it
    assert fresh["details"]["recovery_point"]["age_hours"] == pytest.approx(6, abs=0.1)
    assert fresh["details"]["objectives"] == {"rpo_hours": 12.0, "rto_minutes": 30}
    assert fresh["details"]["month"]["sets"] == 2 and fresh["details"]["month"]["bytes_newest"] > 0
    rto = fresh["details"]["recovery_time"]
    assert rto["scale"] == 1.0 and rto["minutes"] == pytest.approx(rto["restore_seconds"] / 60, abs=1e-4)

    assert stale["status"] == "critical"
    assert any("stale backup: the newest verified set is 240 h old" in f["message"] for f in stale["findings"])
    assert stale["details"]["restore_test"]["state"] == "verified"  # the set is good, just old

    assert failed["status"] == "critical"
    assert any(f"restore test of the newest set {broken} failed" in f["message"] for f in failed["findings"])
    assert catalog.backup_set(broken)["state"] == "failed"
    assert failed["details"]["recovery_point"]["age_hours"] is None  # no verified set left


def test_recovery_point_worst_case_over_the_month():
    def verified(at):
        return {"state": "verified", "started_at": at, "finished_at": at}

    day5, last = START + timedelta(days=5), END - timedelta(hours=2)
    sets = [verified(START - timedelta(hours=10)), verified(day5), verified(last)]
    rpo = recovery_point(sets, START, END)
    assert rpo["age_hours"] == 2
    # from 10 h before the month to day 5 (130 h), then day 5 to 2 h before the end (the longest stretch)
    assert rpo["worst_hours"] == pytest.approx((last - day5).total_seconds() / 3600)
    assert recovery_point([], START, END) == {"age_hours": None, "worst_hours": None, "newest": None}


def record_set(catalog, target: str, started: datetime, seconds: float, size: int | None, state: str) -> str:
    """A set recorded in the catalog at times the test controls (no archive: the restore test is not run)."""
    set_id = f"{target}-{started:%Y%m%dT%H%M}"
    with time_machine.travel(started, tick=False):
        catalog.backup_started(set_id, target, "files", f"file:///nowhere/{set_id}")
    with time_machine.travel(started + timedelta(seconds=seconds), tick=False):
        if state == "failed":
            catalog.backup_state(set_id, "failed", detail="dump failed")
        else:
            catalog.backup_state(set_id, "complete", size_bytes=size)
            if state != "complete":
                catalog.backup_state(set_id, state)
    return set_id


def test_the_months_sizes_durations_and_growth_against_the_month_before(world):
    inventory, catalog = world
    before = START - (END - START)
    record_set(catalog, "fresh", before - timedelta(days=2), 999, 99_999, "complete")  # before both months
    record_set(catalog, "fresh", before + timedelta(days=3), 60, 1000, "deleted")  # the month before
    record_set(catalog, "fresh", START - timedelta(days=1), 120, 1200, "complete")
    record_set(catalog, "fresh", START + timedelta(days=1), 100, 1500, "deleted")  # this month (retention ran)
    record_set(catalog, "fresh", START + timedelta(days=9), 0, None, "failed")
    record_set(catalog, "fresh", START + timedelta(days=15), 200, 1800, "complete")
    record_set(catalog, "fresh", END - timedelta(days=1), 300, 2000, "verified")
    record_set(catalog, "fresh", END + timedelta(hours=1), 900, 50_000, "verified")  # after the audited month

    with time_machine.travel(END, tick=False):
        row = validate_target(inventory, catalog, inventory.target("fresh"), START, END, restore_test=False)

    month, previous = row["details"]["month"], row["details"]["previous_month"]
    assert month == {
        "sets": 4,
        "failed": 1,
        "bytes_total": 1500 + 1800 + 2000,
        "bytes_newest": 2000,
        "size_growth_pct": 33.3,  # first to last set of the month: 1500 -> 2000
        "duration_s_max": 300.0,
        "duration_s_mean": 200.0,
    }
    assert previous["sets"] == 2 and previous["bytes_newest"] == 1200 and previous["duration_s_mean"] == 90.0
    assert previous["size_growth_pct"] == 20.0
    # newest size 1200 -> 2000, mean duration 90 s -> 200 s
    assert row["details"]["growth"] == {"bytes_newest_pct": 66.7, "duration_s_mean_pct": 122.2}
    assert "1 backup set(s) of the month failed" in [f["message"] for f in row["findings"]]
    # finished 300 s after its start a day before the end; the set after the month is not looked at
    assert row["details"]["recovery_point"]["age_hours"] == 23.9
    report = build_report(
        {"targets": ["fresh"], "sections": ["backups"]},
        [{"section": "backups", "rows": [row], "facts": {}}],
        "m",
        START,
        END,
    )
    html = render_html(report)
    assert "66.7% vs last month" in html and "122.2% vs last month" in html


def test_postgres_recovery_time_is_scaled_to_the_live_size_growth_since_the_set(tmp_path, monkeypatch, pg_database):
    """A real PostgreSQL set restore-tested by the audit: the daily check's ``pg.database_bytes`` of its database
    doubled since the set was taken, so the recovery time is twice the measured restore. A target whose history
    has no size sample from before its set falls back to the set's own size, and says so."""
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=pg_database, autocommit=True) as c:
        c.execute("create table orders (id int primary key, note text)")
        c.execute("insert into orders select g, md5(g::text) from generate_series(1, 2000) g")
    monkeypatch.setenv("AIRFLOW_CONN_MB_PG", f"postgresql://postgres@127.0.0.1:5432/{pg_database}")
    inventory = parse_inventory(
        {
            "artifacts": {"base": str(tmp_path / "artifacts")},
            "catalog": {"path": str(tmp_path / "catalog.db")},
            "audit": {"objectives": {"rpo_hours": 72, "rto_minutes": 30}},
            "targets": [
                {"name": n, "kind": "postgres", "conn_id": "mb_pg", "databases": [pg_database]}
                for n in ("grown", "unmeasured")
            ],
        },
        tmp_path / "inventory.yaml",
    )
    catalog = Catalog(f"sqlite:///{inventory.catalog_path}")
    taken = END - timedelta(days=2)
    metric = f"pg.database_bytes[{pg_database}]"
    history = {  # day -> size of the database in each target's daily check
        taken - timedelta(days=3): {"grown": 1e6},
        taken - timedelta(hours=1): {"grown": 4e6},  # the sample the set's size is compared with
        taken + timedelta(hours=23): {"grown": 5e6, "unmeasured": 5e6},
        END - timedelta(hours=1): {"grown": 8e6, "unmeasured": 8e6},  # now
        END + timedelta(days=1): {"grown": 20e6, "unmeasured": 20e6},  # after the audited month: not looked at
    }
    for when, sizes in history.items():
        rows = [{"target": t, "kind": "postgres", "metrics": {metric: v}} for t, v in sizes.items()]
        catalog.record_check_run("daily", when, f"daily-{when:%m%d%H}", "ok", None, {}, rows)
    for name in ("grown", "unmeasured"):
        with time_machine.travel(taken, tick=True):
            backup_target(inventory, inventory.target(name), endpoint_for(inventory.target(name)), taken, catalog)

    with time_machine.travel(END, tick=True):
        rows = {r["target"]: r for r in validate(inventory, catalog, inventory.targets, START, END, "audit-run-8")}

    grown = rows["grown"]["details"]
    assert grown["restore_test"]["state"] == "verified" and grown["restore_test"]["databases"] == [pg_database]
    rto = grown["recovery_time"]
    assert (rto["live_bytes_then"], rto["live_bytes"], rto["scale"]) == (4e6, 8e6, 2.0)
    assert rto["minutes"] == pytest.approx(2 * rto["restore_seconds"] / 60, abs=1e-3)
    assert rto["scaled_to"] == f"pg.database_bytes of {pg_database}: 4000000 B when the set was taken, 8000000 B now"
    assert rows["grown"]["metrics"]["backup.rto_minutes"] == rto["minutes"]

    fallback = rows["unmeasured"]["details"]["recovery_time"]
    assert fallback["scale"] == 1.0 and fallback["live_bytes"] is None
    assert fallback["minutes"] == pytest.approx(fallback["restore_seconds"] / 60, abs=1e-4)
    assert fallback["scaled_to"] == f"the set's own size (no {metric} sample at or before the set was taken)"

    selection = {"targets": ["grown", "unmeasured"], "sections": ["backups"]}
    report = build_report(
        selection, [{"section": "backups", "rows": list(rows.values()), "facts": {}}], "m", START, END
    )
    html = render_html(report)  # the report says what each recovery time was scaled to
    assert f"scaled to pg.database_bytes of {pg_database}: 4000000 B when the set was taken" in html
    assert "scaled to the set&#39;s own size (no pg.database_bytes[" in html
