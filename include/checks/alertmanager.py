"""Alertmanager check: what is firing right now (active, not silenced, not inhibited).

Any firing alert of severity ``critical`` or ``page`` makes the target
critical; any other firing alert makes it a warning.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from include.checks.base import CRITICAL, WARNING, CheckResult
from include.checks.http_service import request_timeout
from include.clients import alertmanager
from include.inventory import Target
from include.targets import Endpoint

FIRING_ONLY = {"active": "true", "silenced": "false", "inhibited": "false"}
CRITICAL_SEVERITIES = {"critical", "page"}
MAX_LISTED = 20


def fetch_firing_alerts(target: Target, endpoint: Endpoint) -> list[dict[str, Any]]:
    """The Alertmanager v2 alert objects that are active, unsilenced and uninhibited."""
    return alertmanager.alerts(endpoint, timeout_s=request_timeout(target), params=FIRING_ONLY)


def severity_of(alert: dict[str, Any]) -> str:
    """The alert's ``labels.severity``, lower-cased; ``none`` when it has none."""
    return str((alert.get("labels") or {}).get("severity") or "none").lower()


def alert_summary(alert: dict[str, Any]) -> dict[str, Any]:
    """The few fields a person needs to recognise an alert."""
    labels = alert.get("labels") or {}
    return {
        "alertname": labels.get("alertname", ""),
        "severity": severity_of(alert),
        "startsAt": alert.get("startsAt"),
        "summary": (alert.get("annotations") or {}).get("summary", ""),
    }


def alert_names(alerts: list[dict[str, Any]], severities: set[str]) -> list[str]:
    """Sorted distinct alert names among ``alerts`` whose severity is in ``severities``."""
    return sorted({alert_summary(a)["alertname"] for a in alerts if severity_of(a) in severities})


def check(target: Target, endpoint: Endpoint, window=None) -> CheckResult:
    """Count firing alerts by severity and grade the target by the worst of them."""
    result = CheckResult(target.name, target.kind)
    alerts = fetch_firing_alerts(target, endpoint)
    by_severity = Counter(severity_of(a) for a in alerts)
    critical = sum(n for sev, n in by_severity.items() if sev in CRITICAL_SEVERITIES)

    result.metrics["alertmanager.active"] = float(len(alerts))
    result.metrics["alertmanager.critical"] = float(critical)
    result.details["by_severity"] = dict(sorted(by_severity.items()))
    result.details["alerts"] = [alert_summary(a) for a in alerts[:MAX_LISTED]]

    if critical:
        names = alert_names(alerts, CRITICAL_SEVERITIES)
        result.add(CRITICAL, f"{critical} critical alert(s) firing: {', '.join(names)}")
    others = len(alerts) - critical
    if others:
        names = alert_names(alerts, set(by_severity) - CRITICAL_SEVERITIES)
        result.add(WARNING, f"{others} other alert(s) firing: {', '.join(names)}")
    return result
