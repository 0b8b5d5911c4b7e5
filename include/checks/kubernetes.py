"""Kubernetes check: are the selected pods running, ready and not restarting?

Pods not ``Running``/``Succeeded`` are critical, ``Running`` pods that are not
ready are a warning, and each pod's restart count is graded with
``restarts_warning`` / ``restarts_critical``. No pod matching the selector is a
warning: a selector that finds nothing checks nothing.
"""

from __future__ import annotations

from typing import Any

from include.checks.base import CRITICAL, OK, WARNING, CheckResult, level_for
from include.inventory import Target
from include.targets import Endpoint

HEALTHY_PHASES = {"Running", "Succeeded"}
MAX_LISTED = 50


def waiting_reasons(pod: dict[str, Any]) -> str:
    """``" (CrashLoopBackOff, ...)"`` from the pod's non-running containers, or an empty string."""
    reasons = sorted({c["reason"] for c in pod["containers"] if c["reason"] and c["state"] != "running"})
    return f" ({', '.join(reasons)})" if reasons else ""


def grade_pod(result: CheckResult, pod: dict[str, Any], thresholds: dict[str, float]) -> None:
    """Findings for one pod: bad phase, not ready, too many restarts."""
    name = pod["name"]
    if pod["phase"] not in HEALTHY_PHASES:
        result.add(CRITICAL, f"pod {name} is {pod['phase']}{waiting_reasons(pod)}")
    elif pod["phase"] == "Running" and not pod["ready"]:
        result.add(WARNING, f"pod {name} is running but not ready{waiting_reasons(pod)}")
    level = level_for(pod["restarts"], thresholds.get("restarts_warning"), thresholds.get("restarts_critical"))
    if level != OK:
        result.add(
            level,
            f"pod {name} restarted {pod['restarts']} times "
            f"(warning at {thresholds.get('restarts_warning'):g}, "
            f"critical at {thresholds.get('restarts_critical'):g})",
        )


def check(target: Target, endpoint: Endpoint, window=None, client=None) -> CheckResult:
    """Grade the pods selected by ``options.namespace`` / ``options.label_selector``."""
    from include.clients.kubernetes import connect

    result = CheckResult(target.name, target.kind)
    namespace = target.options.get("namespace", "default")
    selector = target.options.get("label_selector", "")
    if client is None:
        client = connect(endpoint, target.timeout_seconds)
    pods = client.list_pods(namespace, selector)

    for pod in pods:
        grade_pod(result, pod, target.thresholds)
    if not pods:
        result.add(WARNING, f"no pods in namespace {namespace} match selector {selector or '<all>'}")

    result.metrics["k8s.pods"] = float(len(pods))
    result.metrics["k8s.pods_not_running"] = float(sum(p["phase"] not in HEALTHY_PHASES for p in pods))
    result.metrics["k8s.pods_not_ready"] = float(sum(p["phase"] == "Running" and not p["ready"] for p in pods))
    result.metrics["k8s.restarts_max"] = float(max((p["restarts"] for p in pods), default=0))
    result.details.update(namespace=namespace, label_selector=selector, pods=pods[:MAX_LISTED])
    return result
