"""planned_update through dag.test() with ``k8s_image`` on a REAL API server and controller-manager
(tests/servers/kube.py), Aegis running with the token of its role (deploy/aegis-rbac.yaml).

The controller-manager makes the new ReplicaSet; a background thread plays the kubelet: pods of the good images
become Ready, pods of any other image crash-loop and never become Ready, so that rollout times out and the
rollback sets the previous image back, which the Deployment then really runs again. Redis (maintenance flag) is
real; so is the Alertmanager (a private instance, tests/servers/fixtures.py).
"""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet
from kubernetes import client

from tests.helpers import write_inventory
from tests.servers.kube import Kubelet, deployment, wait_for_deployment
from tests.test_planned_update import (
    assert_left_clean,
    output,
    report_of,
    states,
    the_dag,
)

GOOD_IMAGES = {"game:1.4", "game:1.5"}


@pytest.fixture
def game(tmp_path, monkeypatch, redis_server, kube_cluster, kube_namespace, fresh_alertmanager):
    ns = kube_namespace
    api = kube_cluster.api()
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(ns, deployment("game-server", "game-server", "game:1.4"))
    core.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="game-config"), data={"players_max": "64"})
    )
    core.create_namespaced_secret(
        ns,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="game-db"), string_data={"password": "game-secret-never-shown"}
        ),
    )
    am = fresh_alertmanager
    inv = write_inventory(
        tmp_path,
        f"""
        catalog: {{path: catalog.db}}
        artifacts: {{base: artifacts}}
        maintenance: {{redis_conn_id: pu_cache}}
        targets:
          - {{name: game, kind: kubernetes, conn_id: pu_k8s, namespace: {ns}, label_selector: app=game-server}}
          - {{name: cache, kind: redis, conn_id: pu_cache}}
          - {{name: am, kind: alertmanager, conn_id: pu_am}}
    """,
    )
    monkeypatch.setenv("AEGIS_INVENTORY", str(inv))
    monkeypatch.setenv("AIRFLOW_CONN_PU_K8S", kube_cluster.connection())
    monkeypatch.setenv("AIRFLOW_CONN_PU_CACHE", f"redis://127.0.0.1:{redis_server}/0")
    monkeypatch.setenv("AIRFLOW_CONN_PU_AM", f"http://127.0.0.1:{am.port}")
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEGIS_BACKUP_KEY",
        json.dumps({"conn_type": "generic", "password": Fernet.generate_key().decode()}),
    )
    with Kubelet(kube_cluster, ns, GOOD_IMAGES) as kubelet:
        wait_for_deployment(kube_cluster, ns, "game-server")
        yield {
            "tmp": tmp_path,
            "ns": ns,
            "apps": apps,
            "core": core,
            "kubelet": kubelet,
            "cluster": kube_cluster,
            "redis": redis_server,
            "am": am,
        }


def conf(image: str, rollout_timeout_s: int) -> dict:
    return {
        "dry_run": False,
        "confirm": "game",
        "drain_timeout_minutes": 0.1,
        "update_kind": "k8s_image",
        "update_target": "game",
        "deployment": "game-server",
        "container": "game-server",
        "image": image,
        "rollout_timeout_seconds": rollout_timeout_s,
        "maintenance_configmap": "game-config",
        "targets": ["cache"],
    }


def running(game) -> tuple[str, dict[str, int]]:
    """The Deployment's image now, and image -> replicas of each ReplicaSet the controller-manager made."""
    dep = game["apps"].read_namespaced_deployment("game-server", game["ns"])
    sets = game["apps"].list_namespaced_replica_set(game["ns"], label_selector="app=game-server").items
    return (
        dep.spec.template.spec.containers[0].image,
        {rs.spec.template.spec.containers[0].image: rs.spec.replicas for rs in sets},
    )


def maintenance_value(game) -> str | None:
    return game["core"].read_namespaced_config_map("game-config", game["ns"]).data.get("maintenance_mode")


def test_k8s_image_whose_pods_never_become_ready_is_rolled_back(airflow_db, game, capfd, caplog):
    run = the_dag().test(run_conf=conf("game:1.5-bad", 10))
    s = states(run)
    assert run.state == "failed", s
    assert s["pre_update_backup"] == "success" and s["apply_update"] == "failed", s
    assert s["rollback"] == "success" and s["promote"] == "skipped", s
    assert s["maintenance_off"] == "success" and s["expire_silence"] == "success", s
    assert "crash-looping" in game["kubelet"].seen.values()  # the new ReplicaSet's pod was made and crash-looped

    dep = wait_for_deployment(game["cluster"], game["ns"], "game-server", 30)
    assert dep.status.available_replicas == 2
    assert running(game) == ("game:1.4", {"game:1.4": 2, "game:1.5-bad": 0})
    assert maintenance_value(game) == "false"
    assert_left_clean(game, run)
    report = report_of(game, run)
    assert report["outcome"] == "rolled-back"
    why = json.dumps(report["summary"]["reasons"])
    assert f"rollout of {game['ns']}/game-server not done within 10s" in why, why
    text = output(capfd, caplog)
    assert "DECISION: ROLLBACK" in text
    assert "game-secret-never-shown" not in text


def test_k8s_image_whose_pods_become_ready_is_promoted(airflow_db, game, capfd, caplog):
    run = the_dag().test(run_conf=conf("game:1.5", 60))
    s = states(run)
    assert run.state == "success", s
    assert s["apply_update"] == "success" and s["promote"] == "success", s
    assert s["rollback"] == "skipped" and s["tests_after_rollback"] == "skipped", s
    assert running(game) == ("game:1.5", {"game:1.4": 0, "game:1.5": 2})
    assert wait_for_deployment(game["cluster"], game["ns"], "game-server", 5).status.available_replicas == 2
    assert maintenance_value(game) == "false"
    assert_left_clean(game, run)
    assert report_of(game, run)["outcome"] == "promoted"
    assert "DECISION: PROMOTE" in output(capfd, caplog)


def test_k8s_image_dry_run_only_reads(airflow_db, game, capfd, caplog):
    before = running(game)
    run = the_dag().test(run_conf={**conf("game:1.5", 60), "dry_run": True})
    assert run.state == "success", states(run)
    assert running(game) == before == ("game:1.4", {"game:1.4": 2})
    assert maintenance_value(game) is None  # the ConfigMap was not touched
    assert game["am"].silences() == []  # a dry run creates no silence
    assert report_of(game, run)["outcome"] == "dry-run"
    assert "DRY RUN: would set image" in output(capfd, caplog)
