"""Kubernetes check against a REAL API server (tests/servers/kube.py) through the KubernetesHook, with the token
of the role in deploy/aegis-rbac.yaml. There is no kubelet: the test patches pod status as one would."""

from __future__ import annotations

import json
import time

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from include.checks.base import run_bounded
from include.checks.kubernetes import check
from include.clients.kubernetes import connect
from include.inventory import parse_inventory
from include.targets import endpoint_for, endpoint_for_conn
from tests.servers.kube import container_status, set_pod_status


def k8s_target(namespace: str, **fields):
    return parse_inventory(
        {
            "targets": [
                {
                    "name": "web",
                    "kind": "kubernetes",
                    "conn_id": "k8s",
                    "namespace": namespace,
                    "label_selector": "app=web",
                    "timeout_seconds": 6,
                    **fields,
                }
            ]
        }
    ).targets[0]


@pytest.fixture
def shop(kube_cluster, kube_namespace, monkeypatch):
    """A namespace Aegis may read (its role bound there), the connection ``k8s`` (Aegis's token), and a
    ``pod(name, phase, containers, labels)`` helper creating a pod and setting its status as the kubelet would."""
    monkeypatch.setenv("AIRFLOW_CONN_K8S", kube_cluster.connection())
    core = k8s.CoreV1Api(kube_cluster.api())

    def pod(name: str, phase: str = "Running", containers=None, labels=None) -> None:
        names = [c["name"] for c in containers] if containers else ["app"]
        core.create_namespaced_pod(
            kube_namespace,
            k8s.V1Pod(
                metadata=k8s.V1ObjectMeta(name=name, labels=labels or {"app": "web"}),
                spec=k8s.V1PodSpec(containers=[k8s.V1Container(name=n, image="example/app:1") for n in names]),
            ),
            _request_timeout=10,
        )
        if phase != "Pending" or containers:
            set_pod_status(core, kube_namespace, name, phase, containers)

    return {"ns": kube_namespace, "pod": pod, "core": core}


def healthy(restarts: int = 0):
    return [container_status("app", restarts=restarts), container_status("sidecar")]


def run(shop, **fields):
    target = k8s_target(shop["ns"], **fields)
    return check(target, endpoint_for(target), None)


def test_healthy_pods_are_ok_and_only_the_selected_ones_are_read(shop):
    shop["pod"]("web-1", containers=healthy())
    shop["pod"]("web-2", containers=healthy(restarts=2))
    shop["pod"](
        "db-0",
        phase="Failed",
        labels={"app": "db"},
        containers=[container_status("app", ready=False, state="terminated", reason="Error")],
    )
    result = run(shop)
    assert result.status == "ok", result.findings
    assert result.metrics == {"k8s.pods": 2, "k8s.pods_not_running": 0, "k8s.pods_not_ready": 0, "k8s.restarts_max": 2}
    pods = {p["name"]: p for p in result.details["pods"]}
    assert set(pods) == {"web-1", "web-2"}
    assert pods["web-2"]["restarts"] == 2 and pods["web-2"]["ready"] is True
    assert pods["web-1"]["containers"][0] == {
        "name": "app",
        "ready": True,
        "restarts": 0,
        "state": "running",
        "reason": None,
    }


def test_failed_and_pending_pods_are_critical(shop):
    shop["pod"]("web-1", containers=healthy())
    shop["pod"](
        "web-3",
        phase="Failed",
        containers=[container_status("app", ready=False, state="terminated", reason="OOMKilled")],
    )
    shop["pod"]("web-4", phase="Pending")  # never scheduled: no status at all
    result = run(shop)
    assert result.status == "critical"
    assert result.metrics["k8s.pods_not_running"] == 2
    messages = [f.message for f in result.findings if f.level == "critical"]
    assert "pod web-3 is Failed (OOMKilled)" in messages
    assert "pod web-4 is Pending" in messages
    pending = next(p for p in result.details["pods"] if p["name"] == "web-4")
    assert pending["ready"] is False and pending["containers"] == [] and pending["node"] is None


def test_crash_looping_pod_is_running_but_not_ready(shop):
    shop["pod"]("web-1", containers=healthy())
    shop["pod"](
        "web-5",
        containers=[container_status("app", ready=False, state="waiting", reason="CrashLoopBackOff", restarts=1)],
    )
    result = run(shop)
    assert result.status == "warning"
    assert result.metrics["k8s.pods_not_ready"] == 1
    assert result.findings[0].message == "pod web-5 is running but not ready (CrashLoopBackOff)"


def test_succeeded_pod_is_fine(shop):
    shop["pod"](
        "web-migrate",
        phase="Succeeded",
        containers=[container_status("app", ready=False, state="terminated", reason="Completed")],
    )
    assert run(shop).status == "ok"


def test_restarts_are_graded_by_thresholds(shop):
    shop["pod"]("web-1", containers=healthy(restarts=3))
    shop["pod"]("web-2", containers=healthy(restarts=1))
    result = run(shop)
    assert result.status == "warning"
    assert result.metrics["k8s.restarts_max"] == 3
    assert "pod web-1 restarted 3 times" in result.findings[0].message

    set_pod_status(shop["core"], shop["ns"], "web-1", "Running", healthy(restarts=12))  # it restarted again
    assert run(shop).status == "critical"
    assert run(shop, thresholds={"restarts_warning": 20, "restarts_critical": 50}).status == "ok"


def test_no_matching_pods_is_a_warning(shop):
    shop["pod"]("api-1", labels={"app": "api"}, containers=healthy())
    result = run(shop)
    assert result.status == "warning"
    assert result.metrics["k8s.pods"] == 0
    assert f"no pods in namespace {shop['ns']} match selector app=web" in result.findings[0].message


def test_the_role_is_all_aegis_may_do(shop, kube_cluster):
    """Aegis's token reads pods where its role is bound, and nothing else (deploy/aegis-rbac.yaml)."""
    aegis = connect(endpoint_for_conn("k8s"), 5)
    assert aegis.list_pods(shop["ns"]) == []
    with pytest.raises(ApiException) as denied:
        aegis.list_pods("default")  # no RoleBinding there
    assert denied.value.status == 403
    with pytest.raises(ApiException) as denied:
        aegis.core_v1.delete_namespaced_config_map("anything", shop["ns"], _request_timeout=5)
    assert denied.value.status == 403  # a verb the role does not grant
    with pytest.raises(ApiException) as denied:
        aegis.core_v1.read_namespaced_secret("anything", shop["ns"], _request_timeout=5)
    assert denied.value.status == 403  # secrets: list/create/update only


def test_api_server_that_never_answers_is_unreachable_within_the_timeout(silent_server, monkeypatch, tmp_path):
    config = tmp_path / "hung.kubeconfig"
    config.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{silent_server}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_K8S", json.dumps({"conn_type": "kubernetes", "extra": {"kube_config_path": str(config)}})
    )
    target = k8s_target("shop", timeout_seconds=2)
    started = time.monotonic()
    result = run_bounded(target.name, target.kind, lambda: check(target, endpoint_for(target), None), 30)
    assert result.status == "unreachable", result.findings
    assert time.monotonic() - started < 25
