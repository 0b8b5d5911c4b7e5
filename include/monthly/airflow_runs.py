"""Aegis's own routines as Airflow saw them: runs, failures and p50/p95 durations per DAG and per task in the
month, read from Airflow's REST API (``/api/v2``). Optional: ``audit.airflow_target`` names an ``http_service``
target whose connection points at the Airflow API server (login/password for its auth manager). Every call
has a timeout; an API that is down or refuses the login is said in the report, not fatal.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from statistics import quantiles
from typing import Any

import httpx

TIMEOUT_S = 30.0
PAGE = 100
#: The DAGs whose runs are Aegis's routines (by tag).
AEGIS_TAG = "aegis"


def for_inventory(inventory) -> httpx.Client | None:
    """A logged-in client for ``audit.airflow_target`` (None when the inventory names none)."""
    name = inventory.audit.get("airflow_target")
    if not name:
        return None
    from include.clients.airflow_api import api_client
    from include.clients.http import base_url
    from include.targets import endpoint_for

    target = inventory.target(name)
    endpoint = endpoint_for(target)
    return api_client(base_url(endpoint), endpoint.login, endpoint.password, target.timeout_seconds)


def _pages(client: httpx.Client, path: str, key: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        answer = client.get(path, params={**params, "limit": PAGE, "offset": len(items)})
        answer.raise_for_status()
        page = answer.json()[key]
        items += page
        if len(page) < PAGE:
            return items


def _seconds(item: dict[str, Any]) -> float | None:
    if not item.get("start_date") or not item.get("end_date"):
        return None
    return (datetime.fromisoformat(item["end_date"]) - datetime.fromisoformat(item["start_date"])).total_seconds()


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50 and p95 (inclusive method; one value is its own p50 and p95)."""
    if not values:
        return {"p50_s": None, "p95_s": None}
    if len(values) == 1:
        return {"p50_s": round(values[0], 2), "p95_s": round(values[0], 2)}
    cuts = quantiles(values, n=100, method="inclusive")
    return {"p50_s": round(cuts[49], 2), "p95_s": round(cuts[94], 2)}


def routine_runs(client: httpx.Client, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per Aegis DAG: runs started in ``[start, end)``, failures, p50/p95 run duration and per-task p50/p95."""
    window = {"start_date_gte": start.isoformat(), "start_date_lte": end.isoformat()}
    dags = _pages(client, "/api/v2/dags", "dags", {"tags": AEGIS_TAG})
    out = []
    for dag in sorted(dags, key=lambda d: d["dag_id"]):
        dag_id = dag["dag_id"]
        runs = [
            r
            for r in _pages(client, f"/api/v2/dags/{dag_id}/dagRuns", "dag_runs", window)
            if r.get("start_date") and r["start_date"] < end.isoformat()
        ]
        if not runs:
            continue
        tasks: dict[str, list[float]] = defaultdict(list)
        for run in runs:
            path = f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances"
            for ti in _pages(client, path, "task_instances", {}):
                seconds = _seconds(ti)
                if seconds is not None:
                    tasks[ti["task_id"]].append(seconds)
        durations = [s for s in map(_seconds, runs) if s is not None]
        out.append(
            {
                "routine": dag_id,
                "runs": len(runs),
                "failures": sum(r["state"] == "failed" for r in runs),
                **percentiles(durations),
                "tasks": {task: percentiles(values) for task, values in sorted(tasks.items())},
            }
        )
    return out
