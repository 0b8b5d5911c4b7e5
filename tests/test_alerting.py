"""Alerts go out through the real Airflow notifiers to a local HTTP receiver; with no channel, they are logged."""

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from include.alerting import send_alert


@pytest.fixture
def receiver():
    """A local HTTP server that records what is POSTed to it (stands in for Slack / a webhook endpoint)."""
    got = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], got
    server.shutdown()


def test_webhook_and_slack_notifiers_deliver(receiver, monkeypatch):
    port, got = receiver
    monkeypatch.setenv("AIRFLOW_CONN_T_HOOK", f"http://127.0.0.1:{port}/")
    monkeypatch.setenv(
        "AIRFLOW_CONN_T_SLACK",
        json.dumps(
            {"conn_type": "slackwebhook", "host": f"http://127.0.0.1:{port}", "password": "/services/T0/B0/XYZ"}
        ),
    )
    outcome = send_alert(
        {"webhook_conn_id": "t_hook", "slack_webhook_conn_id": "t_slack"},
        "[Aegis] CRITICAL",
        "pg-down unreachable",
        "<p>pg-down</p>",
    )
    assert outcome == {"slack": "sent", "webhook": "sent"}
    bodies = [body for _, body in got]
    assert {"subject": "[Aegis] CRITICAL", "text": "pg-down unreachable"} in bodies
    assert any("pg-down unreachable" in b.get("text", "") and "*[Aegis] CRITICAL*" in b.get("text", "") for b in bodies)


def test_no_channel_only_logs(caplog):
    with caplog.at_level(logging.WARNING):
        assert send_alert({}, "[Aegis] WARNING", "disk at 80%", "") == {"log": "logged"}
    assert "disk at 80%" in caplog.text


def test_every_channel_failing_raises(monkeypatch):
    from tests.helpers import free_port

    monkeypatch.setenv("AIRFLOW_CONN_T_DEAD", f"http://127.0.0.1:{free_port()}/")
    with pytest.raises(RuntimeError, match="every alert channel failed"):
        send_alert({"webhook_conn_id": "t_dead"}, "s", "t", "h")
