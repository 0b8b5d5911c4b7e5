"""Capacity forecast: a history built to cross its threshold at a known date is forecast within a day of it,
with the band around it; a history too short is said plainly; the chart is an SVG with the data drawn."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta

import pytest

from include.catalog import Catalog
from include.checks import Window
from include.checks.logs import check
from include.inventory import parse_inventory
from include.monthly import forecast
from include.monthly.capacity import capacity, target_capacity
from include.monthly.charts import svg
from include.targets import Endpoint

END = datetime(2026, 5, 1, 5, 0, tzinfo=UTC)
START = END - timedelta(days=60)
#: disk use grows 0.5 points a day from 40 %: 75 % (the warning threshold) is reached 70 days after START.
KNOWN_CROSSING = START + timedelta(days=70)


@pytest.fixture
def inventory():
    return parse_inventory(
        {
            "targets": [
                {"name": "box", "kind": "host", "mounts": ["/data"]},
                {"name": "young", "kind": "host"},
            ]
        }
    )


@pytest.fixture
def catalog(tmp_path):
    return Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")


def record(catalog: Catalog, target: str, when: datetime, metrics: dict[str, float]) -> None:
    catalog.record_check_run(
        f"daily-{target}", when, "r", "healthy", None, {}, [{"target": target, "kind": "host", "metrics": metrics}]
    )


def test_a_crossing_at_a_known_date_is_forecast_within_a_day_and_inside_its_band(inventory, catalog):
    noise = random.Random(7)
    for day in range(61):
        record(
            catalog,
            "box",
            START + timedelta(days=day),
            {"host.disk_pct[/data]": 40 + 0.5 * day + noise.gauss(0, 0.4), "host.cpu_pct": 20.0},
        )
    row = target_capacity(catalog, inventory.target("box"), END)
    [disk] = [r for r in row.details["resources"] if r["metric"] == "host.disk_pct[/data]"]
    warning = disk["crossings"]["warning"]
    expected = datetime.strptime(warning["expected"], "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    earliest = datetime.strptime(warning["earliest"], "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    latest = datetime.strptime(warning["latest"], "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert abs(expected - KNOWN_CROSSING) <= timedelta(days=1)
    assert earliest <= KNOWN_CROSSING <= latest and earliest < expected < latest
    assert 9 <= warning["in_days"] <= 11
    # critical (85 %) is reached 90 days after START: 30 days after END, within the 90 days that make it a finding
    assert disk["crossings"]["critical"]["in_days"] == pytest.approx(30, abs=1.5)
    assert row.status == "critical"
    assert "reaches its warning threshold (75)" in disk["headline"]
    assert "host.cpu_pct" not in [r["metric"] for r in row.details["resources"]]  # not a capacity resource


def test_too_little_history_is_said_plainly_not_extrapolated(inventory, catalog):
    for day in range(5):
        record(catalog, "young", END - timedelta(days=day), {"host.disk_pct[/]": 80 + day})
    [row] = capacity(catalog, [inventory.target("young")], END)
    [disk] = row["details"]["resources"]
    assert disk["status"] == "too short" and "crossings" not in disk and "fit" not in disk["chart"]
    assert "too little history to forecast (5 sample(s)" in disk["headline"]
    assert row["status"] == "ok"


def test_targets_crossing_soonest_lead_the_section(inventory, catalog):
    for day in range(30):
        record(catalog, "young", START + timedelta(days=30 + day), {"host.disk_pct[/]": 10 + 0.01 * day})
        record(catalog, "box", START + timedelta(days=30 + day), {"host.disk_pct[/data]": 50 + 0.8 * day})
    rows = capacity(catalog, [inventory.target("young"), inventory.target("box")], END)
    assert [r["target"] for r in rows] == ["box", "young"]


def test_the_band_widens_away_from_the_data():
    points = [(START.timestamp() + d * forecast.DAY_S, 2.0 * d + (d % 3)) for d in range(20)]
    model = forecast.fit(points)
    near, far = model.band(points[-1][0]), model.band(points[-1][0] + 60 * forecast.DAY_S)
    assert far[1] - far[0] > near[1] - near[0] > 0
    assert forecast.t_quantile_975(10) == pytest.approx(2.228, abs=0.003)


def test_the_chart_is_an_svg_with_history_trend_band_and_thresholds(inventory, catalog):
    for day in range(40):
        record(catalog, "box", START + timedelta(days=day), {"host.disk_pct[/data]": 40 + 0.5 * day})
    [disk] = target_capacity(catalog, inventory.target("box"), END).details["resources"]
    image = svg(disk["chart"])
    assert image.startswith("<svg") and image.rstrip().endswith("</svg>")
    for label in ("history", "trend", "95 % band", "warning", "critical", "box · host.disk_pct[/data]"):
        assert label in image
    assert svg(disk["chart"]) == image  # the same data renders the same bytes


def test_log_volume_recorded_by_the_log_check_is_forecast_as_a_trend(tmp_path, catalog):
    """A log growing by the same number of bytes every day: the daily log check's ``logs.bytes`` is a
    resource of its own, forecast without thresholds, its slope the daily growth."""
    log = tmp_path / "app.log"
    target = parse_inventory({"targets": [{"name": "app", "kind": "log_source", "paths": [str(log)]}]}).target("app")
    line = "{:%Y-%m-%dT%H:%M:%S} ERROR request failed with status 503\n"
    per_day = 200 * len(line.format(START))
    for day in range(30):
        start = END - timedelta(days=30 - day)
        with log.open("a") as fh:
            fh.writelines(line.format(start + timedelta(minutes=i)) for i in range(200))
        os.utime(log, (start.timestamp() + 3600, start.timestamp() + 3600))
        result = check(target, Endpoint(), Window(start, start + timedelta(days=1), {}))
        assert result.metrics["logs.bytes"] == (day + 1) * per_day
        catalog.record_check_run("daily", start + timedelta(days=1), f"d{day}", "ok", None, {}, [result.to_dict()])

    row = target_capacity(catalog, target, END)

    [volume] = row.details["resources"]  # the error count and the per-signature counts are not capacity
    assert volume["metric"] == "logs.bytes" and volume["status"] == "forecast"
    assert volume["slope_per_day"] == pytest.approx(per_day)
    assert volume["thresholds"] == {} and volume["crossings"] == {} and volume["level"] == "ok"
    assert row.status == "ok"
