"""Airflow's own REST API (``/api/v2``), for routines that read Aegis's run history from Airflow.

The only place Aegis opens an HTTP client to Airflow: a JWT from ``/auth/token`` when a login is given,
every request bounded by ``timeout_s``; the password goes in the request body, never in a URL or a log.
"""

from __future__ import annotations

import httpx

TIMEOUT_S = 30.0


def api_client(base_url: str, login: str | None, password: str | None, timeout_s: float = TIMEOUT_S) -> httpx.Client:
    """A client for ``base_url`` holding a JWT from ``/auth/token`` when a login is given."""
    client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s)
    if login:
        answer = client.post("/auth/token", json={"username": login, "password": password or ""})
        answer.raise_for_status()
        client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    return client
