"""Kubernetes check through the REAL KubeClient around a FAKE CoreV1Api returning REAL V1Pod objects."""

from __future__ import annotations

from kubernetes.client import V1Pod
from urllib3.exceptions import MaxRetryError

from include.checks.base import run_bounded
from include.checks.kubernetes import check
from include.inventory import parse_inventory
from include.clients.kubernetes import KubeClient, pod_summary
from include.targets import Endpoint
from tests.fakes import FakeCoreV1Api, make_pod


def k8s_target(**fields):
    return parse_inventory({"targets": [{"name": "web", "kind": "kubernetes", "conn_id": "k8s",
                                         "namespace": "shop", "label_selector": "app=web",
                                         "timeout_seconds": 6, **fields}]}).targets[0]


def healthy(name: str, restarts: int = 0, **kwargs) -> V1Pod:
    return make_pod(name, namespace="shop", labels={"app": "web"},
                    containers=[{"name": "app", "restarts": restarts}, {"name": "sidecar"}], **kwargs)


def run(pods, target=None):
    api = FakeCoreV1Api(pods)
    target = target or k8s_target()
    return check(target, Endpoint(), None, client=KubeClient(api, target.timeout_seconds)), api


def test_pod_summary_from_a_real_v1pod():
    pod = make_pod("web-1", namespace="shop", node="node-7", containers=[
        {"name": "app", "ready": False, "restarts": 4, "state": "waiting", "reason": "CrashLoopBackOff"},
        {"name": "sidecar", "ready": True, "restarts": 1},
    ])
    summary = pod_summary(pod)
    assert summary["name"] == "web-1" and summary["phase"] == "Running" and summary["node"] == "node-7"
    assert summary["ready"] is False
    assert summary["restarts"] == 5
    assert summary["containers"][0] == {"name": "app", "ready": False, "restarts": 4,
                                        "state": "waiting", "reason": "CrashLoopBackOff"}


def test_pending_pod_without_container_statuses_is_not_ready():
    summary = pod_summary(make_pod("web-2", phase="Pending", node=None, containers=None))
    assert summary == {"name": "web-2", "phase": "Pending", "ready": False, "restarts": 0,
                       "containers": [], "node": None}


def test_healthy_pods_are_ok_and_the_request_is_scoped_and_bounded():
    others = make_pod("db-0", namespace="shop", labels={"app": "db"}, phase="Failed", containers=[])
    result, api = run([healthy("web-1"), healthy("web-2", restarts=2), others])
    assert result.status == "ok", result.findings
    assert result.metrics == {"k8s.pods": 2, "k8s.pods_not_running": 0, "k8s.pods_not_ready": 0,
                              "k8s.restarts_max": 2}
    assert api.calls == [{"namespace": "shop", "label_selector": "app=web", "_request_timeout": 6.0}]
    assert [p["name"] for p in result.details["pods"]] == ["web-1", "web-2"]


def test_failed_and_pending_pods_are_critical():
    crashing = make_pod("web-3", phase="Failed", namespace="shop", labels={"app": "web"}, containers=[
        {"name": "app", "ready": False, "state": "terminated", "reason": "OOMKilled"}])
    pending = make_pod("web-4", phase="Pending", namespace="shop", labels={"app": "web"}, node=None)
    result, _ = run([healthy("web-1"), crashing, pending])
    assert result.status == "critical"
    assert result.metrics["k8s.pods_not_running"] == 2
    messages = [f.message for f in result.findings if f.level == "critical"]
    assert "pod web-3 is Failed (OOMKilled)" in messages
    assert "pod web-4 is Pending" in messages


def test_running_pod_not_ready_is_a_warning():
    unready = make_pod("web-5", namespace="shop", labels={"app": "web"}, containers=[
        {"name": "app", "ready": False, "state": "waiting", "reason": "CrashLoopBackOff", "restarts": 1}])
    result, _ = run([healthy("web-1"), unready])
    assert result.status == "warning"
    assert result.metrics["k8s.pods_not_ready"] == 1
    assert result.findings[0].message == "pod web-5 is running but not ready (CrashLoopBackOff)"


def test_succeeded_pod_is_fine():
    job = make_pod("web-migrate", phase="Succeeded", namespace="shop", labels={"app": "web"}, containers=[
        {"name": "migrate", "ready": False, "state": "terminated", "reason": "Completed"}])
    result, _ = run([job])
    assert result.status == "ok"


def test_restarts_are_graded_by_thresholds():
    result, _ = run([healthy("web-1", restarts=3), healthy("web-2", restarts=1)])
    assert result.status == "warning"
    assert result.metrics["k8s.restarts_max"] == 3
    assert "pod web-1 restarted 3 times" in result.findings[0].message

    result, _ = run([healthy("web-1", restarts=12)])
    assert result.status == "critical"

    lenient = k8s_target(thresholds={"restarts_warning": 20, "restarts_critical": 50})
    result, _ = run([healthy("web-1", restarts=12)], lenient)
    assert result.status == "ok"


def test_no_matching_pods_is_a_warning():
    result, _ = run([make_pod("api-1", namespace="shop", labels={"app": "api"}, containers=[])])
    assert result.status == "warning"
    assert result.metrics["k8s.pods"] == 0
    assert "no pods in namespace shop match selector app=web" in result.findings[0].message


def test_api_server_unreachable_becomes_unreachable():
    target = k8s_target()
    api = FakeCoreV1Api([], error=MaxRetryError(None, "/api/v1/namespaces/shop/pods", "Connection refused"))
    result = run_bounded(target.name, target.kind,
                         lambda: check(target, Endpoint(), None, client=KubeClient(api, 6)), 5)
    assert result.status == "unreachable"
    assert "MaxRetryError" in result.findings[0].message
