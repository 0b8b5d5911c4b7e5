"""The one place Aegis talks to Kubernetes: list pods as plain dicts.

:func:`pod_summary` is pure (a ``V1Pod`` in, a dict out) so it can be tested
with real ``kubernetes.client`` objects and no cluster.
"""

from __future__ import annotations

from typing import Any


def container_summary(status: Any) -> dict[str, Any]:
    """Name, readiness, restart count and current state (with its reason) of one container."""
    state, reason = "unknown", None
    if status.state is not None:
        for name in ("running", "waiting", "terminated"):
            detail = getattr(status.state, name, None)
            if detail is not None:
                state, reason = name, getattr(detail, "reason", None)
                break
    return {
        "name": status.name,
        "ready": bool(status.ready),
        "restarts": int(status.restart_count or 0),
        "state": state,
        "reason": reason,
    }


def pod_summary(pod: Any) -> dict[str, Any]:
    """A ``kubernetes.client.V1Pod`` as ``{name, phase, ready, restarts, containers, node}``.

    ``ready`` is True only when the pod has containers and every one is ready.
    """
    status = pod.status
    containers = [container_summary(c) for c in ((status and status.container_statuses) or [])]
    return {
        "name": pod.metadata.name,
        "phase": (status and status.phase) or "Unknown",
        "ready": bool(containers) and all(c["ready"] for c in containers),
        "restarts": sum(c["restarts"] for c in containers),
        "containers": containers,
        "node": pod.spec.node_name if pod.spec else None,
    }


class KubeClient:
    """Lists pods through a ``CoreV1Api`` with a request timeout."""

    def __init__(self, core_v1: Any, timeout_s: float):
        """Wrap an existing ``kubernetes.client.CoreV1Api``; every request is bounded by ``timeout_s``."""
        self.core_v1 = core_v1
        self.timeout_s = float(timeout_s)

    @classmethod
    def from_conn_id(cls, conn_id: str, timeout_s: float) -> "KubeClient":
        """A client for Airflow connection ``conn_id``, via the provider's ``KubernetesHook``."""
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        return cls(KubernetesHook(conn_id=conn_id).core_v1_client, timeout_s)

    def list_pods(self, namespace: str, label_selector: str = "") -> list[dict[str, Any]]:
        """Pods in ``namespace`` matching ``label_selector`` (all when empty), as :func:`pod_summary` dicts."""
        pods = self.core_v1.list_namespaced_pod(namespace, label_selector=label_selector,
                                                _request_timeout=self.timeout_s)
        return [pod_summary(p) for p in pods.items or []]
