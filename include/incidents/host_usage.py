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
