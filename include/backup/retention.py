"""Retention: which backup sets may go, by age and by count, with a floor.

The floor: the newest *verified* set of every target is never deleted, however
old it is and whatever the count says. Sets that are running are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Decision:
    set_id: str
    target: str
    reason: str


def plan(sets: list[dict[str, Any]], now: datetime, retention_days: int, keep_last: int) -> list[Decision]:
    """Sets of ONE target to delete: older than ``retention_days`` and beyond the newest ``keep_last``.

    ``sets`` are catalog rows (set_id, target, state, started_at). Failed sets older than the
    retention are deleted too; the newest verified set is always kept.
    """
    live = [s for s in sets if s["state"] in ("complete", "verified", "failed")]
    live.sort(key=lambda s: (s["started_at"], s["set_id"]), reverse=True)
    verified = [s for s in live if s["state"] == "verified"]
    floor = verified[0]["set_id"] if verified else None
    cutoff = now - timedelta(days=retention_days)
    keep = {s["set_id"] for s in [x for x in live if x["state"] != "failed"][:keep_last]}
    out = []
    for s in live:
        if s["set_id"] == floor or s["set_id"] in keep:
            continue
        started = s["started_at"] if s["started_at"].tzinfo else s["started_at"].replace(tzinfo=now.tzinfo)
        if started < cutoff:
            out.append(
                Decision(
                    s["set_id"],
                    s["target"],
                    f"{s['state']}, started {started:%Y-%m-%d}, older than {retention_days} days"
                    f" and not among the newest {keep_last}",
                )
            )
    return out
