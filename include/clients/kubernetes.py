"""Kubernetes client: :func:`connect` gives a :class:`KubeClient` for an Endpoint; pods, ConfigMaps,
Secrets and deployments as plain dicts, every request bounded by a timeout.

The API clients come from the provider's ``KubernetesHook`` configured from the Endpoint's extras
(``in_cluster``, ``kube_config_path``, ``kube_config``, ``cluster_context``; TLS as the kubeconfig
says), never from a second connection lookup. :func:`pod_summary` is pure (a ``V1Pod`` in, a dict
out) so it can be tested with real ``kubernetes.client`` objects and no cluster.
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


def connect(endpoint: Any, timeout_s: float) -> KubeClient:
    """A :class:`KubeClient` for a resolved :class:`include.targets.Endpoint` of a Kubernetes connection."""
    return KubeClient.from_endpoint(endpoint, timeout_s)


class KubeClient:
    """Lists pods through a ``CoreV1Api`` with a request timeout."""

    def __init__(
        self,
        core_v1: Any,
        timeout_s: float,
        apps_v1: Any = None,
        autoscaling_v1: Any = None,
        custom_objects: Any = None,
    ):
        """Wrap an existing ``kubernetes.client.CoreV1Api`` (and ``AppsV1Api`` for deployments,
        ``AutoscalingV1Api`` for HorizontalPodAutoscalers, ``CustomObjectsApi`` for the metrics API);
        every request is bounded by ``timeout_s``."""
        self.core_v1 = core_v1
        self.apps_v1 = apps_v1
        self.autoscaling_v1 = autoscaling_v1
        self.custom_objects = custom_objects
        self.timeout_s = float(timeout_s)

    def list_pods(self, namespace: str, label_selector: str = "") -> list[dict[str, Any]]:
        """Pods in ``namespace`` matching ``label_selector`` (all when empty), as :func:`pod_summary` dicts."""
        pods = self.core_v1.list_namespaced_pod(
            namespace, label_selector=label_selector, _request_timeout=self.timeout_s
        )
        return [pod_summary(p) for p in pods.items or []]

    @classmethod
    def from_endpoint(cls, endpoint: Any, timeout_s: float) -> KubeClient:
        """A client from an already resolved :class:`include.targets.Endpoint` of a Kubernetes connection."""
        from kubernetes import client as k8s

        hook = _from_endpoint_hook(endpoint)
        return cls(
            hook.core_v1_client,
            timeout_s,
            apps_v1=hook.apps_v1_client,
            autoscaling_v1=k8s.AutoscalingV1Api(api_client=hook.api_client),
            custom_objects=hook.custom_object_client,
        )

    def list_pods_with_resources(self, namespace: str, label_selector: str = "") -> list[dict[str, Any]]:
        """Pods as :func:`pod_summary` dicts plus their containers' summed ``requests`` and ``limits``
        (see :func:`pod_resources`)."""
        pods = self.core_v1.list_namespaced_pod(
            namespace, label_selector=label_selector, _request_timeout=self.timeout_s
        )
        return [{**pod_summary(p), **pod_resources(p)} for p in pods.items or []]

    def pod_metrics(self, namespace: str, label_selector: str = "") -> list[dict[str, Any]]:
        """Current usage of the namespace's pods from the metrics API (``metrics.k8s.io/v1beta1``) as
        ``{name, cpu_cores, memory_bytes}``; :class:`MetricsUnavailable` when the cluster does not serve it."""
        from kubernetes.client.exceptions import ApiException

        try:
            answer = self.custom_objects.list_namespaced_custom_object(
                METRICS_GROUP,
                METRICS_VERSION,
                namespace,
                "pods",
                label_selector=label_selector,
                _request_timeout=self.timeout_s,
            )
        except ApiException as exc:
            if exc.status in (404, 503):
                raise MetricsUnavailable(METRICS_UNAVAILABLE) from None
            if exc.status == 403:
                raise MetricsUnavailable(
                    f"not allowed to read {METRICS_GROUP} pods in {namespace} (see deploy/aegis-rbac.yaml)"
                ) from None
            raise
        return [pod_usage(item) for item in answer.get("items") or []]

    def list_autoscalers(self, namespace: str) -> list[Any]:
        """The namespace's HorizontalPodAutoscalers (``autoscaling/v1`` objects)."""
        answer = self.autoscaling_v1.list_namespaced_horizontal_pod_autoscaler(
            namespace, _request_timeout=self.timeout_s
        )
        return list(answer.items or [])

    def list_config_maps(self, namespace: str) -> list[dict[str, Any]]:
        """All ConfigMaps of ``namespace`` as :func:`config_map_summary` dicts, sorted by name."""
        items = _list_all(self.core_v1.list_namespaced_config_map, namespace, self.timeout_s)
        return sorted((config_map_summary(cm) for cm in items), key=lambda d: d["name"])

    def list_secrets(self, namespace: str) -> list[dict[str, Any]]:
        """All Secrets of ``namespace`` as :func:`secret_summary` dicts, sorted by name."""
        items = _list_all(self.core_v1.list_namespaced_secret, namespace, self.timeout_s)
        return sorted((secret_summary(s) for s in items), key=lambda d: d["name"])

    def apply_config_map(self, namespace: str, cm: dict[str, Any]) -> str:
        """Replace the ConfigMap ``cm['name']`` with ``cm`` (create it if missing)."""
        from kubernetes import client as k8s

        body = k8s.V1ConfigMap(
            metadata=k8s.V1ObjectMeta(name=cm["name"], namespace=namespace, labels=cm.get("labels") or None),
            data=cm.get("data") or None,
            binary_data=cm.get("binary_data") or None,
        )
        return _replace_or_create(
            self.core_v1.replace_namespaced_config_map,
            self.core_v1.create_namespaced_config_map,
            cm["name"],
            namespace,
            body,
            self.timeout_s,
        )

    def apply_secret(self, namespace: str, secret: dict[str, Any]) -> str:
        """Replace the Secret ``secret['name']`` (``data`` base64) with ``secret`` (create it if missing)."""
        from kubernetes import client as k8s

        body = k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name=secret["name"], namespace=namespace, labels=secret.get("labels") or None),
            type=secret.get("type") or "Opaque",
            data=secret.get("data") or None,
        )
        return _replace_or_create(
            self.core_v1.replace_namespaced_secret,
            self.core_v1.create_namespaced_secret,
            secret["name"],
            namespace,
            body,
            self.timeout_s,
        )


# ------------------------------------------------------------- usage, requests and limits (troubleshooting)
METRICS_GROUP, METRICS_VERSION = "metrics.k8s.io", "v1beta1"
METRICS_UNAVAILABLE = "metrics API not available on this cluster (install metrics-server)"

#: CPU quantity suffixes in cores (metrics-server reports nanocores, e.g. ``12345678n``)
_CPU_SUFFIXES = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0}
#: memory quantity suffixes in bytes, binary and decimal (longest first so ``Mi`` is not read as ``M``)
_MEMORY_SUFFIXES = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
}


class MetricsUnavailable(RuntimeError):
    """The cluster does not serve the metrics API (no metrics-server), or Aegis may not read it."""


def parse_cpu(quantity: str) -> float:
    """A Kubernetes CPU quantity in cores: ``250m`` → 0.25, ``1`` → 1.0, ``1500000n`` → 0.0015."""
    text = str(quantity).strip()
    suffix = text[-1] if text and text[-1] in "num" else ""
    number = text[: len(text) - len(suffix)]
    try:
        return float(number) * _CPU_SUFFIXES[suffix]
    except ValueError:
        raise ValueError(f"not a CPU quantity: {quantity!r} (e.g. 250m or 1)") from None


def parse_memory(quantity: str) -> int:
    """A Kubernetes memory quantity in bytes: ``128Mi`` → 134217728, ``1Gi`` → 1073741824, ``1G`` → 10**9."""
    text = str(quantity).strip()
    for suffix in sorted(_MEMORY_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            number, factor = text[: -len(suffix)], _MEMORY_SUFFIXES[suffix]
            break
    else:
        number, factor = text, 1
    try:
        return int(float(number) * factor)
    except ValueError:
        raise ValueError(f"not a memory quantity: {quantity!r} (e.g. 128Mi or 1Gi)") from None


def pod_usage(item: dict[str, Any]) -> dict[str, Any]:
    """One ``PodMetrics`` item of the metrics API as ``{name, cpu_cores, memory_bytes}`` (summed over containers)."""
    containers = item.get("containers") or []
    usage = [c.get("usage") or {} for c in containers]
    return {
        "name": (item.get("metadata") or {}).get("name"),
        "cpu_cores": round(sum(parse_cpu(u.get("cpu", "0")) for u in usage), 6),
        "memory_bytes": sum(parse_memory(u.get("memory", "0")) for u in usage),
    }


def pod_resources(pod: Any) -> dict[str, Any]:
    """A ``V1Pod``'s containers' ``requests`` and ``limits`` summed, as ``{cpu_cores, memory_bytes}`` each
    (a value is None when no container sets it)."""
    out: dict[str, Any] = {}
    for kind in ("requests", "limits"):
        cpu: float | None = None
        memory: int | None = None
        for c in (pod.spec.containers if pod.spec else None) or []:
            values = (getattr(c.resources, kind, None) or {}) if c.resources else {}
            if "cpu" in values:
                cpu = (cpu or 0.0) + parse_cpu(values["cpu"])
            if "memory" in values:
                memory = (memory or 0) + parse_memory(values["memory"])
        out[kind] = {"cpu_cores": None if cpu is None else round(cpu, 6), "memory_bytes": memory}
    return out


# ------------------------------------------------------------- ConfigMaps and Secrets (backups)
#: page size when listing ConfigMaps / Secrets (a namespace may hold thousands, e.g. Helm releases)
LIST_PAGE = 500


def config_map_summary(cm: Any) -> dict[str, Any]:
    """A ``V1ConfigMap`` as ``{name, data, binary_data, labels}`` (binary data base64, as the API gives it)."""
    return {
        "name": cm.metadata.name,
        "data": dict(cm.data or {}),
        "binary_data": dict(cm.binary_data or {}),
        "labels": dict(cm.metadata.labels or {}),
    }


def secret_summary(secret: Any) -> dict[str, Any]:
    """A ``V1Secret`` as ``{name, type, data, labels}``; ``data`` values stay base64 as the API gives them."""
    return {
        "name": secret.metadata.name,
        "type": secret.type or "Opaque",
        "data": dict(secret.data or {}),
        "labels": dict(secret.metadata.labels or {}),
    }


def _list_all(list_call, namespace: str, timeout_s: float) -> list[Any]:
    """Every item of a namespaced list call, page by page (``limit`` / ``_continue``)."""
    items: list[Any] = []
    token = None
    while True:
        kwargs = {"limit": LIST_PAGE, "_request_timeout": timeout_s}
        if token:
            kwargs["_continue"] = token
        page = list_call(namespace, **kwargs)
        items += page.items or []
        token = getattr(page.metadata, "_continue", None) if page.metadata is not None else None
        if not token:
            return items


def _replace_or_create(replace_call, create_call, name: str, namespace: str, body: Any, timeout_s: float) -> str:
    """``replace``; on 404 ``create``. Returns ``replaced`` or ``created``."""
    from kubernetes.client.exceptions import ApiException

    try:
        replace_call(name, namespace, body, _request_timeout=timeout_s)
        return "replaced"
    except ApiException as exc:
        if exc.status != 404:
            raise
    create_call(namespace, body, _request_timeout=timeout_s)
    return "created"


def _from_endpoint_hook(endpoint: Any):
    """A ``KubernetesHook`` configured from an Endpoint's connection extras (no second connection lookup)."""
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    hook = KubernetesHook(conn_id=None, kubernetes_conn_id=None)
    hook.__dict__["conn_extras"] = dict(endpoint.extra or {})  # the hook's cached_property, pre-filled
    return hook


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


def wait_for_rollout(client: KubeClient, namespace: str, deployment: str, timeout_s: float, poll_s: float = 2.0) -> str:
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
