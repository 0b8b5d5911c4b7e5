"""High-CPU troubleshooting on Kubernetes: autoscaler state and pods by usage on the REAL API server and
controller-manager of tests/servers/kube.py, through Aegis's own role (deploy/aegis-rbac.yaml). The test cluster
has no metrics-server, so the metrics API's absence is tested for real; the usage parsing as pure functions."""

from __future__ import annotations

import importlib.util
import time
from types import SimpleNamespace

import jinja2
import pytest
from kubernetes import client

from include.clients.kubernetes import (
    METRICS_UNAVAILABLE,
    connect,
    parse_cpu,
    parse_memory,
    pod_resources,
    pod_usage,
)
from include.incidents.host_usage import (
    AT_MAX_FINDING,
    autoscaler_note,
    autoscaler_state,
    deployment_selector,
    pods_by_usage,
)
from include.targets import Endpoint
from tests.helpers import REPO, write_inventory
from tests.servers.kube import deployment


def test_cpu_and_memory_quantities():
    assert parse_cpu("250m") == 0.25
    assert parse_cpu("1") == 1.0
    assert parse_cpu("1.5") == 1.5
    assert parse_cpu("12500000n") == pytest.approx(0.0125)
    assert parse_memory("128Mi") == 128 * 2**20
    assert parse_memory("1Gi") == 2**30
    assert parse_memory("1G") == 10**9
    assert parse_memory("512") == 512
    assert parse_memory("100Ki") == 102400
    with pytest.raises(ValueError, match="'lots'"):
        parse_cpu("lots")
    with pytest.raises(ValueError, match="'12Qi'"):
        parse_memory("12Qi")


def test_pod_metrics_item_is_summed_over_containers():
    item = {
        "metadata": {"name": "web-1"},
        "containers": [
            {"name": "app", "usage": {"cpu": "250m", "memory": "128Mi"}},
            {"name": "sidecar", "usage": {"cpu": "1", "memory": "1Gi"}},
        ],
    }
    assert pod_usage(item) == {"name": "web-1", "cpu_cores": 1.25, "memory_bytes": 128 * 2**20 + 2**30}


def test_requests_and_limits_of_a_pod():
    def container(name, requests, limits):
        return client.V1Container(
            name=name, image="x", resources=client.V1ResourceRequirements(requests=requests, limits=limits)
        )

    pod = client.V1Pod(
        spec=client.V1PodSpec(
            containers=[
                container("a", {"cpu": "250m", "memory": "128Mi"}, {"cpu": "1"}),
                container("b", {"cpu": "500m"}, None),
            ]
        )
    )
    assert pod_resources(pod) == {
        "requests": {"cpu_cores": 0.75, "memory_bytes": 128 * 2**20},
        "limits": {"cpu_cores": 1.0, "memory_bytes": None},
    }


def hpa(name: str, target: str, min_replicas: int, max_replicas: int, cpu_pct: int) -> client.V1HorizontalPodAutoscaler:
    return client.V1HorizontalPodAutoscaler(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1HorizontalPodAutoscalerSpec(
            scale_target_ref=client.V1CrossVersionObjectReference(
                api_version="apps/v1", kind="Deployment", name=target
            ),
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            target_cpu_utilization_percentage=cpu_pct,
        ),
    )


def with_resources(dep):
    dep.spec.template.spec.containers[0].resources = client.V1ResourceRequirements(
        requests={"cpu": "250m", "memory": "128Mi"}, limits={"cpu": "1", "memory": "1Gi"}
    )
    return dep


@pytest.fixture
def cluster_world(kube_cluster, kube_namespace):
    """Two deployments (3 and 2 replicas), an HPA at its max on the first, one with room on the second, one
    on a third deployment; a lone pod ``app=solo`` with requests and limits; waits for the controller-manager
    to create the first deployment's three pods."""
    api = kube_cluster.api()
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    auto = client.AutoscalingV1Api(api)
    ns = kube_namespace
    apps.create_namespaced_deployment(ns, with_resources(deployment("game-server", "app", "game:v1", replicas=3)))
    apps.create_namespaced_deployment(ns, deployment("lobby", "app", "lobby:v1", replicas=2))
    auto.create_namespaced_horizontal_pod_autoscaler(ns, hpa("game-hpa", "game-server", 2, 3, 70))
    auto.create_namespaced_horizontal_pod_autoscaler(ns, hpa("lobby-hpa", "lobby", 1, 5, 60))
    auto.create_namespaced_horizontal_pod_autoscaler(ns, hpa("other-hpa", "elsewhere", 1, 2, 50))
    template = with_resources(deployment("game-server", "app", "game:v1")).spec.template
    core.create_namespaced_pod(
        ns,
        client.V1Pod(metadata=client.V1ObjectMeta(name="solo-1", labels={"app": "solo"}), spec=template.spec),
    )
    deadline = time.monotonic() + 60
    while len(core.list_namespaced_pod(ns, label_selector="app=game-server").items) < 3:
        assert time.monotonic() < deadline, "the controller-manager made no game-server pods within 60 s"
        time.sleep(0.3)
    aegis = connect(Endpoint(extra={"kube_config_path": str(kube_cluster.aegis_kubeconfig)}), 10)
    return SimpleNamespace(ns=ns, apps=apps, auto=auto, aegis=aegis, cluster=kube_cluster)


def test_autoscalers_of_a_deployment_with_their_numbers(cluster_world):
    w = cluster_world
    [game] = autoscaler_state(w.aegis, w.ns, "game-server")
    assert game["name"] == "game-hpa" and game["target"] == "Deployment/game-server"
    assert (game["min_replicas"], game["max_replicas"], game["target_cpu_pct"]) == (2, 3, 70)
    assert game["current_replicas"] == 3
    assert game["at_max"] is True and game["findings"] == [AT_MAX_FINDING]

    [lobby] = autoscaler_state(w.aegis, w.ns, "lobby")
    assert (lobby["min_replicas"], lobby["max_replicas"], lobby["target_cpu_pct"]) == (1, 5, 60)
    assert lobby["current_replicas"] == 2
    assert lobby["at_max"] is False and lobby["findings"] == []
    assert autoscaler_state(w.aegis, w.ns, "nobody-targets-me") == []

    note = autoscaler_note([game, lobby])
    assert "HPA game-hpa: replicas 3" in note and "max 3" in note and "target 70 %" in note
    assert note.count("raise maxReplicas") == 1


def test_pods_without_metrics_server_are_listed_with_requests_limits_and_a_note(cluster_world):
    w = cluster_world
    found = pods_by_usage(w.aegis, w.ns, "app=solo")
    assert found["metrics_available"] is False
    assert found["note"] == METRICS_UNAVAILABLE
    [pod] = found["pods"]
    assert pod["name"] == "solo-1" and pod["restarts"] == 0
    assert pod["requests"] == {"cpu_cores": 0.25, "memory_bytes": 128 * 2**20}
    assert pod["limits"] == {"cpu_cores": 1.0, "memory_bytes": 2**30}
    assert "usage" not in pod


class FakeMetricsClient:
    """FAKE (labelled): a client whose cluster serves the metrics API, which the test cluster cannot (no
    metrics-server); the pods come as ``list_pods_with_resources`` gives them."""

    def __init__(self, pods, usage):
        self.pods, self.usage = pods, usage

    def list_pods_with_resources(self, namespace, label_selector=""):
        return [dict(p) for p in self.pods]

    def pod_metrics(self, namespace, label_selector=""):
        return [pod_usage(u) for u in self.usage]


def test_pods_are_sorted_by_cpu_use_when_the_metrics_api_answers():
    pods = [{"name": n, "restarts": r} for n, r in (("a", 5), ("b", 0), ("c", 1))]
    usage = [
        {"metadata": {"name": "a"}, "containers": [{"usage": {"cpu": "100m", "memory": "64Mi"}}]},
        {"metadata": {"name": "b"}, "containers": [{"usage": {"cpu": "1500m", "memory": "1Gi"}}]},
    ]
    found = pods_by_usage(FakeMetricsClient(pods, usage), "ns")
    assert found["metrics_available"] is True and found["note"] is None
    assert [p["name"] for p in found["pods"]] == ["b", "a", "c"]
    assert found["pods"][0]["usage"] == {"cpu_cores": 1.5, "memory_bytes": 2**30}
    assert found["pods"][2]["usage"] == {"cpu_cores": None, "memory_bytes": None}  # no metrics for c yet


def test_a_missing_deployment_is_named(cluster_world):
    assert deployment_selector(cluster_world.aegis, cluster_world.ns, "game-server") == "app=game-server"
    with pytest.raises(LookupError, match="'ghost'"):
        deployment_selector(cluster_world.aegis, cluster_world.ns, "ghost")


def load_dag_module():
    spec = importlib.util.spec_from_file_location(
        "troubleshoot_high_cpu_under_test", REPO / "dags" / "troubleshoot_high_cpu.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class AnswersTI:
    """Stands in for the task instance's ``xcom_pull``: what the earlier tasks returned (labelled fake)."""

    def __init__(self, answers):
        self.answers = answers

    def xcom_pull(self, task_ids):
        return self.answers.get(task_ids)


def test_the_dag_tasks_end_to_end(cluster_world, tmp_path, monkeypatch):
    w = cluster_world
    inv = write_inventory(
        tmp_path,
        f"""
        catalog: {{path: catalog.db}}
        artifacts: {{base: artifacts}}
        targets:
          - {{name: game, kind: kubernetes, conn_id: cpu_k8s, namespace: {w.ns}}}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inv))
    monkeypatch.setenv("AIRFLOW_CONN_CPU_K8S", w.cluster.connection())
    module = load_dag_module()
    dag = module.troubleshoot_high_cpu()
    params = {
        "incident_id": None,
        "kubernetes_target": "game",
        "namespace": w.ns,
        "deployment": "game-server",
        "replicas": 5,
    }
    answers: dict = {}
    ti = AnswersTI(answers)
    monkeypatch.setattr(module, "get_current_context", lambda: {"params": params, "ti": ti})

    pods = dag.task_dict["pods"].python_callable()
    assert pods["note"] == METRICS_UNAVAILABLE and len(pods["pods"]) == 3  # the deployment's, not solo-1
    assert all(p["name"].startswith("game-server-") for p in pods["pods"])
    assert all(p["requests"] == {"cpu_cores": 0.25, "memory_bytes": 128 * 2**20} for p in pods["pods"])
    scalers = dag.task_dict["autoscalers"].python_callable()
    assert [a["name"] for a in scalers["autoscalers"]] == ["game-hpa"] and AT_MAX_FINDING in scalers["note"]
    answers["autoscalers"] = scalers

    body = dag.task_dict["approve_scale"].body
    text = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(body).render(params=params, ti=ti)
    assert f"Scale deployment {w.ns}/game-server to 5 replicas?" in text and AT_MAX_FINDING in text
    rejected = (
        jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(body).render(params=params, ti=AnswersTI({}))
    )
    assert "Autoscaler state unknown." in rejected

    from airflow.sdk.exceptions import AirflowSkipException

    answers["approve_scale"] = {"chosen_options": ["Reject"]}
    with pytest.raises(AirflowSkipException):
        dag.task_dict["scale"].python_callable()
    assert w.apps.read_namespaced_deployment("game-server", w.ns).spec.replicas == 3
    answers["approve_scale"] = {"chosen_options": ["Approve"], "responded_by_user": {"name": "oncall"}}
    assert dag.task_dict["scale"].python_callable() == {
        "deployment": "game-server",
        "replicas_before": 3,
        "replicas": 5,
    }
    assert w.apps.read_namespaced_deployment("game-server", w.ns).spec.replicas == 5
