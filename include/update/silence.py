"""Alertmanager silences for the window (API v2), scoped to the update's targets.

A silence matches ``<label>=~"t1|t2"`` (the label alerts carry the target name in; ``target`` by
default), runs from the window's start to its end, is created by ``aegis`` and names the run in
its comment. That comment is how a retry finds the silence it already made (never two) and how
the teardown expires every silence of the run, even one whose creating task crashed.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import requests

from include.checks.http_service import base_url, basic_auth, join_url

log = logging.getLogger(__name__)
CREATED_BY = "aegis"
TIMEOUT_S = 10.0


def _comment(run_id: str) -> str:
    return f"aegis planned_update run {run_id}"


def matcher_for(label: str, targets: list[str]) -> dict[str, Any]:
    """One regex matcher on ``label`` matching exactly the target names (Alertmanager anchors it)."""
    return {"name": label, "value": "|".join(re.escape(t) for t in targets), "isRegex": True, "isEqual": True}


def run_silences(endpoint, run_id: str) -> list[dict[str, Any]]:
    """Silences this run made that are still active or pending."""
    response = requests.get(join_url(base_url(endpoint), "/api/v2/silences"), timeout=TIMEOUT_S,
                            auth=basic_auth(endpoint))
    response.raise_for_status()
    return [s for s in response.json() if s.get("createdBy") == CREATED_BY and s.get("comment") == _comment(run_id)
            and (s.get("status") or {}).get("state") in ("active", "pending")]


def create(endpoint, run_id: str, label: str, targets: list[str], starts_at: str, ends_at: str) -> str:
    """Create the run's silence (or return the one a previous try made); returns its id."""
    existing = run_silences(endpoint, run_id)
    if existing:
        log.info("silence %s of this run already exists", existing[0]["id"])
        return existing[0]["id"]
    body = {"matchers": [matcher_for(label, targets)], "startsAt": starts_at, "endsAt": ends_at,
            "createdBy": CREATED_BY, "comment": _comment(run_id)}
    response = requests.post(join_url(base_url(endpoint), "/api/v2/silences"), json=body, timeout=TIMEOUT_S,
                             auth=basic_auth(endpoint))
    response.raise_for_status()
    silence_id = response.json()["silenceID"]
    log.info("silence %s: %s=~%s from %s to %s", silence_id, label, body["matchers"][0]["value"], starts_at, ends_at)
    return silence_id


def expire(endpoint, run_id: str) -> list[str]:
    """Expire every active or pending silence of the run; returns their ids (none left is fine)."""
    expired = []
    for s in run_silences(endpoint, run_id):
        response = requests.delete(join_url(base_url(endpoint), f"/api/v2/silence/{s['id']}"), timeout=TIMEOUT_S,
                                   auth=basic_auth(endpoint))
        if response.status_code != 404:  # already gone is what we want
            response.raise_for_status()
        expired.append(s["id"])
    log.info("expired silence(s): %s", expired or "none left")
    return expired
