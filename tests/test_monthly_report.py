"""The monthly report put together: a failed section is a critical reason (the report still comes out), the
notification leads with the headline, the HTML escapes what targets say and draws a chart per forecast resource."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from include.monthly.audit import build_report
from include.monthly.capacity import resource
from include.publish import alert_text
from include.rendering import render_html, render_markdown

START, END = datetime(2026, 5, 31, 20, 0, tzinfo=UTC), datetime(2026, 6, 30, 20, 0, tzinfo=UTC)


def sections() -> list[dict | None]:
    points = [((END - timedelta(days=40 - d)).timestamp(), 50.0 + d) for d in range(40)]
    disk = resource("box", "host.disk_pct[/]", points, {"warning": 75.0, "critical": 85.0}, END)
    capacity_row = {
        "target": "box",
        "kind": "host",
        "status": disk["level"],
        "concern": "capacity",
        "findings": [{"level": disk["level"], "message": disk["headline"]}],
        "metrics": {},
        "details": {"resources": [disk]},
        "duration_s": 0.0,
    }
    rule = {
        "id": "redis.login_without_password",
        "severity": "critical",
        "message": "<script>alert(1)</script> open",
        "evidence": "accepted",
        "fix": "set requirepass",
        "state": "new",
        "first_seen": "x",
        "open_days": 0,
    }
    security_row = {
        "target": "cache",
        "kind": "redis",
        "status": "critical",
        "concern": "security",
        "findings": [{"level": "critical", "message": rule["message"]}],
        "metrics": {},
        "details": {"rules": [rule]},
        "duration_s": 0.0,
    }
    return [
        {"section": "capacity", "rows": [capacity_row], "facts": {}},
        {
            "section": "security",
            "rows": [security_row],
            "facts": {"previous_audit": None, "counts": {"new": 1, "still_open": 0, "resolved": 0}, "resolved": []},
        },
        None,  # the backups task failed
        {"section": "updates", "skipped": True},
    ]


def test_failed_section_headline_and_rendering():
    selection = {"targets": ["box", "cache"], "sections": ["capacity", "security", "backups"]}
    report = build_report(selection, sections(), "manual__1", START, END)
    assert report.title == "Aegis monthly audit 2026-06"  # named by the month's middle, not its UTC start
    assert report.verdict == "critical" and report.summary.targets == 2
    assert report.summary.reasons[0].message == "the backups section failed (see its task log)"
    assert report.extra["audit"]["failed_sections"] == ["backups"]
    headline = report.extra["audit"]["headline"]
    assert headline[0].startswith("1 resource(s) cross a threshold within 90 days: box host.disk_pct[/]")
    assert headline[1] == "security: 1 new, 0 still open, 0 resolved"
    subject, text, _ = alert_text(report, {"html": "file:///r/report.html"})
    assert subject.startswith("[Aegis] monthly audit 2026-06: CRITICAL — 1 resource(s) cross")
    assert text.index(headline[0]) < text.index("## Capacity")
    html = render_html(report)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert html.count("<svg") == 1 and "Update plan" not in html
    assert "the backups section failed" in html and "the backups section failed" in render_markdown(report)


def test_bad_audit_settings_name_the_field():
    import pytest

    from include.inventory import InventoryError, parse_inventory

    host = [{"name": "box", "kind": "host"}]
    for audit, field in (
        ({"objectives": {"rpo_hours": -1}}, "audit.objectives.rpo_hours"),
        ({"target_objectives": {"box": {"rto": 5}}}, "audit.target_objectives.box.rto"),
        ({"kernel_baseline": ["vm.swappiness"]}, "audit.kernel_baseline"),
        ({"airflow_target": 3}, "audit.airflow_target"),
        ({"sysctl": "/proc/sys"}, "audit.sysctl"),
    ):
        with pytest.raises(InventoryError) as caught:
            parse_inventory({"targets": host, "audit": audit})
        assert caught.value.field == field
    assert parse_inventory({"targets": host}).audit["objectives"] == {"rpo_hours": 48, "rto_minutes": 60}
