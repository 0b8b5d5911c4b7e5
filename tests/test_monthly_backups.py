"""Backup validation: real file-backup sets made at times the test controls; the newest set of each target is
restore-tested through the verify code. A stale set, a set whose restore test fails and a fresh one are
told apart; recovery point and time are measured against the inventory's objectives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from include.backup.runner import backup_target, sets_folder
from include.catalog import Catalog
from include.inventory import parse_inventory
from include.monthly.backups import recovery_point, validate
from include.targets import Endpoint

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
