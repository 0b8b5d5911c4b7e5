"""Troubleshooting: memory (the seed's 3.2), runnable alone or from an incident.

``top_consumers`` lists the processes holding most resident memory (names only); ``growth`` compares the
host's memory now with the last daily check recorded in the catalog for ``host_target``;
``approve_restart`` asks a person to restart the deployment; ``restart`` does it (``kubectl rollout
restart``) only when approved.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from include.dag_defaults import DEFAULT_ARGS, incident_param, refuse_unknown_conf


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["aegis", "troubleshooting"],
    doc_md=__doc__,
    params={
        "incident_id": incident_param(),
        "host_target": Param(None, type=["null", "string"], title="Host target (for growth since the last check)"),
        "kubernetes_target": Param(None, type=["null", "string"], title="Kubernetes target (optional)"),
        "namespace": Param("default", type="string", title="Namespace"),
        "deployment": Param(None, type=["null", "string"], title="Deployment to restart (optional)"),
    },
)
def troubleshoot_memory():
    @task
    def top_consumers() -> list[dict[str, Any]]:
        """The ten processes holding most resident memory on this host."""
        from include.incidents.host_usage import top_processes

        refuse_unknown_conf()
        rows = top_processes("memory", sample_s=0.1)
        for r in rows:
            print(f"{r['rss_bytes'] / 2**20:10.1f} MiB  pid {r['pid']:>7}  {r['user']:<12} {r['name']}")
        return rows

    @task
    def growth() -> dict[str, float]:
        """Memory now against the last recorded daily check of the host target."""
        from datetime import UTC, datetime

        from include.catalog import Catalog
        from include.incidents.host_usage import growth_since, memory_now
        from include.inventory import load_inventory

        target = get_current_context()["params"]["host_target"]
        if not target:
            raise AirflowSkipException("no host target given")
        previous = Catalog.for_inventory(load_inventory()).previous_metrics(target, datetime.now(UTC))
        grown = growth_since(previous, memory_now())
        print(f"since the last check of {target}: {grown or 'no comparable metric recorded'}")
        return grown

    approve = ApprovalOperator(
        task_id="approve_restart",
        subject="Restart?",
        body="Restart deployment {{ params.namespace }}/{{ params.deployment }} (kubectl rollout restart)?",
        defaults="Reject",
        doc_md="Approve to restart the deployment (the runbook's immediate action).",
    )

    @task
    def restart() -> dict[str, Any]:
        """Restart only when approved and a deployment is named."""
        from include.clients.kubernetes import KubeClient
        from include.incidents.host_usage import restart_deployment
        from include.inventory import load_inventory
        from include.targets import endpoint_for

        context = get_current_context()
        params = context["params"]
        answer = context["ti"].xcom_pull(task_ids="approve_restart") or {}
        if answer.get("chosen_options") != ["Approve"] or not params["deployment"] or not params["kubernetes_target"]:
            raise AirflowSkipException("not approved, or no deployment named: nothing restarted")
        from include.incidents.response import record_action

        client = KubeClient.from_endpoint(endpoint_for(load_inventory().target(params["kubernetes_target"])), 10)
        stamp = restart_deployment(client.apps_v1, params["namespace"], params["deployment"])
        record_action(
            load_inventory(),
            params["incident_id"],
            f"restarted {params['namespace']}/{params['deployment']}",
            (answer.get("responded_by_user") or {}).get("name"),
        )
        return {"deployment": params["deployment"], "restarted_at": stamp}

    [top_consumers(), growth()] >> approve >> restart()


troubleshoot_memory()
