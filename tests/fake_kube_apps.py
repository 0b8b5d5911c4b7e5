"""FAKE: there is no Kubernetes cluster on this machine.

:class:`FakeCluster` fakes the few calls the update code makes, returning REAL ``kubernetes.client``
objects so the REAL ``include.kube_client`` functions run on them:

- ``AppsV1Api``: ``read_namespaced_deployment``, ``read_namespaced_deployment_status`` and
  ``patch_namespaced_deployment`` (a strategic-merge image change bumps ``metadata.generation``);
- ``CoreV1Api``: ``patch_namespaced_config_map`` (merges ``data``).

Rollouts are simulated: after an image change the status catches up one replica per status read;
an image listed in ``broken_images`` never becomes available (its rollout cannot finish), like a
crash-looping release.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s


class FakeCluster:
    def __init__(self, namespace: str, deployment: str, container: str, image: str, replicas: int = 2,
                 broken_images: tuple[str, ...] = ()):
        self.namespace, self.broken = namespace, set(broken_images)
        self.config_maps: dict[str, dict[str, str]] = {}
        self.calls: list[tuple[str, Any]] = []
        self.deployment = k8s.V1Deployment(
            metadata=k8s.V1ObjectMeta(name=deployment, namespace=namespace, generation=1),
            spec=k8s.V1DeploymentSpec(
                replicas=replicas, selector=k8s.V1LabelSelector(match_labels={"app": deployment}),
                template=k8s.V1PodTemplateSpec(spec=k8s.V1PodSpec(
                    containers=[k8s.V1Container(name=container, image=image)]))),
            status=k8s.V1DeploymentStatus(observed_generation=1, replicas=replicas, updated_replicas=replicas,
                                          available_replicas=replicas, ready_replicas=replicas))

    # AppsV1Api
    def read_namespaced_deployment(self, name: str, namespace: str, **kw) -> k8s.V1Deployment:
        self._find(name, namespace)
        return self.deployment

    def read_namespaced_deployment_status(self, name: str, namespace: str, **kw) -> k8s.V1Deployment:
        dep = self._find(name, namespace)
        st, want = dep.status, dep.spec.replicas
        st.observed_generation = dep.metadata.generation
        image = dep.spec.template.spec.containers[0].image
        if st.updated_replicas < want:
            st.updated_replicas += 1
        if image not in self.broken:
            st.available_replicas = st.updated_replicas
            st.replicas = want
        return dep

    def patch_namespaced_deployment(self, name: str, namespace: str, body: dict, **kw) -> k8s.V1Deployment:
        dep = self._find(name, namespace)
        self.calls.append(("patch_deployment", body))
        if "replicas" in body["spec"]:  # kubectl scale
            dep.spec.replicas = body["spec"]["replicas"]
            return dep
        annotations = body["spec"]["template"].get("metadata", {}).get("annotations")
        if annotations:  # kubectl rollout restart
            dep.spec.template.metadata = dep.spec.template.metadata or k8s.V1ObjectMeta()
            dep.spec.template.metadata.annotations = {**(dep.spec.template.metadata.annotations or {}), **annotations}
            dep.metadata.generation += 1
            return dep
        for change in body["spec"]["template"]["spec"]["containers"]:
            for c in dep.spec.template.spec.containers:
                if c.name == change["name"]:
                    c.image = change["image"]
        dep.metadata.generation += 1
        dep.status.updated_replicas, dep.status.available_replicas = 0, 0
        dep.status.replicas = dep.spec.replicas * 2  # old and new pods during the rollout
        return dep

    # CoreV1Api
    def patch_namespaced_config_map(self, name: str, namespace: str, body: dict, **kw) -> k8s.V1ConfigMap:
        if namespace != self.namespace:
            raise k8s.ApiException(status=404, reason="Not Found")
        self.calls.append(("patch_config_map", {"name": name, **body}))
        self.config_maps.setdefault(name, {}).update(body["data"])
        return k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=name, namespace=namespace),
                               data=self.config_maps[name])

    def _find(self, name: str, namespace: str) -> k8s.V1Deployment:
        if namespace != self.namespace or name != self.deployment.metadata.name:
            raise k8s.ApiException(status=404, reason="Not Found")
        return self.deployment

    def image(self) -> str:
        return self.deployment.spec.template.spec.containers[0].image
