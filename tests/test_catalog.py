"""The catalog keeps metrics for trends, on SQLite (default) and on PostgreSQL (production)."""

from datetime import UTC, datetime, timedelta

import pytest

from include.catalog import Catalog

DAY = datetime(2026, 4, 1, tzinfo=UTC)


def result(target, **metrics):
    return {"target": target, "kind": "redis", "metrics": metrics}


@pytest.fixture(params=["sqlite", "postgres"])
def catalog(request, tmp_path):
    if request.param == "sqlite":
        return Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    name = request.getfixturevalue("pg_database")
    return Catalog(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")


def test_previous_metrics_series_and_idempotent_rewrites(catalog):
    for i in range(3):
        catalog.record_check_run(
            "daily_health_check",
            DAY + timedelta(days=i),
            f"r{i}",
            "healthy",
            None,
            {},
            [result("cache", **{"redis.evicted_keys_total": 10 * i}), result("other", x=i)],
        )
    assert catalog.previous_metrics("cache", DAY + timedelta(days=2)) == {"redis.evicted_keys_total": 10.0}
    assert catalog.previous_metrics("cache", DAY) == {}
    # a retry of day 1's run (same run id) with a different value replaces it
    catalog.record_check_run(
        "daily_health_check",
        DAY + timedelta(days=1),
        "r1",
        "warning",
        None,
        {},
        [result("cache", **{"redis.evicted_keys_total": 15})],
    )
    assert catalog.series("cache", "redis.evicted_keys_total") == [
        ("2026-04-01T00:00:00Z", 0.0),
        ("2026-04-02T00:00:00Z", 15.0),
        ("2026-04-03T00:00:00Z", 20.0),
    ]
    runs = catalog.runs("daily_health_check")
    assert [(r["run_id"], r["status"]) for r in runs] == [("r2", "healthy"), ("r1", "warning"), ("r0", "healthy")]
    assert catalog.series("other", "x") == [("2026-04-01T00:00:00Z", 0.0), ("2026-04-03T00:00:00Z", 2.0)]
