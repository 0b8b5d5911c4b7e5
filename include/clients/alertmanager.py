"""Alertmanager client (API v2): firing alerts and silences, over :mod:`include.clients.http`.

Each call is bounded by ``timeout_s`` and raises on an error status or a redirect (``requests.HTTPError``).
"""

from __future__ import annotations

from typing import Any

from include.clients import http
from include.targets import Endpoint

ALERTS_PATH = "/api/v2/alerts"
SILENCES_PATH = "/api/v2/silences"


def alerts(endpoint: Endpoint, *, timeout_s: float, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The alert objects matching ``params`` (``active``, ``silenced``, ``inhibited`` filters)."""
    response = http.request(endpoint, "GET", ALERTS_PATH, timeout_s=timeout_s, params=params)
    http.raise_for_status(response)
    found = response.json()
    if not isinstance(found, list):
        raise ValueError(f"expected a JSON list from {ALERTS_PATH}, got {type(found).__name__}")
    return found


def silences(endpoint: Endpoint, *, timeout_s: float) -> list[dict[str, Any]]:
    """Every silence Alertmanager knows (any state)."""
    response = http.request(endpoint, "GET", SILENCES_PATH, timeout_s=timeout_s)
    http.raise_for_status(response)
    return response.json()


def create_silence(endpoint: Endpoint, body: dict[str, Any], *, timeout_s: float) -> str:
    """Post a silence; returns its id."""
    response = http.request(endpoint, "POST", SILENCES_PATH, timeout_s=timeout_s, json=body)
    http.raise_for_status(response)
    return response.json()["silenceID"]


def expire_silence(endpoint: Endpoint, silence_id: str, *, timeout_s: float) -> None:
    """Expire one silence; one that is already gone (404) is fine."""
    response = http.request(endpoint, "DELETE", f"/api/v2/silence/{silence_id}", timeout_s=timeout_s)
    if response.status_code != 404:
        http.raise_for_status(response)
