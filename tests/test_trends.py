"""Week-over-week trends from a catalog (SQLite in tmp_path) filled with recorded runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.catalog import Catalog
from include.trends import target_trends, week_over_week

END = datetime(2026, 3, 15, 0, 0, tzinfo=UTC)  # this week: (03-08, 03-15]; previous: (03-01, 03-08]
DAY = timedelta(days=1)

#: metric → [(days before END, value)] of target "pg" (recorded by daily runs)
PG = {
    "pg.connections": [(12, 40), (7, 10), (3, 18), (0, 25)],  # previous week's latest is 10 (not the 40 before it)
    "pg.database_size_bytes": [(9, 5e9), (8, 5e9), (1, 5e9)],  # flat
    "pg.cache_hit_pct": [(8, 99.0), (0, 80.0)],  # fell: hit ratios are never flagged
    "mysql.slow_queries_total": [(8, 100), (0, 500)],  # a cumulative counter: never flagged
    "pg.slow_statements": [(10, 0), (2, 3)],  # from nothing to something
    "pg.replication_lag_s": [(8, 10.0), (0, 11.0)],  # +10 %: under the 20 % bar
    "pg.only_this_week": [(1, 7)],
    "pg.too_old": [(20, 1), (0, 2)],  # its previous value is older than two weeks: no comparison
}
HOST = {"host.disk_pct[/]": [(7.5, 50.0), (0.5, 65.0)], "host.memory_pct": [(8, 60.0), (0, 65.0)]}


def record(catalog: Catalog, target: str, kind: str, series: dict) -> None:
    """One daily run per day that has values, each with the metrics of that day."""
    days = sorted({d for points in series.values() for d, _ in points}, reverse=True)
    for d in days:
        at = END - d * DAY
        metrics = {m: v for m, points in series.items() for dd, v in points if dd == d}
        catalog.record_check_run(
            f"daily_{target}",
            at,
            f"run-{d}",
            "healthy",
            None,
            {},
            [{"target": target, "kind": kind, "metrics": metrics}],
        )


@pytest.fixture
def catalog(tmp_path):
    c = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    record(c, "pg", "postgres", PG)
    record(c, "box", "host", HOST)
    return c


def latest_before(points, lo_days, hi_days):
    """The value with the smallest 'days before END' in [hi_days, lo_days) — what the week's latest must be."""
    inside = [(d, v) for d, v in points if hi_days <= d < lo_days]
    return min(inside)[1] if inside else None


def test_growth_is_computed_from_the_recorded_rows_and_big_growth_is_flagged(catalog):
    result = target_trends(catalog, "pg", "postgres", END)
    rows = {r["metric"]: r for r in result.details["changes"]}

    for metric, points in PG.items():
        current, previous = latest_before(points, 7, 0), latest_before(points, 14, 7)
        if current is None or previous is None:
            assert metric not in rows and metric in result.details["no_comparison"]
            continue
        row = rows[metric]
        assert (row["previous"], row["current"]) == (previous, current)
        assert row["change"] == pytest.approx(current - previous)
        if previous:
            assert row["change_pct"] == pytest.approx(100 * (current - previous) / previous, abs=0.05)

    flagged = {m for m, r in rows.items() if r["flagged"]}
    assert flagged == {"pg.connections", "pg.slow_statements"}
    assert result.status == "warning"
    assert any(f.message.startswith("pg.connections (connections) grew +150%") for f in result.findings)
    assert not rows["pg.database_size_bytes"]["flagged"] and rows["pg.database_size_bytes"]["change"] == 0
    assert {"pg.only_this_week", "pg.too_old"} <= set(result.details["no_comparison"])


def test_percentages_grow_in_points_and_flat_targets_stay_ok(catalog):
    box = target_trends(catalog, "box", "host", END)
    rows = {r["metric"]: r for r in box.details["changes"]}
    assert rows["host.disk_pct[/]"]["flagged"]  # 50 % → 65 %: 15 points
    assert not rows["host.memory_pct"]["flagged"]  # 60 % → 65 %: 5 points
    assert any("host.disk_pct[/]" in f.message and "+15 points" in f.message for f in box.findings)

    # The same target a week earlier had nothing to compare with: ok, and the report says why.
    early = target_trends(catalog, "box", "host", END - 7 * DAY)
    assert early.status == "ok" and early.findings == []
    assert "nothing to compare" in early.details["note"]


def test_every_chosen_target_gets_a_row_even_without_metrics(catalog):
    rows = week_over_week(catalog, [("pg", "postgres"), ("new-target", "redis")], END)
    assert [r["target"] for r in rows] == ["pg", "new-target"]
    assert rows[1]["status"] == "ok" and "no metrics recorded" in rows[1]["details"]["note"]
