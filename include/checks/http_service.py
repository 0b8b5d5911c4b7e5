"""HTTP service check: GET a health endpoint, compare the status and grade the latency.

The request goes through :mod:`include.clients.http` (URL, credentials, TLS, timeout).
"""

from __future__ import annotations

import time

from include import redact
from include.checks.base import CRITICAL, CheckResult
from include.clients import http
from include.inventory import Target
from include.targets import Endpoint


def request_timeout(target: Target) -> float:
    """Network timeout: a little under the target's budget so the driver, not the backstop, fires first."""
    return max(0.1, target.timeout_seconds * 0.9)


def check(target: Target, endpoint: Endpoint, window=None) -> CheckResult:
    """GET ``options.path``; critical on an unexpected status, latency graded by thresholds.

    Connection errors and timeouts raise, so the run reports ``unreachable``.
    """
    result = CheckResult(target.name, target.kind)
    path = target.options.get("path", "/health")
    url = http.join_url(http.base_url(endpoint), path)
    shown = redact.url(url)
    expected = int(target.options.get("expected_status", 200))

    started = time.monotonic()
    response = http.request(endpoint, "GET", path, timeout_s=request_timeout(target))
    latency_ms = round((time.monotonic() - started) * 1000, 1)

    result.metrics["http.status"] = float(response.status_code)
    result.details.update(
        url=shown, status=response.status_code, expected_status=expected, latency_ms=latency_ms, reason=response.reason
    )
    if response.status_code != expected:
        result.add(
            CRITICAL,
            f"GET {shown} answered {response.status_code} {response.reason or ''}".rstrip() + f"; expected {expected}",
        )
    result.grade(
        "http.latency_ms",
        latency_ms,
        target.thresholds.get("latency_warning_ms"),
        target.thresholds.get("latency_critical_ms"),
        f"GET {shown} took {{value:g}} ms (warning at {{warning:g}} ms, critical at {{critical:g}} ms)",
    )
    return result
