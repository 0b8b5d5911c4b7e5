"""Links from the console into Airflow's own UI (Airflow 3 routes) and to the console's restore form."""

from __future__ import annotations

from urllib.parse import quote, urlencode


def run_url(airflow_base: str, dag_id: str, run_id: str) -> str:
    """The Airflow 3 UI page of one DAG run."""
    return f"{airflow_base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def restore_form_url(target: str, set_id: str) -> str:
    """The console's restore form for one backup set, pre-filled, dry run on (relative to the console).
    Airflow 3.3's own trigger form cannot be pre-filled from its address, so the console has its own, which
    triggers the ``restore`` DAG through Airflow's REST API as the logged-in user."""
    return "restore?" + urlencode({"target": target, "set_id": set_id})
