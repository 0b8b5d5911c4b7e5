"""Alertmanager ``webhook_config`` deliveries (payload version 4) turned into incidents.

Every alert of a delivery is checked before anything happens (:func:`parse_payload`): a payload that is not
version 4, has no alerts, an alert without ``alertname`` or whose severity classifies to no level, is refused
whole with a :class:`PayloadError` naming what is wrong, and opens nothing. Then (:func:`handle`) a firing
alert opens an incident and starts the ``incident`` DAG, or joins the open incident with its signature
(grouped alerts, repeats); a resolved alert resolves its open incident.

:func:`build_app` serves it (``POST /alerts``) behind a bearer token; ``plugins/aegis_incidents.py`` mounts it
in Airflow's API server with the token from an Airflow connection.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Body, FastAPI, Header, HTTPException

from include.incidents.levels import UnknownSeverity, classify
from include.incidents.settings import IncidentSettings
from include.incidents.store import IncidentStore

log = logging.getLogger(__name__)
#: Starts the incident DAG for a new incident: ``trigger(incident_id, conf) -> dag_run_id``.
Trigger = Callable[[int, dict[str, Any]], str]


class PayloadError(ValueError):
    """A delivery Aegis refuses (HTTP 422), with the reason."""


@dataclass(frozen=True)
class Alert:
    status: str  # firing or resolved
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime | None
    level: str

    @property
    def title(self) -> str:
        return self.annotations.get("summary") or self.labels["alertname"]


def parse_payload(payload: Any, settings: IncidentSettings) -> list[Alert]:
    """The delivery's alerts, each classified; :class:`PayloadError` for the first thing wrong."""
    if not isinstance(payload, dict):
        raise PayloadError("the body must be a JSON object (Alertmanager webhook payload)")
    if str(payload.get("version")) != "4":
        raise PayloadError(f'payload version {payload.get("version")!r} is not supported; expected "4"')
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise PayloadError("'alerts' must be a non-empty list")
    return [_alert(a, i, settings) for i, a in enumerate(alerts)]


def _alert(raw: Any, i: int, settings: IncidentSettings) -> Alert:
    where = f"alerts[{i}]"
    if not isinstance(raw, dict):
        raise PayloadError(f"{where} must be an object")
    labels, annotations = raw.get("labels"), raw.get("annotations") or {}
    if not isinstance(labels, dict) or not labels.get("alertname"):
        raise PayloadError(f"{where}.labels.alertname is missing")
    if raw.get("status") not in ("firing", "resolved"):
        raise PayloadError(f"{where}.status {raw.get('status')!r} is not firing or resolved")
    labels = {str(k): str(v) for k, v in labels.items()}
    try:
        level = classify(labels, settings).name
    except UnknownSeverity as exc:
        raise PayloadError(f"{where}: {exc}") from None
    starts = raw.get("startsAt")
    try:
        starts_at = datetime.fromisoformat(str(starts).replace("Z", "+00:00")) if starts else None
    except ValueError:
        raise PayloadError(f"{where}.startsAt {starts!r} is not an ISO time") from None
    return Alert(raw["status"], labels, {str(k): str(v) for k, v in annotations.items()}, starts_at, level)


def handle(alerts: list[Alert], store: IncidentStore, trigger: Trigger) -> list[dict[str, Any]]:
    """Open, join or resolve an incident per alert; what happened to each."""
    outcome = []
    for alert in alerts:
        if alert.status == "resolved":
            found = store.open_incident(alert.labels)
            if found and store.resolve(found["id"], "alertmanager", f"alert resolved: {alert.title}"):
                outcome.append({"incident": found["id"], "action": "resolved"})
            else:
                outcome.append({"incident": None, "action": "nothing open"})
            continue
        incident_id, created = store.open_or_join(alert.labels, alert.title, alert.level, at=None)
        if created:
            run_id = trigger(
                incident_id,
                {
                    "incident_id": incident_id,
                    "labels": alert.labels,
                    "annotations": alert.annotations,
                    "level": alert.level,
                },
            )
            store.attach_run(incident_id, run_id)
            outcome.append({"incident": incident_id, "action": "opened", "level": alert.level, "dag_run_id": run_id})
        else:
            outcome.append({"incident": incident_id, "action": "updated"})
    log.info("alert delivery: %s", outcome)
    return outcome


def check_bearer(authorization: str | None, expected: str) -> None:
    """401 without a bearer credential, 403 with a wrong one (compared in constant time)."""
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(
            401, "missing bearer credential (Authorization: Bearer <token>)", headers={"WWW-Authenticate": "Bearer"}
        )
    if not expected or not hmac.compare_digest(authorization[7:].encode(), expected.encode()):
        raise HTTPException(403, "wrong bearer credential")


def build_app(
    settings: Callable[[], IncidentSettings],
    store: Callable[[], IncidentStore],
    trigger: Trigger,
    token: Callable[[], str],
    metrics: Callable[[], str] | None = None,
):
    """``POST /alerts`` behind ``Authorization: Bearer <token()>``: 401 without it, 403 when wrong, 422 for a
    payload :func:`parse_payload` refuses; 200 with what happened to each alert. ``GET /metrics`` (same
    credential): Aegis's routine metrics for Prometheus (:mod:`include.incidents.metrics`)."""
    from fastapi.responses import PlainTextResponse

    app = FastAPI(title="Aegis alert webhook")

    @app.get("/metrics", response_class=PlainTextResponse)
    def routine_metrics(authorization: str | None = Header(default=None)) -> str:
        check_bearer(authorization, token())
        if metrics is None:
            raise HTTPException(404, "no metrics configured")
        return metrics()

    # A plain (sync) endpoint: FastAPI runs it on a worker thread, so its blocking catalog and Airflow
    # database work (a scoped session per thread) never runs on, or shares a session with, the event loop.
    @app.post("/alerts")
    def alerts(
        payload: Annotated[Any, Body()] = None, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        check_bearer(authorization, token())
        try:
            parsed = parse_payload(payload, settings())
        except PayloadError as exc:
            raise HTTPException(422, str(exc)) from None
        return {"alerts": handle(parsed, store(), trigger)}

    return app
