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

    def __init__(self, core_v1: Any, timeout_s: float, apps_v1: Any = None):
        """Wrap an existing ``kubernetes.client.CoreV1Api`` (and ``AppsV1Api`` for deployments);
        every request is bounded by ``timeout_s``."""
        self.core_v1 = core_v1
        self.apps_v1 = apps_v1
        self.timeout_s = float(timeout_s)

    @classmethod
    def from_conn_id(cls, conn_id: str, timeout_s: float) -> "KubeClient":
        """A client for Airflow connection ``conn_id``, via the provider's ``KubernetesHook``."""
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        hook = KubernetesHook(conn_id=conn_id)
        return cls(hook.core_v1_client, timeout_s, apps_v1=hook.apps_v1_client)

    def list_pods(self, namespace: str, label_selector: str = "") -> list[dict[str, Any]]:
        """Pods in ``namespace`` matching ``label_selector`` (all when empty), as :func:`pod_summary` dicts."""
        pods = self.core_v1.list_namespaced_pod(namespace, label_selector=label_selector,
                                                _request_timeout=self.timeout_s)
        return [pod_summary(p) for p in pods.items or []]


# ------------------------------------------------------------- deployments and the maintenance ConfigMap (updates)
def patch_config_map_data(client: KubeClient, namespace: str, name: str, data: dict[str, str]) -> None:
    """Merge ``data`` into ConfigMap ``name``'s data (``kubectl patch configmap … -p '{"data": …}'``)."""
    client.core_v1.patch_namespaced_config_map(name, namespace, {"data": data}, _request_timeout=client.timeout_s)


def container_image(client: KubeClient, namespace: str, deployment: str, container: str) -> str:
    """The image container ``container`` of deployment ``deployment`` runs now."""
    dep = client.apps_v1.read_namespaced_deployment(deployment, namespace, _request_timeout=client.timeout_s)
    for c in dep.spec.template.spec.containers:
        if c.name == container:
            return c.image
    raise KeyError(f"deployment {namespace}/{deployment} has no container {container!r}")


def set_container_image(client: KubeClient, namespace: str, deployment: str, container: str, image: str) -> None:
    """``kubectl set image deployment/<deployment> <container>=<image>`` (a strategic merge patch)."""
    body = {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}
    client.apps_v1.patch_namespaced_deployment(deployment, namespace, body, _request_timeout=client.timeout_s)


def rollout_state(client: KubeClient, namespace: str, deployment: str) -> tuple[bool, str]:
    """(done, why) for the deployment's rollout, the way ``kubectl rollout status`` judges it."""
    dep = client.apps_v1.read_namespaced_deployment_status(deployment, namespace, _request_timeout=client.timeout_s)
    want = dep.spec.replicas if dep.spec.replicas is not None else 1
    st = dep.status
    for cond in st.conditions or []:
        if cond.type == "Progressing" and cond.reason == "ProgressDeadlineExceeded":
            raise RuntimeError(f"deployment {namespace}/{deployment} exceeded its progress deadline: {cond.message}")
    if (st.observed_generation or 0) < (dep.metadata.generation or 0):
        return False, "waiting for the deployment spec update to be observed"
    updated, available, total = st.updated_replicas or 0, st.available_replicas or 0, st.replicas or 0
    if updated < want:
        return False, f"{updated} of {want} new replicas updated"
    if total > updated:
        return False, f"{total - updated} old replicas pending termination"
    if available < updated:
        return False, f"{available} of {updated} updated replicas available"
    return True, f"{updated} of {want} replicas updated and available"


def wait_for_rollout(client: KubeClient, namespace: str, deployment: str, timeout_s: float,
                     poll_s: float = 2.0) -> str:
    """Poll :func:`rollout_state` until done; raise ``TimeoutError`` after ``timeout_s``."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        done, why = rollout_state(client, namespace, deployment)
        if done:
            return why
        if time.monotonic() >= deadline:
            raise TimeoutError(f"rollout of {namespace}/{deployment} not done within {timeout_s:g}s: {why}")
        time.sleep(poll_s)
