"""Links from the console into Airflow's own UI (Airflow 3 routes)."""

from __future__ import annotations

import json
from urllib.parse import quote


def run_url(airflow_base: str, dag_id: str, run_id: str) -> str:
    """The Airflow 3 UI page of one DAG run."""
    return f"{airflow_base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def trigger_url(airflow_base: str, dag_id: str, conf: dict) -> str:
    """The DAG's trigger form with its fields pre-filled from ``conf`` (the UI reads ``?conf=<JSON>``)."""
    return f"{airflow_base}/dags/{quote(dag_id, safe='')}/trigger/single?conf={quote(json.dumps(conf), safe='')}"


def restore_url(airflow_base: str, target: str, set_id: str) -> str:
    """The restore form for one backup set, as a dry run (the operator switches it off and confirms)."""
    return trigger_url(airflow_base, "restore", {"target": target, "set_id": set_id, "dry_run": True, "confirm": ""})
