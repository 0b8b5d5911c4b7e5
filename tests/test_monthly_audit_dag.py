"""dag.test() of the monthly audit for two past months (a backfill) against states created for real:
a PostgreSQL login role whose password never expires, a private Redis without a password (given one between
the two months: resolved), a kernel value off its baseline (fixture path), a disk whose history crosses its
warning threshold at a known date, a host whose history is too short, file backups (one stale, one whose
restore test fails). Two reports come out; the second counts new / resolved / still-open findings right.
The HTML report opens in headless Chromium with its charts drawn (screenshot kept as a test artifact)."""

from __future__ import annotations

import json
import random
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import redis
import time_machine
from psycopg import sql

from include.backup.runner import backup_target, sets_folder
from include.catalog import Catalog
from include.inventory import load_inventory
from include.targets import Endpoint
from tests.helpers import REPO, load_dag, write_inventory

APRIL = datetime(2026, 4, 1, 5, 0, tzinfo=UTC)
MAY = datetime(2026, 5, 1, 5, 0, tzinfo=UTC)
JUNE = datetime(2026, 6, 1, 5, 0, tzinfo=UTC)
HISTORY_START = MAY - timedelta(days=60)
#: disk grows 0.5 points a day from 40 %: 75 % (warning) 70 days after HISTORY_START, 10 days after April's audit
KNOWN_CROSSING = HISTORY_START + timedelta(days=70)
ARTIFACTS = REPO / ".aegis" / "test-artifacts"


@pytest.fixture
def world(tmp_path, monkeypatch, pg_database, redis_server):
    suffix = uuid.uuid4().hex[:8]
    role = f"aegis_monthly_{suffix}"
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as c:
        c.execute(sql.SQL("create role {} login password {}").format(sql.Identifier(role), sql.Literal("pw-" + suffix)))
    sysctl = tmp_path / "sys"
    (sysctl / "net" / "core").mkdir(parents=True)
    (sysctl / "net" / "core" / "somaxconn").write_text("4096\n")
    for name in ("docs", "old", "broken"):
        (tmp_path / "data" / name).mkdir(parents=True)
        (tmp_path / "data" / name / "a.txt").write_text(name * 50)
    path = write_inventory(
        tmp_path,
        f"""
        catalog: {{path: catalog.db}}
        artifacts: {{base: artifacts}}
        defaults: {{timeout_seconds: 5}}
        schedules:
          monthly_audit: {{cron: "0 5 1 * *", timezone: UTC}}
        audit:
          sysctl_root: {sysctl}
          kernel_baseline: {{net.core.somaxconn: 65535}}
          nofile_min: 1
          objectives: {{rpo_hours: 48, rto_minutes: 30}}
        targets:
          - {{name: pg, kind: postgres, conn_id: m_pg, backup: {{enabled: false}}}}
          - {{name: cache, kind: redis, conn_id: m_cache, backup: {{enabled: false}}}}
          - {{name: box, kind: host, mounts: ["/data"]}}
          - {{name: young, kind: host}}
          - {{name: docs, kind: files, paths: ["data/docs"]}}
          - {{name: old, kind: files, paths: ["data/old"]}}
          - {{name: broken, kind: files, paths: ["data/broken"]}}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(path))
    monkeypatch.setenv("AIRFLOW_CONN_M_PG", f"postgresql://postgres@127.0.0.1:5432/{pg_database}")
    monkeypatch.setenv("AIRFLOW_CONN_M_CACHE", f"redis://127.0.0.1:{redis_server}/0")
    inventory = load_inventory(path)
    catalog = Catalog(f"sqlite:///{inventory.catalog_path}")
    noise = random.Random(3)
    for day in range(61):
        when = HISTORY_START + timedelta(days=day)
        catalog.record_check_run(
            "daily_health_check",
            when,
            f"scheduled__{when:%Y%m%d}",
            "healthy",
            None,
            {},
            [
                {
                    "target": "box",
                    "kind": "host",
                    "metrics": {"host.disk_pct[/data]": 40 + 0.5 * day + noise.gauss(0, 0.4)},
                }
            ],
        )
    for day in range(3):
        catalog.record_check_run(
            "weekly_maintenance",
            MAY - timedelta(days=day + 1),
            f"w{day}",
            "warning",
            None,
            {},
            [{"target": "young", "kind": "host", "metrics": {"host.disk_pct[/]": 50.0 + day}}],
        )
    yield {"inventory": inventory, "catalog": catalog, "root": tmp_path, "role": role, "redis_port": redis_server}
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as c:
        c.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


def back_up(world, name: str, when: datetime) -> str:
    with time_machine.travel(when, tick=True):
        return backup_target(world["inventory"], world["inventory"].target(name), Endpoint(), when, world["catalog"])[
            "set_id"
        ]


def corrupt(world, name: str, set_id: str) -> None:
    folder = sets_folder(world["inventory"], name, set_id)
    archive = next(p for p in folder.iterdir() if p.name.startswith("files.tar.gz"))
    data = archive.read_bytes()
    archive.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])


def report_of(world, end: datetime) -> tuple[dict, Path]:
    interval = world["root"] / "artifacts" / "reports" / "monthly_audit" / end.strftime("%Y-%m-%dT%H%M%SZ")
    [folder] = [p.parent for p in interval.glob("*/report.json")]  # one folder per run id (artifacts.run_key)
    return json.loads((folder / "report.json").read_text()), folder


def rows(report: dict, concern: str) -> dict[str, dict]:
    return {r["target"]: r for r in report["results"] if r.get("concern") == concern}


def test_a_backfill_of_two_months_gives_two_reports(airflow_db, world, monkeypatch):
    back_up(world, "docs", MAY - timedelta(hours=5))
    back_up(world, "old", APRIL - timedelta(days=3))
    corrupt(world, "broken", back_up(world, "broken", MAY - timedelta(hours=3)))
    dag = load_dag("monthly_audit")

    # a data-interval schedule: the run of logical date May 1st audits April (as a backfill of April creates it)
    assert dag.test(logical_date=MAY, run_conf={"alert": False}).state == "success"
    april, april_folder = report_of(world, MAY)
    assert april["interval"] == [APRIL.isoformat(), MAY.isoformat()]
    assert {p.name for p in april_folder.iterdir()} == {"report.json", "report.md", "report.html"}

    # capacity: the crossing at a known date, within a day and inside its band; a history too short
    [disk] = rows(april, "capacity")["box"]["details"]["resources"]
    warning = disk["crossings"]["warning"]
    parse = lambda s: datetime.strptime(s, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)  # noqa: E731
    assert abs(parse(warning["expected"]) - KNOWN_CROSSING) <= timedelta(days=1)
    assert parse(warning["earliest"]) <= KNOWN_CROSSING <= parse(warning["latest"])
    [young] = rows(april, "capacity")["young"]["details"]["resources"]
    assert young["status"] == "too short"
    assert list(rows(april, "capacity"))[0] == "box"  # crossing soonest leads

    # security: the conditions created are reported with their rule ids
    security = rows(april, "security")
    assert (
        world["role"]
        in {r["id"]: r for r in security["pg"]["details"]["rules"]}["postgres.password_never_expires"]["evidence"]
    )
    assert "redis.login_without_password" in {r["id"] for r in security["cache"]["details"]["rules"]}
    assert {r["id"]: r for r in security["box"]["details"]["rules"]}["host.sysctl.net.core.somaxconn"]["evidence"] == {
        "expected": 65535,
        "actual": "4096",
    }
    assert (world["root"] / "sys" / "net" / "core" / "somaxconn").read_text() == "4096\n"  # never changed
    first = april["audit"]["sections"]["security"]["counts"]
    assert first["still_open"] == 0 and first["resolved"] == 0 and first["new"] >= 3

    # backups: stale, failed restore test, fine
    backups = rows(april, "backups")
    assert backups["docs"]["details"]["restore_test"]["state"] == "verified"
    assert not any("stale" in f["message"] or "restore test" in f["message"] for f in backups["docs"]["findings"])
    assert any("stale backup" in f["message"] for f in backups["old"]["findings"])
    assert any("restore test of the newest set" in f["message"] for f in backups["broken"]["findings"])

    # the maintenance log lists the month's runs (the seeded daily ones up to May 1st, the weekly ones)
    log = april["audit"]["sections"]["maintenance_log"]["runs"]
    assert {r["routine"] for r in log} == {"daily_health_check", "weekly_maintenance"}
    assert [r["interval_end"] for r in log] == sorted(r["interval_end"] for r in log)
    assert all("2026-04-01T05:00:00Z" <= r["interval_end"] < "2026-05-01T05:00:00Z" for r in log)
    assert sum(r["routine"] == "daily_health_check" for r in log) == 30  # April 1st .. 30th; May 1st is May's
    assert april["audit"]["headline"][0].startswith("1 resource(s) cross a threshold within 90 days")

    # between the months the Redis gets a password: its finding is resolved next month
    password = "now-locked-" + world["role"]
    redis.Redis(port=world["redis_port"]).config_set("requirepass", password)
    monkeypatch.setenv("AIRFLOW_CONN_M_CACHE", f"redis://:{password}@127.0.0.1:{world['redis_port']}/0")
    back_up(world, "docs", JUNE - timedelta(hours=5))
    conf = {"alert": False, "sections": ["security", "capacity"]}
    assert dag.test(logical_date=JUNE, run_conf=conf).state == "success"
    may, _ = report_of(world, JUNE)
    counts = may["audit"]["sections"]["security"]["counts"]
    april_rules = {(t, r["id"]) for t, row in rows(april, "security").items() for r in row["details"]["rules"]}
    may_rules = {(t, r["id"]) for t, row in rows(may, "security").items() for r in row["details"]["rules"]}
    assert counts["resolved"] == len(april_rules - may_rules) >= 1
    assert counts["still_open"] == len(april_rules & may_rules) >= 2
    assert counts["new"] == len(may_rules - april_rules)
    assert ("cache", "redis.login_without_password") in april_rules - may_rules
    assert [r["rule"] for r in may["audit"]["sections"]["security"]["resolved"]] == ["redis.login_without_password"]
    still = {r["id"]: r for r in rows(may, "security")["pg"]["details"]["rules"]}["postgres.password_never_expires"]
    assert (still["state"], still["open_days"]) == ("still open", 31)
    assert set(may["audit"]["sections"]) == {"security", "capacity"}
    assert password not in json.dumps(may)

    open_in_chromium(april_folder / "report.html")


def open_in_chromium(html: Path) -> None:
    """Open the report in headless Chromium: each chart is an <svg> drawn with a size, a screenshot is kept."""
    if shutil.which("chromedriver") is None:
        pytest.fail("chromedriver missing: ./aegis install adds chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    profile = html.parent / "chromium-profile"
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1400,2400",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.set_page_load_timeout(60)
        driver.get(html.as_uri())
        charts = driver.find_elements(By.CSS_SELECTOR, "#capacity ~ .charts .chart svg, .chart svg")
        assert charts, "no chart in the report"
        for chart in charts:
            assert chart.size["width"] > 200 and chart.size["height"] > 80
            # the history dots and the trend were drawn: the SVG holds paths with a visible box
            assert (
                driver.execute_script(
                    "return Array.from(arguments[0].querySelectorAll('path')).filter("
                    "p => p.getBBox().width > 0).length",
                    chart,
                )
                > 5
            )
        assert "Security audit" in driver.find_element(By.ID, "security").text
        driver.save_screenshot(str(ARTIFACTS / "monthly_audit_report.png"))
    finally:
        driver.quit()
    assert (ARTIFACTS / "monthly_audit_report.png").stat().st_size > 10_000
