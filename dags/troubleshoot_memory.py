"""Troubleshooting: memory (the seed's 3.2), runnable alone or from an incident.

``top_consumers`` lists the processes holding most resident memory (names only); ``growth`` compares the
host's memory now with the last daily check recorded in the catalog for ``host_target``;
``approve_restart`` asks a person to restart the deployment; ``restart`` does it (``kubectl rollout
restart``) only when approved.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from include.dag_defaults import fail_without_retry, refuse_unknown_conf
from include.incidents.troubleshooting import (
    approval,
    approved_deployment_action,
    kube_client,
    record_on_incident,
    troubleshooting_dag_args,
)


@dag(
    **troubleshooting_dag_args(
        __doc__,
        host_target=Param(None, type=["null", "string"], title="Host target (for growth since the last check)"),
        kubernetes_target=Param(None, type=["null", "string"], title="Kubernetes target (optional)"),
        namespace=Param("default", type="string", title="Namespace"),
        deployment=Param(None, type=["null", "string"], title="Deployment to restart (optional)"),
    )
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

        context = get_current_context()
        refuse_unknown_conf(context)  # a root beside top_consumers: it too refuses a bad conf
        target = context["params"]["host_target"]
        if not target:
            raise AirflowSkipException("no host target given")
        inventory = load_inventory()
        with fail_without_retry(KeyError):  # a name not in the inventory: said, not "no metric recorded"
            inventory.target(target)
        previous = Catalog.for_inventory(inventory).previous_metrics(target, datetime.now(UTC))
        grown = growth_since(previous, memory_now())
        print(f"since the last check of {target}: {grown or 'no comparable metric recorded'}")
        return grown

    approve = approval(
        "approve_restart",
        "Restart?",
        "Restart deployment {{ params.namespace }}/{{ params.deployment }} (kubectl rollout restart)?",
        "Approve to restart the deployment (the runbook's immediate action).",
    )

    @task
    def restart() -> dict[str, Any]:
        """Restart only when approved and a deployment is named."""
        from include.incidents.host_usage import restart_deployment

        context = get_current_context()
        params = context["params"]
        answer = approved_deployment_action(context, "approve_restart", "nothing restarted")
        client = kube_client(params["kubernetes_target"])
        stamp = restart_deployment(client.apps_v1, params["namespace"], params["deployment"])
        record_on_incident(params, f"restarted {params['namespace']}/{params['deployment']}", answer)
        return {"deployment": params["deployment"], "restarted_at": stamp}

    [top_consumers(), growth()] >> approve >> restart()


troubleshoot_memory()
