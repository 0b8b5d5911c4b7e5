"""The Aegis console: overview tiles, every routine's reports, backup sets with restore links, SVG trends,
the report's back link, escaping, and the per-DAG read check."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from fastapi.testclient import TestClient

from include.catalog import Catalog
from include.inventory import load_inventory
from include.publish import AlertWhen, publish
from include.report import Report
from include.reports_view import build_app
from tests.helpers import write_inventory

NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)


def row(target, status, *levels, metrics=None, kind="postgres"):
    return {
        "target": target,
        "kind": kind,
        "status": status,
        "metrics": metrics or {},
        "findings": [{"level": lv, "message": "m"} for lv in levels],
    }


@pytest.fixture
def world(tmp_path):
    inventory = load_inventory(
        write_inventory(
            tmp_path,
            """
        version: 1
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        schedules:
          daily_health_check: {cron: "0 9 * * *", timezone: Asia/Seoul}
          backup: {cron: "0 2 * * *", timezone: Asia/Seoul}
        targets:
          - {name: pg-main, kind: postgres, conn_id: pg, tags: [db, prod], backup: {retention_days: 14}}
          - {name: cache, kind: redis, conn_id: rd, tags: [cache], backup: {enabled: false}}
          - {name: app-logs, kind: log_source, tags: [logs], paths: ["/nonexistent/*.log"]}
    """,
        )
    )
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    report = tmp_path / "report.html"
    report.write_text("<!doctype html><html><body class='r'><h1>the report</h1></body></html>")
    # a daily run one hour ago: pg warning with two findings, the cache healthy; metrics for the trends
    catalog.record_check_run(
        "daily_health_check",
        NOW - timedelta(hours=1),
        "manual__r1",
        "warning",
        str(report),
        {"status": "warning", "reasons": [{"target": "pg-main", "level": "warning", "message": "x"}]},
        [row("pg-main", "warning", metrics={"postgres.connections": 42})],
        statuses=[row("pg-main", "warning", "warning", "critical", "ok"), row("cache", "ok")],
    )
    # twenty days ago, another data point of the same metric (only in the 30/90-day trends)
    catalog.record_check_run(
        "daily_health_check",
        NOW - timedelta(days=20),
        "scheduled__r0",
        "healthy",
        None,
        {},
        [row("pg-main", "ok", metrics={"postgres.connections": 10})],
        statuses=[row("pg-main", "ok"), row("app-logs", "ok")],
    )
    # the log source was last checked twenty days ago: stale. A backup of pg three days ago, verified: stale too
    with time_machine.travel(NOW - timedelta(days=3), tick=False):
        catalog.backup_started("pg-main-20260507", "pg-main", "postgres", "file:///b/1")
        catalog.backup_state("pg-main-20260507", "complete", size_bytes=2048)
        catalog.backup_state("pg-main-20260507", "verified")
    catalog.record_check_run(
        "backup",
        NOW - timedelta(days=3),
        "scheduled__b1",
        "complete",
        str(report),
        {},
        [],
        statuses=[row("pg-main", "complete")],
    )
    catalog.record_check_run("monthly_audit", NOW - timedelta(days=2), "scheduled__a1", "healthy", str(report), {}, [])
    return inventory, catalog


def client_for(world, readable=None):
    inventory, catalog = world
    kwargs = {"readable": (lambda: readable)} if readable else {}
    return TestClient(
        build_app(
            lambda: catalog,
            lambda uri: open(uri.removeprefix("file://")).read(),
            lambda: inventory,
            now=lambda: NOW,
            **kwargs,
        )
    )


def tile(page: str, target: str) -> str:
    match = re.search(rf"<div class='tile' data-target='{target}'.*?</dl></div>", page, re.S)
    assert match, f"no tile for {target}"
    return match.group(0)


def test_overview_tiles_show_each_targets_latest_state_and_what_is_stale(world):
    page = client_for(world).get("/").text
    pg, cache, logs = tile(page, "pg-main"), tile(page, "cache"), tile(page, "app-logs")
    assert "data-health='warning'" in pg and "2 finding(s)" in pg and "<dd>2</dd>" in pg
    assert "data-state='stale'" in pg, "a daily backup three days old is stale"
    assert "verified 2026-05-07 12:00 UTC" in pg
    assert "data-state='healthy'" in cache and "no backups for this target" in cache
    assert "data-state='stale'" in logs and "healthy · stale" in logs  # checked 20 days ago, daily schedule
    # worst first by default: the stale tiles come before the healthy cache
    assert page.index("data-target='pg-main'") < page.index("data-target='cache'")


def test_a_weekly_maintenance_that_stopped_running_makes_the_tile_stale(world):
    """Weekly maintenance counts in a tile's state once it has run on the target: stale when its last run is
    older than the weekly schedule allows, its verdict when recent."""
    _, catalog = world
    catalog.record_check_run(
        "weekly_maintenance", NOW - timedelta(days=20), "w-old", "ok", None, {}, [], statuses=[row("cache", "ok")]
    )
    cache = tile(client_for(world).get("/").text, "cache")
    assert "data-state='stale'" in cache and "healthy · stale" in cache
    catalog.record_check_run(
        "weekly_maintenance",
        NOW - timedelta(days=1),
        "w-new",
        "warning",
        None,
        {},
        [],
        statuses=[row("cache", "warning")],
    )
    cache = tile(client_for(world).get("/").text, "cache")
    assert "data-state='warning'" in cache and "stale" not in cache


def test_overview_filters_by_kind_and_tag_and_sorts(world):
    client = client_for(world)
    only_redis = client.get("/", params={"kind": "redis"}).text
    assert "data-target='cache'" in only_redis and "data-target='pg-main'" not in only_redis
    prod = client.get("/", params={"tag": "prod"}).text
    assert "data-target='pg-main'" in prod and "data-target='cache'" not in prod
    by_name = client.get("/", params={"sort": "name"}).text
    names = re.findall(r"data-target='([^']+)'", by_name)
    assert names == sorted(names) == ["app-logs", "cache", "pg-main"]
    bad = client.get("/", params={"sort": "colour"})
    assert bad.status_code == 400 and "unknown sort 'colour'" in bad.text


def test_reports_lists_every_routine_in_the_catalog_with_links(world):
    page = client_for(world).get("/reports").text
    for routine in ("daily_health_check", "backup", "monthly_audit"):
        assert f"data-routine='{routine}'" in page
    # a routine that has not run yet is listed too, saying so
    planned = re.search(r"<section class='routine' data-routine='planned_update'>.*?</section>", page, re.S)
    assert planned and "No run recorded yet." in planned.group(0)
    assert page.index("data-routine='daily_health_check'") < page.index("data-routine='incident'")
    assert "href='/dags/daily_health_check/runs/manual__r1' data-airflow" in page
    assert "report?routine=backup&amp;interval_end=2026-05-07T12%3A00%3A00Z" in page
    one = client_for(world).get("/reports", params={"routine": "backup"}).text
    assert "scheduled__b1" in one and "manual__r1" not in one


def test_a_report_is_served_with_a_way_back(world):
    served = client_for(world).get(
        "/report", params={"routine": "daily_health_check", "interval_end": "2026-05-10T11:00:00Z"}
    )
    assert served.status_code == 200
    body = served.text
    assert body.index("<body class='r'>") < body.index("aegis-back") < body.index("<h1>the report</h1>")
    assert "href='reports?routine=daily_health_check'" in body
    assert "href='/dags/daily_health_check/runs/manual__r1'" in body
    missing = client_for(world).get("/report", params={"routine": "daily_health_check", "interval_end": "../x"})
    assert missing.status_code == 404


def test_backups_show_sets_with_retention_and_a_prefilled_dry_run_restore_form(world):
    client = client_for(world)
    page = client.get("/backups").text
    assert "data-set='pg-main-20260507'" in page and "2.0 kB" in page
    assert "2026-05-21" in page  # started 2026-05-07 + retention_days 14
    link = re.search(r"class='restore-link' href='([^']+)'", page).group(1).replace("&amp;", "&")
    assert parse_qs(urlparse(link).query) == {"target": ["pg-main"], "set_id": ["pg-main-20260507"]}
    form = client.get("/" + link).text
    assert "id='set_id' name='set_id' value='pg-main-20260507'" in form
    assert "id='dry_run' name='dry_run' type='checkbox' checked" in form
    assert "data-api='/api/v2/dags/restore/dagRuns'" in form
    assert client.get("/restore", params={"target": "cache", "set_id": "pg-main-20260507"}).status_code == 404


def test_trends_draw_the_catalogs_points_for_the_period(world):
    client = client_for(world)
    week = client.get("/trends", params={"target": "pg-main", "period": "7d"}).text
    assert "<svg" in week and "data-metric='postgres.connections'" in week
    assert re.findall(r"data-value='([^']+)'", week) == ["42.0"]
    quarter = client.get("/trends", params={"target": "pg-main", "period": "90d"}).text
    assert re.findall(r"data-value='([^']+)'", quarter) == ["10.0", "42.0"]
    assert client.get("/trends", params={"period": "1y"}).status_code == 400


def test_a_viewer_sees_only_the_routines_whose_dag_they_may_read(world):
    client = client_for(world, readable=lambda dag_id: dag_id != "backup")
    reports = client.get("/reports").text
    assert "data-routine='daily_health_check'" in reports and "data-routine='backup'" not in reports
    hidden = client.get("/report", params={"routine": "backup", "interval_end": "2026-05-07T12:00:00Z"})
    assert hidden.status_code == 403
    assert client.get("/reports", params={"routine": "backup"}).status_code == 403
    assert client.get("/reports", params={"routine": "daily_health_check"}).status_code == 200
    assert client.get("/backups").status_code == 403
    assert "verified 2026" not in tile(client.get("/").text, "pg-main")


def test_the_pages_escape_what_they_show(tmp_path):
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    catalog.record_check_run(
        "x<b>y", datetime(2026, 5, 1, tzinfo=UTC), "<script>alert(1)</script>", "critical", None, {}, []
    )
    inventory = load_inventory(
        write_inventory(
            tmp_path,
            """
        version: 1
        targets: [{name: h, kind: host}]
    """,
        )
    )
    client = TestClient(build_app(lambda: catalog, lambda uri: "", lambda: inventory))
    page = client.get("/reports").text
    assert "<script>alert" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "x&lt;b&gt;y" in page
    assert "#cf222e" in page  # critical keeps its colour
    assert "No run recorded yet for other." in client.get("/reports", params={"routine": "other"}).text


def test_plugin_registers_with_airflow():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parent.parent / "plugins" / "aegis_reports.py"
    spec = importlib.util.spec_from_file_location("aegis_reports", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plugin = module.AegisReportsPlugin
    assert plugin.fastapi_apps[0]["url_prefix"] == "/aegis"
    client = TestClient(plugin.fastapi_apps[0]["app"])
    for path in ("/", "/reports", "/backups", "/trends"):
        assert client.get(path).status_code in (401, 403)  # not logged in: refused


def test_a_published_runs_duration_is_charted_under_the_aegis_pseudo_target(world):
    """``publish`` records each run's duration (dag run start → publish) as ``aegis.<routine>.duration_s``
    of the target ``aegis``; Trends offers that target and charts it, for viewers who may read the routine."""
    inventory, _ = world
    end = NOW - timedelta(hours=1)
    rows = [{"target": "pg-main", "kind": "postgres", "status": "ok", "findings": []}]
    report = Report.build(
        "backup", "Backup", "scheduled__dur", end - timedelta(days=1), end, rows, expected=["pg-main"]
    )
    context = {"dag_run": SimpleNamespace(start_date=NOW - timedelta(seconds=95)), "params": {}}
    with time_machine.travel(NOW, tick=False):
        publish(report, inventory, context=context, alert=AlertWhen.NEVER)
    page = client_for(world).get("/trends", params={"target": "aegis", "period": "7d"}).text
    assert "<option selected>aegis</option>" in page
    assert "data-metric='aegis.backup.duration_s'" in page
    assert re.findall(r"data-value='([^']+)'", page) == ["95.0"]
    hidden = client_for(world, readable=lambda dag_id: dag_id != "backup")
    assert "aegis.backup.duration_s" not in hidden.get("/trends", params={"target": "aegis", "period": "7d"}).text
