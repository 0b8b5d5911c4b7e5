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

from include.clients import alertmanager

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
    return [
        s
        for s in alertmanager.silences(endpoint, timeout_s=TIMEOUT_S)
        if s.get("createdBy") == CREATED_BY
        and s.get("comment") == _comment(run_id)
        and (s.get("status") or {}).get("state") in ("active", "pending")
    ]


def create(endpoint, run_id: str, label: str, targets: list[str], starts_at: str, ends_at: str) -> str:
    """Create the run's silence (or return the one a previous try made); returns its id."""
    existing = run_silences(endpoint, run_id)
    if existing:
        log.info("silence %s of this run already exists", existing[0]["id"])
        return existing[0]["id"]
    body: dict[str, Any] = {
        "matchers": [matcher_for(label, targets)],
        "startsAt": starts_at,
        "endsAt": ends_at,
        "createdBy": CREATED_BY,
        "comment": _comment(run_id),
    }
    silence_id = alertmanager.create_silence(endpoint, body, timeout_s=TIMEOUT_S)
    log.info("silence %s: %s=~%s from %s to %s", silence_id, label, body["matchers"][0]["value"], starts_at, ends_at)
    return silence_id


def expire(endpoint, run_id: str) -> list[str]:
    """Expire every active or pending silence of the run; returns their ids (none left is fine)."""
    expired = []
    for s in run_silences(endpoint, run_id):
        alertmanager.expire_silence(endpoint, s["id"], timeout_s=TIMEOUT_S)  # already gone is what we want
        expired.append(s["id"])
    log.info("expired silence(s): %s", expired or "none left")
    return expired
