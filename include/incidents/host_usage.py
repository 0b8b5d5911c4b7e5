"""High CPU and memory troubleshooting (the seed's 3.1 and 3.2): what uses the host, what grew, and the
two actions the runbook takes — scale a deployment up, restart it — each only after an approval.

Processes are named by their executable name only (never the command line: it can carry secrets).
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from typing import Any

import psutil


def top_processes(by: str = "cpu", limit: int = 10, sample_s: float = 0.5) -> list[dict[str, Any]]:
    """The ``limit`` processes using most CPU (sampled over ``sample_s``) or resident memory."""
    if by not in ("cpu", "memory"):
        raise ValueError(f"by must be 'cpu' or 'memory', not {by!r}")
    procs = list(psutil.process_iter(["pid", "name", "username"]))
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.cpu_percent(None)  # the first call starts the sample
    time.sleep(sample_s)
    rows = []
    for p in procs:
        try:
            with p.oneshot():
                rows.append(
                    {
                        "pid": p.pid,
                        "name": p.info["name"] or "?",
                        "user": p.info["username"] or "?",
                        "cpu_pct": round(p.cpu_percent(None), 1),
                        "rss_bytes": p.memory_info().rss,
                        "mem_pct": round(p.memory_percent(), 2),
                    }
                )
        except psutil.Error:
            continue
    key = "cpu_pct" if by == "cpu" else "rss_bytes"
    return sorted(rows, key=lambda r: r[key], reverse=True)[:limit]


def memory_now() -> dict[str, float]:
    vm = psutil.virtual_memory()
    return {"host.memory_pct": vm.percent, "host.memory_available_bytes": float(vm.available)}


def growth_since(previous: dict[str, float], now: dict[str, float]) -> dict[str, float]:
    """How much each metric present in both grew since the previous recorded check (negative: shrank)."""
    return {name: round(now[name] - previous[name], 2) for name in now if name in previous}


def scale_deployment(apps_v1: Any, namespace: str, deployment: str, replicas: int, timeout_s: float = 10) -> int:
    """``kubectl scale deployment/<d> --replicas=N``; returns the replica count before."""
    if replicas < 1:
        raise ValueError("replicas must be at least 1")
    dep = apps_v1.read_namespaced_deployment(deployment, namespace, _request_timeout=timeout_s)
    before = dep.spec.replicas
    apps_v1.patch_namespaced_deployment(
        deployment, namespace, {"spec": {"replicas": replicas}}, _request_timeout=timeout_s
    )
    return before


def restart_deployment(apps_v1: Any, namespace: str, deployment: str, timeout_s: float = 10) -> str:
    """``kubectl rollout restart``: stamp the pod template with ``kubectl.kubernetes.io/restartedAt``."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}
    apps_v1.patch_namespaced_deployment(deployment, namespace, body, _request_timeout=timeout_s)
    return stamp


# ------------------------------------------------------------- pods by usage and autoscaler state (Kubernetes)
AT_MAX_FINDING = "at max replicas: scaling up by hand will be undone by the HPA; raise maxReplicas"


def deployment_selector(client: Any, namespace: str, deployment: str) -> str:
    """The label selector (``k=v,…``) of deployment ``deployment``'s pods, from its ``matchLabels``;
    ``LookupError`` naming it when there is no such deployment."""
    from kubernetes.client.exceptions import ApiException

    try:
        dep = client.apps_v1.read_namespaced_deployment(deployment, namespace, _request_timeout=client.timeout_s)
    except ApiException as exc:
        if exc.status == 404:
            raise LookupError(f"no deployment {deployment!r} in namespace {namespace!r}") from None
        raise
    labels = (dep.spec.selector.match_labels or {}) if dep.spec.selector else {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def pods_by_usage(client: Any, namespace: str, label_selector: str = "") -> dict[str, Any]:
    """The pods of ``namespace`` (matching ``label_selector``) with their requests, limits and restarts, and
    their current CPU / memory use from the metrics API when the cluster serves it.

    Returns ``{"metrics_available", "note", "pods"}``; pods sorted by CPU use (with metrics) or by restarts
    (without). A cluster without metrics-server gives a note, never an exception.
    """
    from include.clients.kubernetes import MetricsUnavailable

    pods = client.list_pods_with_resources(namespace, label_selector)
    try:
        usage = {u["name"]: u for u in client.pod_metrics(namespace, label_selector)}
    except MetricsUnavailable as exc:
        pods.sort(key=lambda p: p["restarts"], reverse=True)
        return {"metrics_available": False, "note": str(exc), "pods": pods}
    for p in pods:
        found = usage.get(p["name"]) or {}
        p["usage"] = {"cpu_cores": found.get("cpu_cores"), "memory_bytes": found.get("memory_bytes")}
    pods.sort(key=lambda p: p["usage"]["cpu_cores"] or 0.0, reverse=True)
    return {"metrics_available": True, "note": None, "pods": pods}


def autoscaler_summary(hpa: Any, deployment_replicas: int | None) -> dict[str, Any]:
    """An ``autoscaling/v1`` HorizontalPodAutoscaler as a dict of its numbers and findings.

    ``current_replicas`` is the target deployment's ``spec.replicas`` (what the HPA sets and what scaling by
    hand would change; the HPA's own status lags up to its sync period); it is at its max when that reaches
    ``maxReplicas``. ``desired_replicas`` and ``current_cpu_pct`` are the HPA's status (None until its
    controller has reported).
    """
    spec, status = hpa.spec, hpa.status
    reported = status is not None and status.observed_generation is not None
    current = deployment_replicas
    min_replicas = spec.min_replicas if spec.min_replicas is not None else 1
    at_max = current is not None and current >= spec.max_replicas
    return {
        "name": hpa.metadata.name,
        "target": f"{spec.scale_target_ref.kind}/{spec.scale_target_ref.name}",
        "min_replicas": min_replicas,
        "max_replicas": spec.max_replicas,
        "current_replicas": current,
        "desired_replicas": status.desired_replicas if reported else None,
        "target_cpu_pct": spec.target_cpu_utilization_percentage,
        "current_cpu_pct": status.current_cpu_utilization_percentage if reported else None,
        "at_max": at_max,
        "findings": [AT_MAX_FINDING] if at_max else [],
    }


def autoscaler_state(client: Any, namespace: str, deployment: str) -> list[dict[str, Any]]:
    """The HorizontalPodAutoscalers of ``namespace`` that target Deployment ``deployment``, as
    :func:`autoscaler_summary` dicts (an empty list when none does)."""
    hpas = [
        h
        for h in client.list_autoscalers(namespace)
        if h.spec.scale_target_ref.kind == "Deployment" and h.spec.scale_target_ref.name == deployment
    ]
    if not hpas:
        return []
    dep = client.apps_v1.read_namespaced_deployment(deployment, namespace, _request_timeout=client.timeout_s)
    return [autoscaler_summary(h, dep.spec.replicas) for h in hpas]


def autoscaler_note(autoscalers: list[dict[str, Any]]) -> str:
    """One line per autoscaler for the approval before scaling (or why there is nothing to say)."""
    if not autoscalers:
        return "No HorizontalPodAutoscaler targets this deployment."
    lines = []
    for a in autoscalers:
        cpu = f"CPU {_pct(a['current_cpu_pct'])} of target {_pct(a['target_cpu_pct'])}"
        line = (
            f"HPA {a['name']}: replicas {a['current_replicas']} (desired {a['desired_replicas']}, "
            f"min {a['min_replicas']}, max {a['max_replicas']}), {cpu}"
        )
        lines.append("; ".join([line, *a["findings"]]))
    return "\n".join(lines)


def _pct(value: int | None) -> str:
    return "unknown" if value is None else f"{value} %"
