"""The operator's morning, in a real browser: headless Chromium (Debian's ``chromium`` + ``chromium-driver``,
driven by Selenium) against ``airflow standalone`` (one start for the module), as a person would click.

Log in; the DAG list shows the Aegis DAGs and no import error; trigger the daily check from its form by
picking a target from the list; open the Aegis console from the navigation and see the target's tile take the
run's verdict; open the report and go back; follow a backup set's restore link into the pre-filled form and
submit it (a dry-run restore of that set is queued as the logged-in user);
see the run's data point on the trends page. Screenshots are saved (``AEGIS_TEST_ARTIFACTS``, default
``.aegis/test-artifacts/browser``; with ``AEGIS_README_SCREENSHOTS=1`` also the README tour's in
``docs/screenshots/``), and the browser's console must show no error.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from include.catalog import Catalog
from tests.airflow_server import AirflowServer
from tests.helpers import REPO, write_inventory

pytestmark = [pytest.mark.fullstack, pytest.mark.browser]

DAG_ID = "daily_health_check"
AEGIS_DAGS = {"daily_health_check", "weekly_maintenance", "backup", "verify_backups", "restore", "planned_update"}
PG, LOGS = "ui-pg", "ui-logs"
SET_ID = "ui-pg-20261130T170000Z"
#: an older set, verified by a verify_backups run (the Backups page links to that run)
VERIFIED_SET, VERIFY_RUN = "ui-pg-20261129T170000Z", "scheduled__2026-11-29T18:00:00+00:00"
ARTIFACTS = Path(os.environ.get("AEGIS_TEST_ARTIFACTS", REPO / ".aegis" / "test-artifacts")) / "browser"
README_SHOTS = REPO / "docs" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An inventory (PostgreSQL with backups, a log file with two recent errors) and a catalog holding one
    backup set of the PostgreSQL target, recorded as the backup DAG records it. Its files are not needed:
    the test opens the restore form for it, it never submits it."""
    tmp = tmp_path_factory.mktemp("console")
    now = datetime.now(UTC)
    (tmp / "logs").mkdir()
    (tmp / "logs" / "app.log").write_text(
        "".join(
            f"{now - timedelta(minutes=m):%Y-%m-%dT%H:%M:%S} ERROR payment batch failed (batch {m})\n" for m in (90, 30)
        )
    )
    inventory = write_inventory(
        tmp,
        f"""
        version: 1
        catalog: {{path: catalog.db}}
        artifacts: {{base: artifacts}}
        defaults: {{timeout_seconds: 10}}
        targets:
          - {{name: {PG}, kind: postgres, conn_id: ui_pg, tags: [db], backup: {{retention_days: 14}}}}
          - {{name: {LOGS}, kind: log_source, tags: [logs], paths: ["logs/*.log"]}}
    """,
    )
    catalog = Catalog(f"sqlite:///{tmp / 'catalog.db'}")
    catalog.backup_started(VERIFIED_SET, PG, "postgres", f"file://{tmp}/artifacts/backups/{PG}/{VERIFIED_SET}")
    catalog.backup_state(VERIFIED_SET, "complete", size_bytes=120_000)
    catalog.backup_state(VERIFIED_SET, "verified", run_id=VERIFY_RUN)
    catalog.backup_started(SET_ID, PG, "postgres", f"file://{tmp}/artifacts/backups/{PG}/{SET_ID}")
    catalog.backup_state(SET_ID, "complete", size_bytes=123_456)
    env = {"AEGIS_INVENTORY": str(inventory), "AIRFLOW_CONN_UI_PG": "postgresql://postgres@127.0.0.1:5432/postgres"}
    return tmp, env, catalog


@pytest.fixture(scope="module")
def airflow(world):
    tmp, env, _ = world
    server = AirflowServer(tmp / "airflow-home", extra_env=env)
    server.start()
    try:
        server.wait_healthy(timeout=240)
        server.login()
        yield server
    except BaseException:
        print(server.log_tails())
        raise
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    missing = [tool for tool in ("chromium", "chromedriver") if not shutil.which(tool)]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not installed: `./aegis install` installs chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="aegis-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Page:
    """The browser, with the waits and screenshots the test needs."""

    def __init__(self, driver, base_url: str):
        self.driver, self.base = driver, base_url
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.console_errors: list[dict] = []

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def find(self, css: str, timeout: float = 30, within=None):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        present = ec.presence_of_element_located((By.CSS_SELECTOR, css))
        return WebDriverWait(within or self.driver, timeout).until(
            present, f"no element {css!r} on {self.driver.current_url}"
        )

    def until(self, what: str, probe, timeout: float = 30):
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout, poll_frequency=0.5).until(lambda _: probe(), what)

    def text(self) -> str:
        return self.driver.find_element("tag name", "body").text

    def shot(self, name: str, readme: bool = False) -> Path:
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        if readme and os.environ.get("AEGIS_README_SCREENSHOTS") == "1":
            README_SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, README_SHOTS / f"{name}.png")
        return path

    def collect_console(self) -> None:
        self.console_errors += [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def into_console(self) -> None:
        """From anywhere in Airflow's UI: the navigation's "Aegis console" item, then into its frame."""
        self.driver.switch_to.default_content()
        self.find("a[href$='/plugin/aegis']").click()
        frame = self.find("iframe")
        self.driver.switch_to.frame(frame)
        self.find("nav.aegis")

    def console_nav(self, label: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, "nav.aegis").find_element(By.LINK_TEXT, label).click()


def login(page: Page, server: AirflowServer) -> None:
    page.open("/")
    page.find("input[name=username]").send_keys(server.username)
    page.find("input[name=password]").send_keys(server.password)
    page.find("button[type=submit]").click()
    page.until("the login to land on the home page", lambda: "/auth/login" not in page.driver.current_url)
    page.driver.get_log("browser")  # before login the UI asks /ui/config and gets 401: Airflow's own, not ours


def wait_for_parsed_dags(server: AirflowServer) -> None:
    def probe():
        dags = {d["dag_id"] for d in server.get("/api/v2/dags", params={"limit": 100})["dags"]}
        return dags >= AEGIS_DAGS

    server.wait_until("the Aegis DAGs to be parsed", probe, timeout=240, interval=3)


def trigger_from_form(page: Page, target: str) -> None:
    """The DAG page's Trigger button, the Targets pick list, the form's Trigger button."""
    from selenium.webdriver.common.by import By

    page.open(f"/dags/{DAG_ID}")
    page.until(
        "the Trigger button",
        lambda: [b for b in page.driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Trigger"],
    )[0].click()
    targets = page.find("input[role=combobox]")
    assert "Targets" in page.text() and "leave empty for every one of the 2 target(s)" in page.text()
    targets.click()
    option = page.until(
        f"option {target}",
        lambda: [o for o in page.driver.find_elements(By.CSS_SELECTOR, "[role=option]") if o.text == target],
    )
    option[0].click()
    page.shot("trigger-form", readme=True)
    page.find("[data-testid=trigger-dag-submit]").click()


def wait_for_the_run(server: AirflowServer, timeout: float = 300) -> dict:
    def probe():
        runs = server.get(f"/api/v2/dags/{DAG_ID}/dagRuns", params={"order_by": "-run_after", "limit": 1})["dag_runs"]
        return runs[0] if runs and runs[0]["state"] in {"success", "failed"} else None

    return server.wait_until("the triggered daily run to finish", probe, timeout, interval=3)


def test_an_operators_morning_in_the_browser(world, airflow, browser):
    tmp, _, catalog = world
    page = Page(browser, airflow.base_url)
    t0 = time.monotonic()

    # 1. log in; the DAG list shows the Aegis DAGs and no import error
    wait_for_parsed_dags(airflow)
    assert airflow.get("/api/v2/importErrors")["total_entries"] == 0
    login(page, airflow)
    page.open("/dags")
    page.until("the DAG list", lambda: all(dag in page.text() for dag in AEGIS_DAGS))
    assert "Import Error" not in page.text()
    page.shot("dag-list")

    # 2. before any run, the log target's tile knows nothing yet
    page.into_console()
    assert page.find(f".tile[data-target='{LOGS}']").get_attribute("data-health") == "unknown"
    page.driver.switch_to.default_content()

    # 3. trigger the daily check from its form, picking one target from the list; wait for the run
    trigger_from_form(page, LOGS)
    run = wait_for_the_run(airflow)
    assert run["state"] == "success", run
    assert run["conf"]["targets"] == [LOGS], run["conf"]
    recorded = catalog.runs(DAG_ID)[0]
    assert recorded["run_id"] == run["dag_run_id"]
    verdict = {"ok": "healthy"}.get(s := catalog.latest_target_status()[(LOGS, DAG_ID)]["status"], s)

    # 4. the console from the navigation: the tile took the run's verdict
    page.open("/dags")
    page.into_console()
    tile = page.find(f".tile[data-target='{LOGS}']")
    assert tile.get_attribute("data-health") == verdict, tile.text
    assert verdict in tile.text and "Daily health check" in tile.text
    page.shot("console-overview", readme=True)

    # 5. its report, and back
    page.console_nav("Reports")
    section = page.find(f"section[data-routine='{DAG_ID}']")
    assert run["dag_run_id"] in section.text
    page.find("a.report-link", within=section).click()
    page.find(".aegis-banner")
    assert "Aegis daily health check" in page.text() and LOGS in page.text()
    page.driver.switch_to.default_content()
    page.shot("report", readme=True)
    page.driver.switch_to.frame(page.find("iframe"))
    page.find("a.aegis-back").click()
    page.find(f"section[data-routine='{DAG_ID}']")
    assert page.driver.current_url.endswith(f"/aegis/reports?routine={DAG_ID}")

    # 6. the backups page: the set's restore link opens the console's restore form, pre-filled, dry run on
    page.console_nav("Backups")
    row = page.find(f"tr.set[data-set='{SET_ID}']")
    assert "complete" in row.text and "123.5 kB" in row.text and "not verified" in row.text
    verified = page.find(f"tr.set[data-set='{VERIFIED_SET}']")
    by = page.find("a.verified-by", within=verified)
    assert by.text == VERIFY_RUN and by.get_attribute("href").endswith(
        "/dags/verify_backups/runs/" + quote(VERIFY_RUN, safe="")
    )
    page.shot("console-backups", readme=True)
    page.find("a.restore-link", within=row).click()
    form = page.find("form#restore-form")
    assert page.find("input#set_id", within=form).get_attribute("value") == SET_ID
    assert page.find("input#target", within=form).get_attribute("value") == PG
    assert page.find("input#dry_run", within=form).is_selected(), "the restore form opens as a dry run"
    page.driver.switch_to.default_content()
    page.shot("restore-form", readme=True)
    # submitted as it opened: a dry-run restore of that set is triggered as the logged-in user (REST API)
    page.driver.switch_to.frame(page.find("iframe"))
    page.find("button[type=submit]", within=page.find("form#restore-form")).click()
    result = page.find("#restore-result")
    page.until("the restore form's answer", lambda: result.text not in ("", "triggering…"))
    assert result.text.startswith("queued: "), result.text
    restores = airflow.get("/api/v2/dags/restore/dagRuns", params={"limit": 10})["dag_runs"]
    [queued] = [r for r in restores if r["dag_run_id"] == result.text.removeprefix("queued: ")]
    assert queued["conf"] == {"target": PG, "set_id": SET_ID, "dry_run": True, "confirm": ""}, queued["conf"]
    page.driver.switch_to.default_content()

    # 7. the trends page: a chart with the run's data point
    page.open("/dags")
    page.into_console()
    page.console_nav("Trends")
    page.find("select[name=target]")
    page.open(f"/aegis/trends?target={quote(LOGS)}&period=7d")
    errors = [v for (t, m, _), v in _metric_rows(catalog, LOGS, "logs.errors")]
    assert errors, "the run recorded no logs.errors metric"
    chart = page.find("figure[data-metric='logs.errors']")
    points = chart.find_elements("css selector", "circle.point")
    assert [float(p.get_attribute("data-value")) for p in points] == errors
    page.shot("console-trends", readme=True)

    page.collect_console()
    assert not page.console_errors, json.dumps(page.console_errors, indent=1)
    print(f"\nbrowser: the operator's morning took {time.monotonic() - t0:.0f} s after Airflow was up")


def _metric_rows(catalog: Catalog, target: str, metric: str):
    since = datetime.now(UTC) - timedelta(days=7)
    return [
        ((r["target"], r["metric"], r["interval_end"]), r["value"])
        for r in catalog.metrics_since(since, target)
        if r["metric"] == metric
    ]
