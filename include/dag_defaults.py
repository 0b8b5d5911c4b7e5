"""What every Aegis DAG shares: owner, retries, tags, the target-selection form fields, the run window.

The report tail every DAG ends with is :func:`include.publish.publish`."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Iterator

from airflow.sdk import Param

from include.inventory import Inventory

DEFAULT_ARGS = {
    "owner": "aegis-ops",
    "retries": 1,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
}


def target_params(inventory: Inventory, capability: str | None = None) -> dict[str, Param]:
    """Form fields to pick targets by name or tag; the choices are the inventory's targets whose kind
    has ``capability`` (see :func:`include.kinds.kinds_with`; all targets when None)."""
    from include.kinds import kinds_with

    kinds = kinds_with(capability) if capability else None
    targets = [t for t in inventory.targets if kinds is None or t.kind in kinds]
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


def run_window(dag_run, data_interval_start: datetime | None, data_interval_end: datetime | None,
               default_span: timedelta = timedelta(days=1)) -> tuple[datetime, datetime]:
    """The interval a run works on, the same in every task of the run.

    A scheduled or backfilled run has its data interval. A run triggered without a logical
    date has none: it ends at the run's ``run_after`` and looks back ``default_span``.
    """
    end = data_interval_end or dag_run.run_after
    start = data_interval_start if data_interval_start is not None and data_interval_start < end else end - default_span
    return start, end


@contextmanager
def fail_without_retry(*errors: type[BaseException]) -> Iterator[None]:
    """Turn bad-input errors (a wrong form, an unknown target) into a failure that is not retried:
    a request that is wrong now is just as wrong a minute later."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except errors as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


def refuse_unknown_conf() -> None:
    """Fail the run's first task at once (no retry) when the trigger's conf has a key the DAG's form does not.

    Airflow merges the conf into the params, so a typo (``dry-run`` for ``dry_run``) would be silently
    ignored and the default used; every DAG's first task calls this before it reads a param.
    """
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowFailException

    context = get_current_context()
    conf = getattr(context["dag_run"], "conf", None) or {}
    known = set(context["dag"].params)
    unknown = sorted(set(conf) - known)
    if unknown:
        raise AirflowFailException(f"unknown conf key(s) {unknown}; this DAG knows: {sorted(known)}")


def require_selection(selection):
    """``selection`` (what ``select_targets`` returned), or a failure without retry when it failed:
    a task that runs whatever happened upstream (``all_done``) must not publish a report of nothing,
    and waiting a minute will not bring the selection back."""
    if selection is None:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException("select_targets failed (see its log): nothing was checked, no report")
    return selection
