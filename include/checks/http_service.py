"""HTTP service check: GET a health endpoint, compare the status and grade the latency.

Also home of :func:`base_url`, the one place that turns an :class:`Endpoint`
into ``scheme://host[:port]`` for every HTTP-speaking check.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import requests

from include.checks.base import CRITICAL, CheckResult
from include.inventory import Target
from include.targets import Endpoint

HTTP_SCHEMES = ("http", "https")


def base_url(endpoint: Endpoint) -> str:
    """``scheme://host[:port]`` for ``endpoint``, without a trailing slash.

    A host that already carries a scheme (``https://svc.example``) is used as
    is, with ``endpoint.port`` added only when the host names no port. Otherwise
    the scheme is ``endpoint.schema`` when that is ``http``/``https`` (Airflow's
    HTTP connection keeps it there), else ``http``.
    """
    if not endpoint.host:
        raise ValueError("the connection has no host")
    host = endpoint.host.strip().rstrip("/")
    if "://" in host:
        parts = urlsplit(host)
        if endpoint.port and parts.port is None:
            host = parts._replace(netloc=f"{parts.netloc}:{endpoint.port}").geturl()
        return host
    scheme = (endpoint.schema or "").lower()
    scheme = scheme if scheme in HTTP_SCHEMES else "http"
    return f"{scheme}://{host}{f':{endpoint.port}' if endpoint.port else ''}"


def basic_auth(endpoint: Endpoint) -> tuple[str, str] | None:
    """HTTP basic credentials when the connection has both login and password."""
    if endpoint.login and endpoint.password:
        return endpoint.login, endpoint.password
    return None


def request_timeout(target: Target) -> float:
    """Network timeout: a little under the target's budget so the driver, not the backstop, fires first."""
    return max(0.1, target.timeout_seconds * 0.9)


def join_url(base: str, path: str) -> str:
    """``base`` + ``path`` with exactly one slash between them."""
    return f"{base.rstrip('/')}/{path.lstrip('/')}"


def check(target: Target, endpoint: Endpoint, window=None) -> CheckResult:
    """GET ``options.path``; critical on an unexpected status, latency graded by thresholds.

    Connection errors and timeouts raise, so the run reports ``unreachable``.
    """
    result = CheckResult(target.name, target.kind)
    url = join_url(base_url(endpoint), target.options.get("path", "/health"))
    expected = int(target.options.get("expected_status", 200))

    started = time.monotonic()
    response = requests.get(url, timeout=request_timeout(target), auth=basic_auth(endpoint))
    latency_ms = round((time.monotonic() - started) * 1000, 1)

    result.metrics["http.status"] = float(response.status_code)
    result.details.update(url=url, status=response.status_code, expected_status=expected,
                          latency_ms=latency_ms, reason=response.reason)
    if response.status_code != expected:
        result.add(CRITICAL, f"GET {url} answered {response.status_code} {response.reason or ''}".rstrip()
                   + f"; expected {expected}")
    result.grade("http.latency_ms", latency_ms,
                 target.thresholds.get("latency_warning_ms"), target.thresholds.get("latency_critical_ms"),
                 f"GET {url} took {{value:g}} ms (warning at {{warning:g}} ms, critical at {{critical:g}} ms)")
    return result
