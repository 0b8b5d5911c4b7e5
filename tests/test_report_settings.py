"""Every report shows the settings its run ran with: the trigger form's values and the inventory's overrides."""

import json
from datetime import UTC, datetime

from tests.helpers import load_dag, use_inventory, write_inventory

LOGICAL = datetime(2026, 7, 8, 0, 0, tzinfo=UTC)


def test_a_daily_report_shows_the_form_values_and_the_inventory_overrides(airflow_db, tmp_path, monkeypatch):
    use_inventory(
        monkeypatch,
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        defaults: {fail_run_on: never, lock_wait_s: 45, thresholds: {host: {memory_warning_pct: 95}}}
        targets:
          - {name: box, kind: host, mounts: ["/"], timeout_seconds: 7, thresholds: {disk_critical_pct: 97}}
    """,
    )
    dag = load_dag("daily_health_check")

    run = dag.test(logical_date=LOGICAL, run_conf={"thresholds": {"disk_warning_pct": 70}, "alert": False})

    assert run.state == "success"
    [folder] = {p.parent for p in (tmp_path / "artifacts" / "reports").rglob("report.json")}
    report = json.loads((folder / "report.json").read_text())
    settings = report["settings"]
    assert settings["form"]["thresholds"] == {"disk_warning_pct": 70}
    assert settings["form"]["alert"] is False
    assert settings["inventory"] == {
        "fail_run_on": "never",
        "lock_wait_s": 45.0,
        "timeout_seconds": 10.0,  # the built-in default, shown as what the run ran with
        "targets": {
            "box": {"thresholds": {"memory_warning_pct": 95.0, "disk_critical_pct": 97.0}, "timeout_seconds": 7.0}
        },
    }
    for name in ("report.md", "report.html"):
        text = (folder / name).read_text()
        assert (
            "form thresholds: {&#34;disk_warning_pct&#34;: 70}" in text
            if name.endswith("html")
            else 'form thresholds: {"disk_warning_pct": 70}' in text
        )
        assert "inventory fail_run_on: never" in text and "inventory lock_wait_s: 45" in text
        assert "disk_critical_pct" in text and "memory_warning_pct" in text


def test_weekly_and_backup_settings_that_differ_from_the_defaults_are_shown(tmp_path):
    from include.inventory import load_inventory
    from include.publish import run_settings
    from include.report import Report

    inventory = load_inventory(
        write_inventory(
            tmp_path,
            """
        targets:
          - {name: pg, kind: postgres, conn_id: x, backup: {keep_last: 3}, weekly: {enabled: false}}
          - {name: plain, kind: postgres, conn_id: y}
          - name: maria
            kind: mysql
            conn_id: z
            backup: {apply_retention: true}
            weekly: {apply: [partitions, purge]}
    """,
        )
    )
    rows = [
        {"target": t, "kind": "postgres", "status": "ok", "findings": [], "metrics": {}, "details": {}, "duration_s": 0}
        for t in ("pg", "plain", "maria")
    ]
    report = Report.build("weekly_maintenance", "t", "r", LOGICAL, LOGICAL, rows)

    settings = run_settings(report, inventory, {"dry_run": True, "concerns": ["postgres"]})

    assert settings["form"] == {"dry_run": True, "concerns": ["postgres"]}
    assert settings["inventory"]["targets"] == {
        "pg": {"backup": {"keep_last": 3}, "weekly": {"enabled": False}},
        "maria": {"backup": {"apply_retention": True}, "weekly": {"apply": ["partitions", "purge"]}},
    }
    assert settings["inventory"]["lock_wait_s"] == 900.0  # the default wait for a busy target, shown too
    restored = Report.from_dict({**report.to_dict(), "settings": settings})
    assert restored.settings == settings
    from include.rendering import settings_lines

    lines = settings_lines(restored)
    assert "inventory lock_wait_s: 900" in lines
    assert (
        'inventory maria: {"backup": {"apply_retention": true}, "weekly": {"apply": ["partitions", "purge"]}}' in lines
    )
