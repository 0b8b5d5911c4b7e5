"""HTTP service and Alertmanager checks against real local HTTP servers."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from include.checks import alertmanager, http_service, run_check
from include.clients.http import base_url
from include.inventory import parse_inventory
from include.targets import Endpoint
from tests.servers.alertmanager import alert as posted_alert


def make_target(kind: str, timeout: float = 5, **fields):
    return parse_inventory(
        {"targets": [{"name": "svc", "kind": kind, "conn_id": "x", "timeout_seconds": timeout, **fields}]}
    ).targets[0]


def serve(handler_class) -> tuple[ThreadingHTTPServer, Endpoint]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, Endpoint(host="127.0.0.1", port=server.server_address[1])


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def reply(self, status: int, body: bytes, content_type: str = "application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ServiceHandler(QuietHandler):
    """A small service: /health is fine, /broken answers 503, /slow takes 300 ms, /moved redirects (302) to
    /health, /login redirects (301) to a login page with a token in its query."""

    REDIRECTS = {"/moved": (302, "/health"), "/login": (301, "/sso?next=/&token=s3cret-tok")}

    def do_GET(self):
        if self.path == "/health":
            self.reply(200, b'{"status":"UP"}')
        elif self.path == "/broken":
            self.reply(503, b'{"status":"DOWN"}')
        elif self.path == "/slow":
            time.sleep(0.3)
            self.reply(200, b'{"status":"UP"}')
        elif self.path in self.REDIRECTS:
            status, to = self.REDIRECTS[self.path]
            self.send_response(status)
            self.send_header("Location", to)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.reply(404, b"{}")


@pytest.fixture(scope="module")
def service():
    server, endpoint = serve(ServiceHandler)
    yield endpoint
    server.shutdown()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ http_service
def test_healthy_endpoint_is_ok(service):
    result = http_service.check(make_target("http_service"), service, None)
    assert result.status == "ok", result.findings
    assert result.metrics["http.status"] == 200
    assert 0 < result.metrics["http.latency_ms"] < 1000
    assert result.details["url"] == f"http://127.0.0.1:{service.port}/health"


def test_wrong_status_is_critical_naming_expected_and_got(service):
    result = http_service.check(make_target("http_service", path="/broken"), service, None)
    assert result.status == "critical"
    assert result.metrics["http.status"] == 503
    assert "503" in result.findings[0].message and "expected 200" in result.findings[0].message


def test_expected_status_option_is_honoured(service):
    result = http_service.check(make_target("http_service", path="/broken", expected_status=503), service, None)
    assert result.status == "ok"


def test_slow_endpoint_is_graded_by_latency_thresholds(service):
    target = make_target(
        "http_service", path="/slow", thresholds={"latency_warning_ms": 100, "latency_critical_ms": 2000}
    )
    result = http_service.check(target, service, None)
    assert result.status == "warning"
    assert result.metrics["http.latency_ms"] >= 300
    assert "took" in result.findings[0].message and "warning at 100 ms" in result.findings[0].message

    critical = http_service.check(target.with_thresholds({"latency_critical_ms": 200}), service, None)
    assert critical.status == "critical"


def test_endpoint_slower_than_timeout_is_unreachable(service):
    result = run_check(make_target("http_service", timeout=0.15, path="/slow"), service, None)
    assert result.status == "unreachable"
    # requests' own timeout (90 % of the budget) normally fires; the run_bounded backstop may win under load
    assert "Timeout" in result.findings[0].message or "no answer within" in result.findings[0].message


def test_closed_port_is_unreachable_without_leaking_the_password():
    endpoint = Endpoint(host="127.0.0.1", port=closed_port(), login="ops", password="pw-s3cret")
    started = time.monotonic()
    result = run_check(make_target("http_service", timeout=2), endpoint, None)
    assert result.status == "unreachable"
    assert "ConnectionError" in result.findings[0].message
    assert time.monotonic() - started < 3
    assert "pw-s3cret" not in repr(result.to_dict())


def test_a_redirect_is_reported_with_where_it_points_not_followed(service):
    base = f"http://127.0.0.1:{service.port}"
    result = http_service.check(make_target("http_service", path="/moved"), service, None)
    assert result.status == "critical"
    assert result.metrics["http.status"] == 302  # the answer of the URL asked, not of /health
    assert result.details["redirect_to"] == f"{base}/health"
    assert [f.message for f in result.findings] == [
        f"GET {base}/moved answered 302 Found, a redirect to {base}/health (not followed: follow_redirects is off);"
        " expected 200"
    ]


def test_a_redirect_target_is_reported_without_its_secrets(service):
    result = http_service.check(make_target("http_service", path="/login"), service, None)
    assert result.status == "critical" and result.metrics["http.status"] == 301
    assert "s3cret-tok" not in json.dumps(result.to_dict())
    assert result.details["redirect_to"].startswith(f"http://127.0.0.1:{service.port}/sso?next=")


def test_an_expected_redirect_is_ok_and_still_says_where_it_points(service):
    result = http_service.check(make_target("http_service", path="/moved", expected_status=302), service, None)
    assert result.status == "ok", result.findings
    assert result.details["redirect_to"] == f"http://127.0.0.1:{service.port}/health"


def test_follow_redirects_judges_where_it_leads_and_names_the_hops(service):
    base = f"http://127.0.0.1:{service.port}"
    result = http_service.check(make_target("http_service", path="/moved", follow_redirects=True), service, None)
    assert result.status == "ok", result.findings
    assert result.metrics["http.status"] == 200
    assert result.details["final_url"] == f"{base}/health"
    assert result.details["redirects"] == [{"status": 302, "to": f"{base}/health"}]
    assert "redirect_to" not in result.details


def test_follow_redirects_must_be_true_or_false_and_ints_stay_ints():
    from include.inventory import InventoryError

    assert make_target("http_service").options["follow_redirects"] is False
    with pytest.raises(InventoryError, match=r"follow_redirects.*must be bool, got 'yes'"):
        make_target("http_service", follow_redirects="yes")
    with pytest.raises(InventoryError, match=r"expected_status.*must be int, got True"):
        make_target("http_service", expected_status=True)


def test_an_api_call_answered_by_a_redirect_is_an_error_naming_it(service):
    import requests

    from include.clients import http

    response = http.request(service, "GET", "/login", timeout_s=5)
    with pytest.raises(requests.HTTPError, match=r"^301 redirect from .*/login to .*/sso\?next=") as raised:
        http.raise_for_status(response)
    assert "s3cret-tok" not in str(raised.value)
    http.raise_for_status(http.request(service, "GET", "/health", timeout_s=5))  # a 200 passes


@pytest.mark.parametrize(
    "endpoint, expected",
    [
        (Endpoint(host="svc.internal"), "http://svc.internal"),
        (Endpoint(host="svc.internal", port=8080), "http://svc.internal:8080"),
        (Endpoint(host="svc.internal", port=8443, schema="https"), "https://svc.internal:8443"),
        (Endpoint(host="svc.internal", schema="appdb"), "http://svc.internal"),
        (Endpoint(host="https://svc.example/", port=None), "https://svc.example"),
        (Endpoint(host="https://svc.example", port=9443), "https://svc.example:9443"),
        (Endpoint(host="https://svc.example:8443", port=9443), "https://svc.example:8443"),
    ],
)
def test_base_url(endpoint, expected):
    assert base_url(endpoint) == expected


# ------------------------------------------------------------------ alertmanager (a real, private one)
def am_alert(name: str, severity: str | None, summary: str = "") -> dict:
    """An alert as Prometheus posts it to Alertmanager (instance db-1:9100, job node)."""
    posted = posted_alert(name, severity, instance="db-1:9100", job="node")
    posted["annotations"]["summary"] = summary or f"{name} on db-1"
    return posted


def am_endpoint(server) -> Endpoint:
    return Endpoint(host="127.0.0.1", port=server.port)


def wait_for_alerts(server, count: int, timeout_s: float = 10) -> None:
    """Alertmanager lists a posted alert (and applies silences/inhibitions) after a moment."""
    deadline = time.monotonic() + timeout_s
    while len(server.alerts()) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(server.alerts()) >= count, server.alerts()


def test_no_firing_alerts_is_ok(fresh_alertmanager):
    server = fresh_alertmanager
    server.post_alerts(am_alert("Silenced", "critical"))
    server.silence([{"name": "alertname", "value": "Silenced", "isRegex": False, "isEqual": True}])
    wait_for_alerts(server, 1)
    result = alertmanager.check(make_target("alertmanager"), am_endpoint(server), None)
    assert result.status == "ok", result.findings
    assert result.metrics == {"alertmanager.active": 0, "alertmanager.critical": 0}


def test_warning_alert_only_is_a_warning(fresh_alertmanager):
    server = fresh_alertmanager
    server.post_alerts(am_alert("DiskFilling", "warning"), am_alert("NoSeverity", None))
    wait_for_alerts(server, 2)
    result = alertmanager.check(make_target("alertmanager"), am_endpoint(server), None)
    assert result.status == "warning"
    assert result.metrics["alertmanager.active"] == 2
    assert result.metrics["alertmanager.critical"] == 0
    assert result.details["by_severity"] == {"none": 1, "warning": 1}
    assert "DiskFilling" in result.findings[0].message and "NoSeverity" in result.findings[0].message


def test_critical_and_page_alerts_are_critical(fresh_alertmanager):
    server = fresh_alertmanager
    down = am_alert("InstanceDown", "critical", summary="db-1 is down")
    server.post_alerts(
        down,
        am_alert("PagerTest", "page"),
        am_alert("DiskFilling", "warning"),
        am_alert("InhibitingAlert", "info"),
        am_alert("Inhibited", "critical"),
    )
    wait_for_alerts(server, 5)
    result = alertmanager.check(make_target("alertmanager"), am_endpoint(server), None)
    assert result.status == "critical"
    assert result.metrics == {"alertmanager.active": 4, "alertmanager.critical": 2}
    levels = {f.level: f.message for f in result.findings}
    assert "InstanceDown" in levels["critical"] and "PagerTest" in levels["critical"]
    assert "Inhibited" not in levels["critical"]
    assert "DiskFilling" in levels["warning"]
    listed = {a["alertname"]: a for a in result.details["alerts"]}
    assert listed["InstanceDown"]["severity"] == "critical"
    assert listed["InstanceDown"]["summary"] == "db-1 is down"
    assert listed["InstanceDown"]["startsAt"][:19] == down["startsAt"][:19]


def test_alert_details_are_capped_at_twenty(fresh_alertmanager):
    server = fresh_alertmanager
    server.post_alerts(*[am_alert(f"Alert{i}", "info") for i in range(25)])
    wait_for_alerts(server, 25)
    result = alertmanager.check(make_target("alertmanager"), am_endpoint(server), None)
    assert result.metrics["alertmanager.active"] == 25
    assert len(result.details["alerts"]) == 20
    json.dumps(result.to_dict())  # serialisable


def test_alertmanager_on_closed_port_is_unreachable():
    result = run_check(make_target("alertmanager", timeout=2), Endpoint(host="127.0.0.1", port=closed_port()), None)
    assert result.status == "unreachable"
