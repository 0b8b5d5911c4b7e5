"""Prometheus client (HTTP API v1): instant queries, and a host's free disk space from its node_exporter metrics.

Each call is bounded by ``timeout_s``; an unreachable server raises ``requests.RequestException``, an error
answer ``requests.HTTPError`` or :class:`ValueError`, a missing series :class:`LookupError`.
"""

from __future__ import annotations

import json
from typing import Any

from include.clients import http
from include.targets import Endpoint

QUERY_PATH = "/api/v1/query"
#: node_exporter's bytes available to unprivileged users on a filesystem (labels: instance, mountpoint, …)
FREE_METRIC = "node_filesystem_avail_bytes"


def label_value(value: str) -> str:
    """``value`` as a PromQL string literal (quotes and backslashes escaped)."""
    return json.dumps(value)


def query(endpoint: Endpoint, expr: str, *, timeout_s: float) -> list[dict[str, Any]]:
    """The instant vector ``expr`` evaluates to now: ``[{"metric": {labels}, "value": [ts, "number"]}, …]``."""
    response = http.request(endpoint, "GET", QUERY_PATH, timeout_s=timeout_s, params={"query": expr})
    response.raise_for_status()
    body = response.json()
    if body.get("status") != "success" or body.get("data", {}).get("resultType") != "vector":
        raise ValueError(f"Prometheus answered {body.get('status')!r}: {body.get('error') or 'not an instant vector'}")
    return body["data"]["result"]


def under(path: str, mountpoint: str) -> bool:
    """Whether ``path`` is on ``mountpoint`` (the mount folder itself or below it)."""
    mount = mountpoint.rstrip("/") or "/"
    return mount == "/" or path == mount or path.startswith(mount + "/")


def free_bytes(
    endpoint: Endpoint, instance: str, *, timeout_s: float, mountpoint: str | None = None, path: str | None = None
) -> tuple[int, str]:
    """``(bytes available, mountpoint)`` of host ``instance``'s filesystem: ``mountpoint`` when given, else the
    deepest mountpoint holding ``path`` (a server's data folder). :class:`LookupError` when Prometheus has no
    current series for it (node_exporter down, wrong instance or mountpoint)."""
    series = query(endpoint, f"{FREE_METRIC}{{instance={label_value(instance)}}}", timeout_s=timeout_s)
    by_mount: dict[str, int] = {}
    for s in series:
        mount = s["metric"].get("mountpoint", "")
        value = int(float(s["value"][1]))
        by_mount[mount] = min(value, by_mount.get(mount, value))  # the same mountpoint twice: the smaller
    if not by_mount:
        raise LookupError(f"Prometheus has no current {FREE_METRIC} series for instance {instance!r}")
    if mountpoint:
        if mountpoint not in by_mount:
            raise LookupError(f"Prometheus has no {FREE_METRIC} of mountpoint {mountpoint!r} for instance {instance!r}")
        return by_mount[mountpoint], mountpoint
    holding = [m for m in by_mount if path and under(path, m)]
    if not holding:
        raise LookupError(f"no mountpoint of instance {instance!r} holds {path!r} (known: {sorted(by_mount)})")
    best = max(holding, key=len)
    return by_mount[best], best
