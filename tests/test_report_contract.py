"""The run contract (``Report``), its templates and the one publish tail every DAG ends with."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from airflow.sdk.exceptions import AirflowFailException

from include import publish as tail
from include.checks.base import CheckResult
from include.inventory import load_inventory
from include.publish import AlertWhen, publish, run_failure
from include.rendering import render_html, render_json, render_markdown
from include.report import Outcome, Report, Section, Verdict
from tests.helpers import write_inventory

END = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
EVIL = "<script>alert('x')</script>"


def row(target: str, status: str = "ok", message: str | None = None, **fields) -> dict:
    findings = [{"level": status, "message": message}] if message else []
    return {
        "target": target,
        "kind": "redis",
        "status": status,
        "findings": findings,
        "metrics": {"redis.memory_pct": 42.0},
        "details": {},
        "duration_s": 0.5,
        **fields,
    }


def sample(**fields) -> Report:
    rows = [row("cache", concern="redis"), row(f"db{EVIL}", "critical", f"disk {EVIL} full", concern="postgres")]
    return Report.build(
        "weekly_maintenance",
        f"Weekly {EVIL}",
        "run-1",
        END - timedelta(days=7),
        END,
        rows,
        sections=[Section("Database optimisation", ["postgres"]), Section("Cache", ["redis"])],
        mode="dry run",
        extra={"dry_run": True},
        **fields,
    )


@pytest.fixture
def inventory(tmp_path):
    path = write_inventory(
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        targets:
          - {name: box, kind: host}
    """,
    )
    return load_inventory(path)


def test_a_report_round_trips_through_json_as_xcom_carries_it():
    report = sample(outcome="rolled-back", alert_subject="[Aegis] subject")
    data = json.loads(json.dumps(report.to_dict()))
    back = Report.from_dict(data)
    assert back == report
    assert back.outcome is Outcome.ROLLED_BACK and back.verdict is Verdict.CRITICAL
    assert isinstance(back.rows[0], CheckResult) and back.rows[1].concern == "postgres"
    assert data["summary"]["status"] == "critical" and data["dry_run"] is True and data["outcome"] == "rolled-back"
    assert data["interval"] == ["2026-11-23T09:00:00+00:00", "2026-11-30T09:00:00+00:00"]


def test_a_row_without_a_concern_keeps_the_shape_of_a_check_result():
    assert "concern" not in CheckResult("t", "host").to_dict()
    assert CheckResult("t", "host", concern="logs").to_dict()["concern"] == "logs"


def test_an_unknown_outcome_or_a_clashing_extra_key_is_refused():
    with pytest.raises(ValueError, match="'exploded'"):
        sample(outcome="exploded")
    with pytest.raises(ValueError, match="clash"):
        Report.build("r", "t", "run", END, END, [], extra={"summary": 1}).to_dict()


def test_html_escapes_what_targets_and_messages_say_markdown_and_json_keep_it():
    report = sample()
    page = render_html(report)
    assert EVIL not in page and "<script>" not in page
    assert "db&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "disk &lt;script&gt;" in page and "<title>Weekly &lt;script&gt;" in page
    md = render_markdown(report)
    assert f"- **critical** `db{EVIL}`: disk {EVIL} full" in md
    assert "## Database optimisation" in md and "Mode: dry run" in md
    assert json.loads(render_json(report))["results"][1]["target"] == f"db{EVIL}"


def test_publish_writes_records_and_alerts_when_not_healthy(inventory, monkeypatch):
    sent = []
    monkeypatch.setattr(
        "include.alerting.send_alert",
        lambda alerting, subject, text, html, context=None: sent.append((subject, text, html)) or {"log": "logged"},
    )
    written = publish(sample(), inventory, record_metrics=True)
    assert sorted(written) == ["html", "json", "md"]
    assert json.loads(Path(written["json"].removeprefix("file://")).read_text())["run_id"] == "run-1"
    [(subject, text, html)] = sent
    assert subject == "[Aegis] weekly_maintenance: CRITICAL (1 reason(s))"
    assert f"Full report: {written['html']}" in text and "&lt;script&gt;" in html
    engine = sa.create_engine(f"sqlite:///{inventory.catalog_path}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("select status, run_id from aegis_check_runs")).all() == [("critical", "run-1")]
        assert conn.execute(sa.text("select count(*) from aegis_metrics")).scalar() == 2


def test_who_is_told_and_what_the_catalog_keeps_follow_the_call(inventory, monkeypatch):
    sent = []
    monkeypatch.setattr("include.alerting.send_alert", lambda *a, **k: sent.append(a[1]) or {})
    healthy = Report.build("backup", "Backup", "run-2", END, END, [row("cache")])
    publish(healthy, inventory)  # UNHEALTHY by default: a healthy run is not news
    publish(sample(), inventory, alert=AlertWhen.NEVER)  # the form switched alerts off
    assert sent == []
    publish(
        Report.build(
            "planned_update",
            "U",
            "run-3",
            END,
            END,
            [row("cache")],
            outcome="promoted",
            alert_subject="[Aegis] planned update: PROMOTED — x",
        ),
        inventory,
        alert=AlertWhen.ALWAYS,
    )
    assert sent == ["[Aegis] planned update: PROMOTED — x"]
    engine = sa.create_engine(f"sqlite:///{inventory.catalog_path}")
    with engine.connect() as conn:
        runs = dict(conn.execute(sa.text("select routine, status from aegis_check_runs")).all())
        assert runs == {"backup": "healthy", "weekly_maintenance": "critical", "planned_update": "promoted"}
        assert conn.execute(sa.text("select count(*) from aegis_metrics")).scalar() == 0  # none asked for


def test_a_catalog_that_fails_does_not_swallow_the_alert(inventory, monkeypatch):
    sent = []
    monkeypatch.setattr("include.alerting.send_alert", lambda *a, **k: sent.append(a[1]) or {})
    monkeypatch.setattr(tail, "record", lambda *a, **k: (_ for _ in ()).throw(OSError("catalog is down")))
    with pytest.raises(RuntimeError, match="record in the catalog: OSError: catalog is down"):
        publish(sample(), inventory)
    assert len(sent) == 1


@pytest.mark.parametrize(
    "outcome, failure",
    [
        (None, None),
        ("promoted", None),
        ("dry-run", None),
        ("restored", None),
        ("complete", None),
        ("failed", RuntimeError),
        ("rolled-back", AirflowFailException),
        ("not-run", AirflowFailException),
        ("rollback-failed", AirflowFailException),
    ],
)
def test_only_a_failing_outcome_fails_the_run_never_a_verdict(outcome, failure):
    report = sample(outcome=outcome)  # critical verdict throughout
    got = run_failure(report)
    assert (type(got) if got else None) is failure
    if got:
        assert str(got).startswith(f"weekly_maintenance {outcome}: db{EVIL}: disk")


def test_publish_raises_the_run_failure_after_the_report_is_out(inventory, tmp_path, monkeypatch):
    sent = []
    monkeypatch.setattr("include.alerting.send_alert", lambda *a, **k: sent.append(a[1]) or {})
    with pytest.raises(AirflowFailException, match="planned_update not-run"):
        publish(
            Report.build("planned_update", "U", "run-4", END, END, [row("x", "critical", "no")], outcome="not-run"),
            inventory,
            alert=AlertWhen.ALWAYS,
        )
    assert len(list((tmp_path / "artifacts" / "reports" / "planned_update").rglob("report.json"))) == 1
    assert len(sent) == 1
