"""High CPU and memory troubleshooting: real processes found on this host; the scale and restart actions on
the real API server of tests/servers/kube.py, through Aegis's own role (deploy/aegis-rbac.yaml)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from include.clients.kubernetes import connect
from include.incidents.host_usage import growth_since, restart_deployment, scale_deployment, top_processes
from include.targets import Endpoint
from tests.servers.kube import deployment


@pytest.fixture
def busy():
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def hog():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; x = bytearray(200 * 2**20); "
            "x[::4096] = b'1' * len(x[::4096]); print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    yield proc
    proc.kill()
    proc.wait()


def test_a_busy_process_is_among_the_top_cpu_users(busy):
    rows = top_processes("cpu", limit=500, sample_s=1.0)
    mine = [r for r in rows if r["pid"] == busy.pid]
    assert mine and mine[0]["cpu_pct"] > 10, mine
    assert [r["cpu_pct"] for r in rows] == sorted((r["cpu_pct"] for r in rows), reverse=True)
    assert set(rows[0]) == {"pid", "name", "user", "cpu_pct", "rss_bytes", "mem_pct"}  # no command line


def test_a_memory_hog_is_found_with_its_resident_size(hog):
    rows = top_processes("memory", limit=1000, sample_s=0.1)
    mine = [r for r in rows if r["pid"] == hog.pid]
    assert mine and mine[0]["rss_bytes"] >= 200 * 2**20, mine
    assert [r["rss_bytes"] for r in rows] == sorted((r["rss_bytes"] for r in rows), reverse=True)
    with pytest.raises(ValueError, match="'disk'"):
        top_processes("disk")


def test_growth_since_the_last_check():
    assert growth_since({"host.memory_pct": 60.0, "other": 1}, {"host.memory_pct": 75.5}) == {"host.memory_pct": 15.5}
    assert growth_since({}, {"host.memory_pct": 75.5}) == {}


def test_scale_and_restart_patch_the_deployment(kube_cluster, kube_namespace):
    from kubernetes import client

    admin = client.AppsV1Api(kube_cluster.api())
    admin.create_namespaced_deployment(kube_namespace, deployment("game-server", "app", "game:v1", replicas=3))
    apps = connect(Endpoint(extra={"kube_config_path": str(kube_cluster.aegis_kubeconfig)}), 10).apps_v1
    assert scale_deployment(apps, kube_namespace, "game-server", 10) == 3
    assert admin.read_namespaced_deployment("game-server", kube_namespace).spec.replicas == 10
    with pytest.raises(ValueError, match="at least 1"):
        scale_deployment(apps, kube_namespace, "game-server", 0)
    stamp = restart_deployment(apps, kube_namespace, "game-server")
    annotations = admin.read_namespaced_deployment("game-server", kube_namespace).spec.template.metadata.annotations
    assert annotations["kubectl.kubernetes.io/restartedAt"] == stamp
