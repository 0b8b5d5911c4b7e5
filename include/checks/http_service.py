"""HTTP service check: GET a health endpoint, compare the status and grade the latency.

The request goes through :mod:`include.clients.http` (URL, credentials, TLS, timeout). A redirect is not
followed unless the target's ``follow_redirects`` is on: the check judges the URL it was given, and a 3xx
it did not expect is reported with where it points. Followed, the details name every hop and the final URL.
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

    follow = bool(target.options.get("follow_redirects", False))

    started = time.monotonic()
    response = http.request(endpoint, "GET", path, timeout_s=request_timeout(target), follow_redirects=follow)
    latency_ms = round((time.monotonic() - started) * 1000, 1)
    location = http.redirect_location(response)

    result.metrics["http.status"] = float(response.status_code)
    result.details.update(
        url=shown, status=response.status_code, expected_status=expected, latency_ms=latency_ms, reason=response.reason
    )
    if location is not None:
        result.details["redirect_to"] = redact.url(location)
    if response.history:  # followed (follow_redirects): every hop, and where the answer came from
        result.details["redirects"] = [
            {"status": r.status_code, "to": redact.url(http.redirect_location(r) or "")} for r in response.history
        ]
        result.details["final_url"] = redact.url(response.url)
    if response.status_code != expected:
        answered = f"GET {shown} answered {response.status_code} {response.reason or ''}".rstrip()
        if location is not None:
            answered += f", a redirect to {redact.url(location)} (not followed: follow_redirects is off)"
        elif response.history:
            answered += f" at {redact.url(response.url)} after {len(response.history)} redirect(s)"
        result.add(CRITICAL, f"{answered}; expected {expected}")
    result.grade(
        "http.latency_ms",
        latency_ms,
        target.thresholds.get("latency_warning_ms"),
        target.thresholds.get("latency_critical_ms"),
        f"GET {shown} took {{value:g}} ms (warning at {{warning:g}} ms, critical at {{critical:g}} ms)",
    )
    return result
