"""End to end with real processes: Prometheus scrapes a small exporter the test takes down, the seed's
ServerDown rule fires, the real Alertmanager posts to the Aegis webhook in a real Airflow, the incident DAG
opens a P2, pages the primary, escalates to the secondary when the window passes, stops escalating when
the secondary acknowledges through Airflow's HITL API, resolves when the exporter is back, and writes a
post-mortem whose timeline matches the run."""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.airflow_server import AirflowServer
from tests.helpers import REPO, write_inventory
from tests.servers.alertmanager import Alertmanager
from tests.servers.prometheus import Exporter, Prometheus

pytestmark = pytest.mark.fullstack
DAG_ID = "incident"
TOKEN = secrets.token_urlsafe(16)


class Pager:
    """A real HTTP receiver standing in for the paging webhook: records every page the notifiers send."""

    def __init__(self):
        self.pages: list[dict] = []
        pager = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                pager.pages.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def seed_rules_fast(tmp_path):
    """The seed's rule file with its 30 s evaluation and 1 m ``for`` shortened, so the test takes seconds."""
    text = (REPO / "deploy" / "prometheus" / "seed.rules.yml").read_text()
    path = tmp_path / "seed.rules.yml"
    path.write_text(text.replace("interval: 30s", "interval: 1s").replace("for: 1m", "for: 2s"))
    return path


@pytest.fixture
def stack(tmp_path, request):
    pager, exporter = Pager(), Exporter()
    exporter.set("game_players_online", 42)
    inventory = write_inventory(
        tmp_path,
        """
        catalog: {path: catalog.db}
        artifacts: {base: artifacts}
        alerting: {webhook_conn_id: pager}
        targets:
          - {name: game-cache, kind: redis, conn_id: unused_cache, backup: {enabled: false}}
        oncall:
          rotation: [{primary: alice, secondary: bob}]
          team_lead: tina
          head: henry
        incidents:
          escalation: [{after_minutes: 0, contact: primary}, {after_minutes: 0.25, contact: secondary},
                       {after_minutes: 10, contact: team_lead}, {after_minutes: 20, contact: head}]
          resolution_poll_seconds: 2
    """,
    )
    server = AirflowServer(
        tmp_path / "airflow-home",
        extra_env={
            "AEGIS_INVENTORY": str(inventory),
            "AIRFLOW_CONN_PAGER": f"http://127.0.0.1:{pager.port}",
            "AIRFLOW_CONN_AEGIS_ALERT_WEBHOOK": json.dumps({"conn_type": "generic", "password": TOKEN}),
            "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "2",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,alice:admin,bob:admin",
        },
    )
    passwords = {"admin": server.password, "alice": secrets.token_urlsafe(12), "bob": secrets.token_urlsafe(12)}
    (server.home / "passwords.json").write_text(json.dumps(passwords))
    alertmanager = Alertmanager(
        tmp_path / "alertmanager",
        {
            "route": {
                "receiver": "aegis",
                "group_by": ["alertname", "instance"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "aegis",
                    "webhook_configs": [
                        {
                            "url": f"{server.base_url}/aegis-incidents/alerts",
                            "send_resolved": True,
                            "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}},
                        }
                    ],
                }
            ],
        },
    )
    prometheus = Prometheus(
        tmp_path / "prometheus",
        [exporter.address],
        [seed_rules_fast(tmp_path)],
        alertmanager_url=alertmanager.url,
        job="game-server",
    )
    failed_before = request.session.testsfailed
    server.start()
    alertmanager.start()
    prometheus.start()
    try:
        yield {
            "server": server,
            "exporter": exporter,
            "pager": pager,
            "passwords": passwords,
            "catalog": tmp_path / "catalog.db",
            "prometheus": prometheus,
            "alertmanager": alertmanager,
        }
    finally:
        if request.session.testsfailed > failed_before:
            print(server.log_tails())
            print(alertmanager.process.log_tail(), prometheus.process.log_tail())
        prometheus.stop()
        alertmanager.stop()
        server.stop()
        exporter.close()
        pager.server.shutdown()


def task_states(server, run_id) -> dict[str, str]:
    tis = server.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances", params={"limit": 100})[
        "task_instances"
    ]
    return {ti["task_id"]: ti["state"] for ti in tis}


def incidents(catalog) -> list[dict]:
    with sqlite3.connect(catalog) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("select * from aegis_incidents order by id")]


def test_alert_to_incident_escalation_acknowledgement_resolution_postmortem(stack):
    server, exporter = stack["server"], stack["exporter"]
    server.wait_healthy(timeout=240)  # and warms up the execution API
    server.login()
    server.wait_until(
        "the incident DAG", lambda: server.client.get(f"/api/v2/dags/{DAG_ID}").status_code == 200, 240, interval=2
    )
    server.patch(f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    # the plugin refuses a wrong credential and opens nothing
    refused = httpx.post(
        f"{server.base_url}/aegis-incidents/alerts",
        json={"version": "4", "alerts": []},
        headers={"Authorization": "Bearer wrong"},
        timeout=10,
    )
    assert refused.status_code == 403, refused.text
    unknown = {
        "version": "4",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": {"alertname": "ServerDown", "severity": "apocalyptic"}}],
    }
    bad = httpx.post(
        f"{server.base_url}/aegis-incidents/alerts",
        json=unknown,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert bad.status_code == 422 and "severity 'apocalyptic'" in bad.json()["detail"], bad.text
    assert server.get(f"/api/v2/dags/{DAG_ID}/dagRuns")["dag_runs"] == []  # opened nothing

    exporter.healthy = False  # the game server goes down: up == 0 from the next scrape
    went_down = time.time()
    runs = server.wait_until(
        "an incident run", lambda: server.get(f"/api/v2/dags/{DAG_ID}/dagRuns")["dag_runs"], 120, interval=1
    )
    assert len(runs) == 1
    run_id = runs[0]["dag_run_id"]
    [incident] = incidents(stack["catalog"])
    assert incident["level"] == "P2" and incident["alertname"] == "ServerDown" and incident["dag_run_id"] == run_id

    # nobody answers the primary: after the 15 s window the secondary is paged
    # (a loaded machine can delay a task start by a minute: a retry; the windows are short, the waits long)
    server.wait_until(
        "page_2 awaiting bob", lambda: task_states(server, run_id).get("page_2") == "awaiting_input", 420, interval=2
    )
    states = task_states(server, run_id)
    assert states["page_1"] == "success", states
    paged = [p["subject"] for p in stack["pager"].pages if "— page" in p["subject"]]
    assert len(paged) == 2 and "page 1 (primary)" in paged[0] and "page 2 (secondary)" in paged[1], paged

    # bob acknowledges through Airflow's HITL API (as himself: the request is assigned to him)
    bob = httpx.Client(base_url=server.base_url, timeout=30)
    token = bob.post("/auth/token", json={"username": "bob", "password": stack["passwords"]["bob"]}).json()
    bob.headers["Authorization"] = f"Bearer {token['access_token']}"
    acked = bob.patch(
        f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/page_2/-1/hitlDetails",
        json={"chosen_options": ["Acknowledge"]},
    )
    acked_at = time.time()
    assert acked.status_code == 200, acked.text
    server.wait_until("escalation to stop", lambda: task_states(server, run_id).get("page_3") == "skipped", 240)
    assert task_states(server, run_id).get("page_4") == "skipped"
    assert incidents(stack["catalog"])[0]["acknowledged_by"] == "bob"
    # P2: the war room's commander ticks the first steps of the checklist
    assert task_states(server, run_id)["war_room_checklist"] == "awaiting_input"
    ticked = bob.patch(
        f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/war_room_checklist/-1/hitlDetails",
        json={"chosen_options": ["Incident Commander assigned", "Impact scoped"]},
    )
    assert ticked.status_code == 200, ticked.text

    time.sleep(3)
    exporter.healthy = True  # back: the alert resolves, Alertmanager says so, the incident closes
    came_back = time.time()
    run = server.wait_until(
        "the run to finish",
        lambda: (lambda r: r if r["state"] in ("success", "failed") else None)(
            server.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}")
        ),
        420,
        interval=2,
    )
    states = task_states(server, run_id)
    assert run["state"] == "success", states
    [closed] = incidents(stack["catalog"])
    assert closed["state"] == "resolved" and closed["resolved_by"] == "alertmanager", closed
    assert len(stack["pager"].pages) == 3  # two pages, then the incident report

    text = Path(closed["postmortem_uri"].removeprefix("file://")).read_text()
    timeline = [line for line in text.splitlines() if line.startswith("- ") and ":" in line[2:10]]
    kinds = [line.split(" - ", 1)[1].split(":")[0] for line in timeline]
    assert kinds == ["opened", "page", "escalation", "page", "acknowledged", "step", "step", "resolved"], text
    assert "alice" in timeline[1] and "bob" in timeline[3] and "(bob)" in timeline[4]
    assert "Incident Commander assigned" in text and "Impact scoped" in text
    with sqlite3.connect(stack["catalog"]) as conn:
        at = dict(
            conn.execute(
                "select kind, at from aegis_incident_events where kind in ('opened', 'acknowledged', 'resolved')"
            )
        )

    def epoch(value: str) -> float:
        """A catalog timestamp (UTC; SQLite hands it back without an offset) as seconds since the epoch."""
        parsed = datetime.fromisoformat(value)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()

    assert went_down <= epoch(at["opened"]) <= went_down + 60
    assert abs(epoch(at["acknowledged"]) - acked_at) < 10
    assert came_back <= epoch(at["resolved"]) <= came_back + 60
