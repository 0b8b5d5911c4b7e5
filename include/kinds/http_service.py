"""HTTP services: a health endpoint answers with the expected status, fast enough.

``follow_redirects`` (off by default): a redirect is reported with where it points rather than followed."""

from include.kinds.base import KindSpec

SPEC = KindSpec(
    name="http_service",
    fields={"path": (str, "/health"), "expected_status": (int, 200), "follow_redirects": (bool, False)},
    thresholds={"latency_warning_ms": 1000, "latency_critical_ms": 5000},
    check="include.checks.http_service",
    update_health=True,
)
