"""Where artifacts (reports, later backups) go: ``ObjectStoragePath`` under the inventory's base.

``file:///...`` by default, ``s3://bucket/prefix`` with ``artifacts.conn_id``
naming an AWS connection in production.
"""

from __future__ import annotations

import re
from datetime import datetime


def artifact_folder(inventory, *parts: str):
    """``<artifacts base>/<parts...>`` as an ObjectStoragePath."""
    from airflow.sdk import ObjectStoragePath

    base = ObjectStoragePath(inventory.artifacts_base, conn_id=inventory.artifacts_conn_id)
    for part in parts:
        base = base / part
    return base


def interval_key(ts: datetime) -> str:
    """A folder name for one data interval: stable across retries and backfills of it."""
    return ts.strftime("%Y-%m-%dT%H%M%SZ")


def run_key(run_id: str) -> str:
    """A folder name for one run (Airflow's run id, e.g. ``manual__2026-03-10T00:00:00.123456+00:00``, with
    every character but letters, digits, ``.``, ``_`` and ``-`` made ``_``): a retry of the run finds its own."""
    if not run_id:
        raise ValueError("a report needs its run id (the folder is keyed by it)")
    return re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
