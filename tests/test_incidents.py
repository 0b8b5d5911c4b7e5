"""Incident response without a scheduler: settings, classification, on-call, the catalog store, the
Alertmanager webhook (a real FastAPI app, real catalog) and the post-mortem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from fastapi.testclient import TestClient

from include.catalog import Catalog, current_revision, head_revision
from include.incidents import response
from include.incidents.levels import UnknownSeverity, classify
from include.incidents.oncall import escalation_path, on_call
from include.incidents.settings import SettingsError, parse
from include.incidents.store import IncidentStore
from include.incidents.webhook import build_app
from include.inventory import InventoryError, parse_inventory

TARGETS = [{"name": "cache", "kind": "redis", "conn_id": "c"}]
ONCALL = {
    "rotation": [
        {"primary": "alice", "secondary": "bob"},
        {"primary": "bob", "secondary": "charlie"},
        {"primary": "charlie", "secondary": "alice"},
    ],
    "overrides": [{"start": "2026-12-24T00:00:00+00:00", "end": "2026-12-27T00:00:00+00:00", "primary": "dora"}],
    "team_lead": "tina",
    "head": "henry",
    "people": {"bob": {"email": "bob@example.com"}},
}
RULES = {"rules": [{"match": {"alertname": "ServerDown", "env": "prod"}, "level": "P1"}]}
TOKEN = "s3cret-webhook-token"


def settings(**incidents):
    return parse(ONCALL, {**RULES, **incidents})


@pytest.fixture
def store(tmp_path):
    return IncidentStore(Catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))


# ---------------------------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    ("oncall", "incidents", "field"),
    [
        ({"rotation": [{"primary": "a"}]}, {}, "oncall.rotation[0]"),
        (
            {"overrides": [{"start": "2026-01-02T00:00:00+00:00", "end": "2026-01-01T00:00:00+00:00"}]},
            {},
            "oncall.overrides[0]",
        ),
        ({}, {"escalation": [{"after_minutes": 0, "contact": "boss"}]}, "incidents.escalation[0].contact"),
        (
            {},
            {"escalation": [{"after_minutes": 15, "contact": "primary"}, {"after_minutes": 0, "contact": "head"}]},
            "incidents.escalation",
        ),
        ({}, {"rules": [{"match": {"alertname": "X"}, "level": "P9"}]}, "incidents.rules[0].level"),
        ({}, {"severities": {"fatal": "P0"}}, "incidents.severities.fatal"),
        ({"pager": "x"}, {}, "oncall.pager"),
    ],
)
def test_bad_settings_name_the_field(oncall, incidents, field):
    with pytest.raises(SettingsError) as err:
        parse(oncall, incidents)
    assert err.value.where == field


def test_inventory_refuses_bad_oncall_naming_the_field():
    with pytest.raises(InventoryError, match="incidents.escalation\\[0\\].contact"):
        parse_inventory({"targets": TARGETS, "incidents": {"escalation": [{"after_minutes": 0, "contact": "boss"}]}})
    inv = parse_inventory({"targets": TARGETS, "oncall": ONCALL})
    assert inv.incidents.team_lead == "tina"


# ---------------------------------------------------------------------------------------- levels
def test_classification_rule_then_priority_then_severity():
    s = settings()
    assert classify({"alertname": "ServerDown", "env": "prod", "severity": "warning"}, s).name == "P1"
    assert classify({"alertname": "ServerDown", "env": "dev", "severity": "critical"}, s).name == "P2"
    assert classify({"alertname": "X", "priority": "p3", "severity": "critical"}, s).name == "P3"
    assert classify({"alertname": "X", "severity": "Warning"}, s).name == "P3"
    assert classify({"alertname": "X", "severity": "info"}, s).name == "P4"
    with pytest.raises(UnknownSeverity, match="'bogus'"):
        classify({"alertname": "X", "severity": "bogus"}, s)


# ---------------------------------------------------------------------------------------- on-call
def test_rotation_follows_iso_weeks_and_overrides():
    s = settings()
    # 2026-01-01 is in ISO week 1, 2026-01-08 in week 2, 2026-01-15 in week 3, 2026-01-22 week 4 → first again
    assert on_call(s, datetime(2026, 1, 1, 12, tzinfo=UTC)) == {"primary": "alice", "secondary": "bob"}
    assert on_call(s, datetime(2026, 1, 8, 12, tzinfo=UTC)) == {"primary": "bob", "secondary": "charlie"}
    assert on_call(s, datetime(2026, 1, 22, 12, tzinfo=UTC))["primary"] == "alice"
    christmas = datetime(2026, 12, 25, 12, tzinfo=UTC)  # week 52: (52 - 1) % 3 → the first entry, overridden
    assert on_call(s, christmas) == {"primary": "dora", "secondary": "bob"}
    assert on_call(s, christmas + timedelta(days=2))["primary"] == "alice"  # the override ends


def test_escalation_path_follows_the_seed():
    path = escalation_path(settings(), datetime(2026, 1, 8, 12, tzinfo=UTC))
    assert [(p.after_minutes, p.contact, p.person) for p in path] == [
        (0, "primary", "bob"),
        (15, "secondary", "charlie"),
        (30, "team_lead", "tina"),
        (60, "head", "henry"),
    ]
    assert path[0].email == "bob@example.com" and path[1].email is None


# ---------------------------------------------------------------------------------------- store
def test_catalog_upgrades_to_the_incident_tables(tmp_path):
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    assert current_revision(catalog.engine) == head_revision()  # 0003_incidents and every later revision


def test_repeats_join_the_open_incident_and_a_resolved_one_is_not_rejoined(store):
    labels = {"alertname": "ServerDown", "instance": "gs-1:8080", "severity": "critical"}
    first, created = store.open_or_join(labels, "gs-1 down", "P2")
    again, created_again = store.open_or_join({**labels, "severity": "critical"}, "gs-1 down", "P2")
    assert created and not created_again and first == again
    assert store.get(first)["alerts"] == 2
    other, created_other = store.open_or_join({**labels, "instance": "gs-2:8080"}, "gs-2 down", "P2")
    assert created_other and other != first
    assert store.resolve(first, "alertmanager", "alert resolved") and not store.resolve(first, "x", "twice")
    reopened, created_new = store.open_or_join(labels, "gs-1 down", "P2")
    assert created_new and reopened not in (first, other)
    assert [e["kind"] for e in store.timeline(first)] == ["opened", "alert", "resolved"]


# ---------------------------------------------------------------------------------------- webhook
def payload(*alerts, status="firing"):
    return {
        "version": "4",
        "groupKey": '{}:{alertname="ServerDown"}',
        "status": status,
        "receiver": "aegis",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://am",
        "truncatedAlerts": 0,
        "alerts": list(alerts),
    }


def am_alert(status="firing", **labels):
    return {
        "status": status,
        "labels": {"alertname": "ServerDown", "instance": "gs-1:8080", "severity": "critical", **labels},
        "annotations": {"summary": "Game server gs-1:8080 is down", "runbook": "server-down"},
        "startsAt": "2026-12-01T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "abc",
    }


@pytest.fixture
def webhook(store):
    triggered = []

    def trigger(incident_id, conf):
        triggered.append(conf)
        return f"run-{incident_id}"

    app = build_app(lambda: settings(), lambda: store, trigger, lambda: TOKEN)
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {TOKEN}"
    return client, triggered


def test_firing_alert_opens_a_p2_and_triggers_the_dag_once(webhook, store):
    client, triggered = webhook
    response_ = client.post("/alerts", json=payload(am_alert()))
    assert response_.status_code == 200, response_.text
    [opened] = response_.json()["alerts"]
    assert opened["action"] == "opened" and opened["level"] == "P2"
    assert opened["dag_run_id"] == f"run-{opened['incident']}"
    assert triggered == [
        {
            "incident_id": opened["incident"],
            "labels": am_alert()["labels"],
            "annotations": am_alert()["annotations"],
            "level": "P2",
        }
    ]
    # every key the webhook sends is a param of the incident DAG, or its first task refuses the run
    from airflow.dag_processing.dagbag import DagBag

    from tests.helpers import REPO

    incident_dag = DagBag(dag_folder=str(REPO / "dags" / "incident.py")).dags["incident"]
    assert set(triggered[0]) <= set(incident_dag.params)
    # Alertmanager repeats the group, now with a second alert of the same problem: no second incident
    again = client.post("/alerts", json=payload(am_alert(), am_alert(pod="x"))).json()["alerts"]
    assert [a["action"] for a in again] == ["updated", "updated"] and len(triggered) == 1
    assert store.get(opened["incident"])["alerts"] == 3
    resolved = client.post("/alerts", json=payload(am_alert("resolved"), status="resolved")).json()["alerts"]
    assert resolved == [{"incident": opened["incident"], "action": "resolved"}]
    assert store.get(opened["incident"])["state"] == "resolved"


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (payload(am_alert(severity="bogus")), 422, "severity 'bogus'"),
        (payload({**am_alert(), "labels": {"severity": "critical"}}), 422, "alerts[0].labels.alertname is missing"),
        (payload(am_alert(), {**am_alert(), "labels": {}}), 422, "alerts[1].labels.alertname is missing"),
        ({**payload(am_alert()), "version": "3"}, 422, "payload version '3'"),
        (payload(), 422, "'alerts' must be a non-empty list"),
        ([1, 2], 422, "JSON object"),
    ],
)
def test_bad_payloads_are_refused_and_open_nothing(webhook, store, body, status, reason):
    client, triggered = webhook
    answer = client.post("/alerts", json=body)
    assert answer.status_code == status and reason in answer.json()["detail"], answer.text
    assert triggered == [] and store.open_incident(am_alert()["labels"]) is None


def test_wrong_or_missing_credential_is_refused(webhook, store):
    client, triggered = webhook
    assert client.post("/alerts", json=payload(am_alert()), headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.post("/alerts", json=payload(am_alert()), headers={"Authorization": ""}).status_code == 401
    assert triggered == [] and store.open_incident(am_alert()["labels"]) is None


# ---------------------------------------------------------------------------------------- post-mortem
def test_postmortem_timeline_and_knowledge_base(store, tmp_path):
    inventory = parse_inventory(
        {"targets": TARGETS, "oncall": ONCALL, "artifacts": {"base": str(tmp_path / "art")}},
        tmp_path / "inventory.yaml",
    )
    labels = am_alert()["labels"]
    t0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    with time_machine.travel(t0, tick=False):
        opened = response.open_incident(store, inventory.incidents, {"labels": labels, "annotations": {}}, "run-1")
    assert opened["level"] == "P2" and opened["war_room"] and opened["known"] == []
    store.event(opened["id"], "page", "paged alice (primary, step 1)", "alice", at=t0 + timedelta(seconds=5))
    store.event(opened["id"], "escalation", "step 1 (alice): no acknowledgement in time", at=t0 + timedelta(minutes=15))
    store.acknowledge(opened["id"], "bob", at=t0 + timedelta(minutes=17))
    store.resolve(opened["id"], "alertmanager", "alert resolved", at=t0 + timedelta(minutes=45))
    closed = response.close(store, inventory, opened["id"], "restarted the game server")
    text = (tmp_path / "art" / "postmortems" / f"INC-{opened['id']}" / "postmortem.md").read_text()
    assert closed["postmortem"].endswith("postmortem.md") and store.get(opened["id"])["postmortem_uri"]
    assert "**Duration**: 45 minutes" in text and "**Acknowledged by**: bob after 17 minutes" in text
    lines = [line for line in text.splitlines() if line.startswith("- 10:")]
    assert [line.split(" - ")[1].split(":")[0] for line in lines] == [
        "opened",
        "page",
        "escalation",
        "acknowledged",
        "resolved",
    ]
    assert lines[0].startswith("- 10:00:00") and lines[3].startswith("- 10:17:00") and lines[4].startswith("- 10:45:00")
    # the next incident with the same alert shows what fixed the last one
    nxt = response.open_incident(store, inventory.incidents, {"labels": labels}, "run-2")
    assert nxt["id"] != opened["id"]
    assert {k["fix"] for k in nxt["known"]} == {"restarted the game server"}
    assert all(k["incident_id"] == opened["id"] for k in nxt["known"])


def test_a_second_run_for_the_same_alert_joins_the_incident_and_pages_nobody(store, tmp_path):
    """Two triggers of the incident DAG for one alert (two form runs, or a form run beside the webhook's): one
    incident, handled by the first run; the second stops with the reason; a retry of the first goes on."""
    inventory = parse_inventory({"targets": TARGETS, "oncall": ONCALL}, tmp_path / "inventory.yaml")
    labels = am_alert()["labels"]
    first = response.open_incident(store, inventory.incidents, {"labels": labels}, "manual__a")
    with pytest.raises(response.AlreadyHandled, match=rf"INC-{first['id']} .* already handled by run manual__a"):
        response.open_incident(store, inventory.incidents, {"labels": labels}, "manual__b")
    with pytest.raises(response.AlreadyHandled, match="manual__a"):  # by the incident id (the webhook's conf)
        response.open_incident(store, inventory.incidents, {"incident_id": first["id"]}, "manual__c")
    again = response.open_incident(store, inventory.incidents, {"labels": labels}, "manual__a")  # a retry
    assert again["id"] == first["id"]
    incident = store.get(first["id"])
    assert incident["dag_run_id"] == "manual__a" and incident["alerts"] == 3
    store.resolve(first["id"], "alertmanager", "alert resolved")
    nxt = response.open_incident(store, inventory.incidents, {"labels": labels}, "manual__b")
    assert nxt["id"] != first["id"] and store.get(nxt["id"])["dag_run_id"] == "manual__b"


# ---------------------------------------------------------------------------------------- Aegis's own metrics
def _reasons(*pairs):
    return {"status": "critical", "reasons": [{"target": t, "level": lvl, "message": "m"} for t, lvl in pairs]}


def test_routine_metrics_for_the_aegis_rules(tmp_path, store):
    import shutil
    import subprocess

    from include.incidents.metrics import render

    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    day = datetime(2026, 12, 1, tzinfo=UTC)
    with time_machine.travel(day, tick=False):
        catalog.record_check_run("backup", day, "r0", "complete", None, {}, [])
    for i, pairs in enumerate(
        [
            [("db-1", "critical"), ("db-2", "critical")],  # oldest
            [("db-1", "critical"), ("db-2", "warning")],
            [("db-1", "unreachable")],
        ]
    ):  # newest
        with time_machine.travel(day + timedelta(days=i + 1), tick=False):
            catalog.record_check_run(
                "daily_health_check", day + timedelta(days=i + 1), f"r{i}", "critical", None, _reasons(*pairs), []
            )
    with time_machine.travel(day + timedelta(days=5), tick=False):
        catalog.record_check_run("backup", day + timedelta(days=5), "r9", "failed", None, {}, [])
    catalog.backup_started("s1", "pg", "postgres", "file:///x")
    catalog.backup_state("s1", "verified")
    text = render(catalog)
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert float(values['aegis_routine_last_success_timestamp_seconds{routine="backup"}']) == day.timestamp()
    assert (
        float(values['aegis_routine_last_success_timestamp_seconds{routine="daily_health_check"}'])
        == (day + timedelta(days=3)).timestamp()
    )
    assert values['aegis_target_consecutive_critical_checks{target="db-1"}'] == "3"
    assert values['aegis_target_consecutive_critical_checks{target="db-2"}'] == "0"
    assert 'aegis_backup_newest_verified_timestamp_seconds{target="pg"}' in values
    if shutil.which("promtool"):
        lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
        assert "error" not in (lint.stdout + lint.stderr).lower(), lint.stdout + lint.stderr


def test_troubleshooting_actions_go_on_the_incident_timeline(store, tmp_path):
    inventory = parse_inventory(
        {"targets": TARGETS, "catalog": {"path": str(tmp_path / "catalog.db")}}, tmp_path / "inventory.yaml"
    )
    incident_id, _ = store.open_or_join(am_alert()["labels"], "down", "P2")
    response.record_action(inventory, incident_id, "cancelled postgres session 42: select pg_sleep(?)", "bob")
    response.record_action(inventory, None, "not for an incident", "bob")  # nothing recorded, no error
    assert [(e["kind"], e["actor"], e["detail"]) for e in store.timeline(incident_id)][1:] == [
        ("action", "bob", "cancelled postgres session 42: select pg_sleep(?)")
    ]


def test_metrics_endpoint_needs_the_credential(store):
    app = build_app(lambda: settings(), lambda: store, lambda *a: "run", lambda: TOKEN, lambda: "aegis_x 1\n")
    client = TestClient(app)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 403
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and answer.text == "aegis_x 1\n"
