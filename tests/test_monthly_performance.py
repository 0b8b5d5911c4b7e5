"""Performance month over month and the maintenance log, from a catalog filled with two months of runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.catalog import Catalog
from include.inventory import parse_inventory
from include.monthly.performance import routines, target_performance
from include.monthly.runlog import month_runs

MAY, JUNE, JULY = (datetime(2026, m, 1, 5, 0, tzinfo=UTC) for m in (5, 6, 7))


@pytest.fixture
def catalog(tmp_path):
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    for day in range(30):
        for month_start, latency, hits, slow in ((MAY, 2.0, 99.0, 10 * day), (JUNE, 5.0, 90.0, 40 * day)):
            catalog.record_check_run(
                "daily_health_check",
                month_start + timedelta(days=day),
                f"d{day}",
                "critical" if (month_start, day) == (JUNE, 3) else "healthy",
                None,
                {},
                [
                    {
                        "target": "cache",
                        "kind": "redis",
                        "metrics": {
                            "redis.latency_p50_ms": latency,
                            "redis.hit_ratio_pct": hits,
                            "redis.slowlog_entries_total": 1000 + slow,
                            "redis.used_memory_bytes": 1e6,
                        },
                    }
                ],
            )
    catalog.record_check_run("monthly_audit", JUNE, "m", "warning", None, {}, [])
    catalog.record_check_run(
        "planned_update",
        JUNE + timedelta(days=2),
        "u",
        "rolled-back",
        None,
        {"change": "image app:1.2 -> app:1.3", "reasons": [{"target": "app"}]},
        [],
    )
    return catalog


def test_this_month_against_the_last_with_direction(catalog):
    target = parse_inventory({"targets": [{"name": "cache", "kind": "redis", "conn_id": "x"}]}).target("cache")
    row = target_performance(catalog, target, MAY, JUNE, JULY)
    by = {r["metric"]: r for r in row["details"]["month_over_month"]}
    assert by["redis.latency_p50_ms"] == {
        "metric": "redis.latency_p50_ms",
        "this_month": 5.0,
        "last_month": 2.0,
        "change": 3.0,
        "change_pct": 150.0,
        "direction": "worse",
    }
    assert by["redis.hit_ratio_pct"]["direction"] == "worse" and by["redis.hit_ratio_pct"]["change"] == -9.0
    # a counter is compared by its growth within each month: 29*10 in May, 29*40 in June
    slowlog = by["redis.slowlog_entries_total"]
    assert (slowlog["last_month"], slowlog["this_month"]) == (290, 1160)
    assert "redis.used_memory_bytes" not in by  # a size: the capacity section's, not performance's
    assert row["status"] == "warning" and len(row["findings"]) == 2  # latency +150 %, slow log +300 %; hits -9 % < 25 %


def test_the_maintenance_log_and_the_routines_of_the_month(catalog):
    runs = month_runs(catalog.engine, JUNE, JULY)
    assert len(runs) == 31 and "monthly_audit" not in {r["routine"] for r in runs}
    update = next(r for r in runs if r["routine"] == "planned_update")
    assert (update["status"], update["change"], update["reasons"]) == ("rolled-back", "image app:1.2 -> app:1.3", 1)
    assert routines(runs) == [
        {"routine": "daily_health_check", "runs": 30, "states": {"healthy": 29, "critical": 1}, "failures": 1},
        {"routine": "planned_update", "runs": 1, "states": {"rolled-back": 1}, "failures": 1},
    ]
