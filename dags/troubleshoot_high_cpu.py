"""Troubleshooting: high CPU (the seed's 3.1), runnable alone or from an incident.

``top_processes`` lists what uses the CPU of the host Aegis runs on (names only, never command lines);
``pods`` lists the pods (of the deployment, when one is named) by CPU use from the metrics API, with their
requests, limits and restarts (without metrics-server: a note saying so, and the pods without usage);
``autoscalers`` shows the HorizontalPodAutoscalers targeting the deployment (replicas, CPU target and use, and
the finding when one is at its max); ``approve_scale`` asks a person to scale the deployment to ``replicas``,
with the autoscaler state in the question; ``scale`` does it only when approved.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from include.dag_defaults import refuse_unknown_conf
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
        kubernetes_target=Param(None, type=["null", "string"], title="Kubernetes target (optional)"),
        namespace=Param("default", type="string", title="Namespace"),
        deployment=Param(None, type=["null", "string"], title="Deployment to scale (optional)"),
        replicas=Param(10, type="integer", minimum=1, title="Replicas after scaling"),
    )
)
def troubleshoot_high_cpu():
    @task
    def top_processes() -> list[dict[str, Any]]:
        """The ten processes using most CPU on this host."""
        from include.incidents.host_usage import top_processes as top

        refuse_unknown_conf()
        rows = top("cpu")
        for r in rows:
            print(f"{r['cpu_pct']:6.1f} %  pid {r['pid']:>7}  {r['user']:<12} {r['name']}")
        return rows

    @task
    def pods() -> dict[str, Any]:
        """The pods (of the deployment, when named) by CPU use, with requests, limits and restarts."""
        from include.incidents.host_usage import deployment_selector, pods_by_usage

        context = get_current_context()
        refuse_unknown_conf(context)  # a root beside top_processes: it too refuses a bad conf before the cluster
        params = context["params"]
        if not params["kubernetes_target"]:
            raise AirflowSkipException("no Kubernetes target given")
        client = kube_client(params["kubernetes_target"])
        selector = (
            deployment_selector(client, params["namespace"], params["deployment"]) if params["deployment"] else ""
        )
        found = pods_by_usage(client, params["namespace"], selector)
        if found["note"]:
            print(found["note"])
        for p in found["pods"]:
            usage = p.get("usage") or {}
            print(
                f"{p['name']}: {p['phase']}, restarts {p['restarts']}, cpu {usage.get('cpu_cores')} "
                f"(request {p['requests']['cpu_cores']}, limit {p['limits']['cpu_cores']}), "
                f"memory {usage.get('memory_bytes')} (request {p['requests']['memory_bytes']}, "
                f"limit {p['limits']['memory_bytes']})"
            )
        return found

    @task
    def autoscalers() -> dict[str, Any]:
        """The HorizontalPodAutoscalers targeting the deployment, and whether one is at its max."""
        from include.incidents.host_usage import autoscaler_note, autoscaler_state

        context = get_current_context()
        refuse_unknown_conf(context)
        params = context["params"]
        if not params["kubernetes_target"] or not params["deployment"]:
            return {"autoscalers": [], "note": "No deployment named: no autoscaler checked."}
        found = autoscaler_state(kube_client(params["kubernetes_target"]), params["namespace"], params["deployment"])
        note = autoscaler_note(found)
        print(note)
        return {"autoscalers": found, "note": note}

    approve = approval(
        "approve_scale",
        "Scale up?",
        "Scale deployment {{ params.namespace }}/{{ params.deployment }} to {{ params.replicas }} replicas?\n\n"
        "{{ (ti.xcom_pull(task_ids='autoscalers') or {}).get('note', 'Autoscaler state unknown.') }}",
        "Approve to scale the deployment (the runbook's 'Scale up pods? (y/n)').",
    )

    @task
    def scale() -> dict[str, Any]:
        """Scale only when approved and a deployment is named."""
        from include.incidents.host_usage import scale_deployment

        context = get_current_context()
        params = context["params"]
        answer = approved_deployment_action(context, "approve_scale", "nothing scaled")
        client = kube_client(params["kubernetes_target"])
        before = scale_deployment(client.apps_v1, params["namespace"], params["deployment"], params["replicas"])
        record_on_incident(
            params, f"scaled {params['namespace']}/{params['deployment']} from {before} to {params['replicas']}", answer
        )
        return {"deployment": params["deployment"], "replicas_before": before, "replicas": params["replicas"]}

    [top_processes(), pods(), autoscalers()] >> approve >> scale()


troubleshoot_high_cpu()
