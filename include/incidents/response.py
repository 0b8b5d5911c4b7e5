"""The steps of the ``incident`` DAG as plain functions: open, page, acknowledge, resolve, close.

The DAG (``dags/incident.py``) is wiring; everything it does to the catalog, the notifiers and the
artifact store is here, testable without a scheduler.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from include.incidents import postmortem
from include.incidents.levels import LEVELS, classify
from include.incidents.oncall import Page, escalation_path
from include.incidents.store import IncidentStore, signature

log = logging.getLogger(__name__)

#: The war-room checklist of the seed (2.3): roles, the first 15 minutes, then every 15 minutes, after.
WAR_ROOM = (
    "Incident Commander assigned",
    "Technical Lead assigned",
    "Communications assigned",
    "Scribe assigned",
    "Impact scoped",
    "Immediate mitigation applied",
    "Stakeholders informed",
    "Timeline recording started",
    "Status update every 15 minutes",
    "Customer notice sent",
    "Rollback option reviewed",
    "Service normal again",
    "Monitoring strengthened",
    "RCA meeting scheduled",
    "First report written",
)
#: Troubleshooting runbooks by the alert's ``runbook`` annotation (or alert name): what to run first.
RUNBOOKS = {
    "server-down": "Check the host and service (daily_health_check on the target); restart through planned_update.",
    "high-error-rate": "Read the log_source check's error signatures; compare with the knowledge base below.",
    "memory": "Trigger troubleshoot_memory (top consumers, growth since the last metrics; restart after approval).",
    "low-disk-space": "weekly_maintenance logs concern (rotation); the host check lists mount points.",
    "high-cpu": "Trigger troubleshoot_high_cpu (top processes, pods by usage, autoscaler; scale after approval).",
    "slow-queries": "Trigger troubleshoot_slow_queries (long statements; cancel after an approval naming them).",
}


def runbook_for(labels: dict[str, str], annotations: dict[str, str]) -> dict[str, str]:
    key = annotations.get("runbook") or labels.get("alertname", "")
    return {"name": key, "steps": RUNBOOKS.get(key, "No runbook for this alert yet: add one to RUNBOOKS.")}


class AlreadyHandled(Exception):
    """Another run of the incident DAG handles this incident (pages, escalates, closes it): this run stops."""


def open_incident(store: IncidentStore, settings, conf: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The incident of this run: the one the webhook opened (``conf.incident_id``), else opened (or joined)
    from the form's labels. Returns what the later tasks need: id, level, the escalation path, the runbook
    and what the knowledge base knows about the signature. :class:`AlreadyHandled` when another run handles the
    incident already (two triggers for one alert)."""
    if conf.get("incident_id"):
        incident = store.get(int(conf["incident_id"]))
    else:
        labels = {str(k): str(v) for k, v in (conf.get("labels") or {}).items()}
        if not labels.get("alertname"):
            raise ValueError("labels.alertname is required (the form's 'labels' field)")
        title = (conf.get("annotations") or {}).get("summary") or labels["alertname"]
        incident_id, _ = store.open_or_join(labels, title, classify(labels, settings).name, actor="form")
        incident = store.get(incident_id)
    handler = store.attach_run(incident["id"], run_id)
    if handler != run_id:  # a second run for one alert: the first pages and escalates, this one only joined it
        raise AlreadyHandled(
            f"INC-{incident['id']} ({incident['title']}) is already handled by run {handler}: this trigger joined it"
            f" (alert count {store.get(incident['id'])['alerts']}); nobody is paged twice. Once INC-{incident['id']}"
            " is resolved, the next alert opens a new incident."
        )
    path = escalation_path(settings, incident["opened_at"])
    annotations = conf.get("annotations") or {}
    known = store.known_fixes(signatures_of(incident["labels"], annotations), excluding=incident["id"])
    level = LEVELS[incident["level"]]
    log.info(
        "INC-%s %s (%s, respond %s): %s", incident["id"], level.name, level.title, level.response, incident["title"]
    )
    for k in known:
        log.info("seen before: INC-%s: %s — fix: %s", k["incident_id"], k["summary"], k["fix"])
    return {
        "id": incident["id"],
        "level": level.name,
        "title": incident["title"],
        "war_room": level.war_room,
        "opened_at": incident["opened_at"].isoformat(),
        "path": [vars(p) for p in path],
        "runbook": runbook_for(incident["labels"], annotations),
        "annotations": annotations,
        "known": [{"incident_id": k["incident_id"], "summary": k["summary"], "fix": k["fix"]} for k in known],
    }


def signatures_of(labels: dict[str, str], annotations: dict[str, str]) -> list[str]:
    """What the knowledge base is keyed by: the alert name, the full signature, an error signature if any."""
    sigs = [f"alert:{labels.get('alertname', '?')}", signature(labels)]
    if annotations.get("error_signature"):
        sigs.append(f"error:{annotations['error_signature']}")
    return sigs


def page(
    store: IncidentStore,
    alerting: dict[str, Any],
    incident: dict[str, Any],
    step: Page,
    ack_url: str | None = None,
    context: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Page ``step.person`` through the notifiers (e-mail to them when known) and put it on the timeline."""
    from include.alerting import send_alert

    subject = (
        f"[Aegis {incident['level']}] INC-{incident['id']}: {incident['title']} — page {step.level} ({step.contact})"
    )
    text = (
        f"{step.person}, you are paged as {step.contact} for INC-{incident['id']} ({incident['level']}).\n"
        f"Acknowledge in Airflow: {ack_url or 'the incident run, task page_' + str(step.level)}\n"
        f"Runbook: {incident['runbook']['steps']}\n"
    )
    channels = {**alerting, "email_to": step.email} if step.email and alerting.get("smtp_conn_id") else alerting
    outcome = send_alert(channels, subject, text, f"<pre>{text}</pre>", context=context)
    store.event(incident["id"], "page", f"paged {step.person} ({step.contact}, step {step.level})", actor=step.person)
    return outcome


def close(
    store: IncidentStore,
    inventory,
    incident_id: int,
    fix: str,
    troubleshooting: str = "",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Write the post-mortem into the artifact store, link it from the incident, teach the knowledge base
    (keyed by :func:`signatures_of`: the alert's ``error_signature`` annotation too, when it has one)."""
    from include.artifacts import artifact_folder

    incident = store.get(incident_id)
    sigs = signatures_of(incident["labels"], annotations or {})
    known = store.known_fixes(sigs, excluding=incident_id)
    text = postmortem.render(incident, store.timeline(incident_id), known, troubleshooting)
    folder = artifact_folder(inventory, "postmortems", f"INC-{incident_id}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "postmortem.md"
    path.write_text(text)
    store.set_postmortem(incident_id, str(path))
    took = postmortem.duration_text(incident["opened_at"], incident["resolved_at"])
    summary = f"{incident['title']} ({incident['level']}, {took})"
    for sig in sigs:
        store.learn(incident_id, sig, summary, fix or "not recorded")
    log.info("post-mortem of INC-%s written: %s", incident_id, path)
    return {
        "postmortem": str(path),
        "incident": {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in incident.items()},
    }


def now() -> datetime:
    return datetime.now(UTC)


def record_action(inventory, incident_id: int | None, detail: str, actor: str | None) -> None:
    """Put a troubleshooting action (what was done, approved by whom) on an incident's timeline, when the
    troubleshooting run was started for one (the post-mortem lists it)."""
    if not incident_id:
        return
    from include.catalog import Catalog

    IncidentStore(Catalog.for_inventory(inventory)).event(int(incident_id), "action", detail, actor=actor)
