"""Each routine's outcome as StatsD metrics from the publish tail: sent to Airflow's StatsD address when it is on,
nothing when it is off."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from include.publish import export_metrics, routine_metrics
from include.report import Outcome, Report


def report(rows, outcome=None) -> Report:
    end = datetime(2026, 3, 1, tzinfo=UTC)
    return Report.build(
        "backup",
        "t",
        "run-1",
        end - timedelta(days=1),
        end,
        rows,
        expected=[r["target"] for r in rows],
        outcome=outcome,
    )


ROWS = [
    {"target": "a", "kind": "postgres", "status": "ok", "findings": []},
    {"target": "b", "kind": "redis", "status": "critical", "findings": [{"level": "critical", "message": "down"}]},
    {"target": "c", "kind": "redis", "status": "warning", "findings": [{"level": "warning", "message": "slow"}]},
]


def test_outcome_as_metrics():
    values = routine_metrics(report(ROWS), 12.5)
    assert values == {
        "aegis.backup.verdict": ("g", 2.0),
        "aegis.backup.targets_failed": ("g", 1.0),
        "aegis.backup.failed": ("g", 0.0),
        "aegis.backup.duration": ("ms", 12500.0),
    }
    healthy = routine_metrics(report(ROWS[:1]), None)
    assert healthy["aegis.backup.verdict"] == ("g", 0.0) and "aegis.backup.duration" not in healthy
    assert routine_metrics(report(ROWS, Outcome.FAILED), None)["aegis.backup.failed"] == ("g", 1.0)


def test_sent_to_statsd_when_on_and_not_when_off(monkeypatch):
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(5)
    started = datetime.now(UTC) - timedelta(seconds=3)
    context = {"dag_run": SimpleNamespace(start_date=started)}
    try:
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "False")
        assert export_metrics(report(ROWS), context) == {}
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(listener.getsockname()[1]))
        sent = export_metrics(report(ROWS), context)
        lines = listener.recv(65535).decode().splitlines()
    finally:
        listener.close()
    assert sent["aegis.backup.duration"][1] >= 3000
    assert "aegis.backup.verdict:2|g" in lines and "aegis.backup.targets_failed:1|g" in lines
    assert any(line.startswith("aegis.backup.duration:") and line.endswith("|ms") for line in lines)
