"""Airflow plugin: the Alertmanager webhook (``POST /aegis-incidents/alerts``) and Aegis's routine metrics
(``GET /aegis-incidents/metrics``, for Prometheus) in Airflow's API server.

Point an Alertmanager ``webhook_config`` at it with ``http_config.authorization.credentials`` set to the
password of the Airflow connection ``aegis_alert_webhook``; a firing alert opens an incident and triggers
the ``incident`` DAG (Airflow's own trigger, as the REST API does), repeats join the open incident.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.plugins_manager import AirflowPlugin

WEBHOOK_CONN_ID = "aegis_alert_webhook"
INCIDENT_DAG = "incident"


def _inventory():
    from include.inventory import load_inventory

    return load_inventory()


def _store():
    from include.catalog import Catalog
    from include.incidents.store import IncidentStore

    return IncidentStore(Catalog.for_inventory(_inventory()))


def _token() -> str:
    from include.targets import endpoint_for_conn

    return endpoint_for_conn(WEBHOOK_CONN_ID).password or ""


def _trigger(incident_id: int, conf: dict[str, Any]) -> str:
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.utils.types import DagRunTriggeredByType

    run_id = f"incident-{incident_id}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    trigger_dag(
        INCIDENT_DAG,
        triggered_by=DagRunTriggeredByType.REST_API,
        run_id=run_id,
        conf=conf,
        triggering_user_name="alertmanager",
    )
    return run_id


def _metrics() -> str:
    from include.catalog import Catalog
    from include.incidents.metrics import render

    return render(Catalog.for_inventory(_inventory()))


def _app():
    from include.incidents.webhook import build_app

    return build_app(lambda: _inventory().incidents, _store, _trigger, _token, _metrics)


class AegisIncidentsPlugin(AirflowPlugin):
    name = "aegis_incidents"
    fastapi_apps = [{"app": _app(), "url_prefix": "/aegis-incidents", "name": "Aegis alert webhook"}]
