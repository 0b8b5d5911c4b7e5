"""What every Aegis DAG shares: owner, retries, tags and the target-selection form fields."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param

DEFAULT_ARGS = {
    "owner": "aegis-ops",
    "retries": 1,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
}


def target_params(inventory, kinds: tuple[str, ...] | None = None) -> dict[str, Param]:
    """Form fields to pick targets by name or tag; the choices come from the inventory."""
    targets = [t for t in inventory.targets if not kinds or t.kind in kinds]
    names = sorted(t.name for t in targets)
    tags = sorted({tag for t in targets for tag in t.tags})
    return {
        "targets": Param(
            [], type="array", items={"type": "string", "enum": names}, title="Targets",
            description="Check only these targets (empty: every target in the inventory).",
        ),
        "tags": Param(
            [], type="array", items={"type": "string", "enum": tags} if tags else {"type": "string"},
            title="Tags", description="Check only targets carrying at least one of these tags (empty: no filter).",
        ),
    }
