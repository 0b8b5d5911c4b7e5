"""What every Aegis DAG shares: owner, retries, tags, the target-selection form fields, the run window.

The report tail every DAG ends with is :func:`include.publish.publish`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

import pendulum
from airflow.sdk import Param, get_current_context, task

from include.inventory import Inventory, Schedule

if TYPE_CHECKING:
    from airflow.sdk.definitions.asset import BaseAsset

#: Each scheduled routine's schedule when the inventory's ``schedules:`` does not name one (cron, timezone).
DEFAULT_SCHEDULES: dict[str, tuple[str, str]] = {
    "daily_health_check": ("0 9 * * *", "Asia/Seoul"),
    "backup": ("0 2 * * *", "Asia/Seoul"),
    "verify_backups": ("0 4 * * 0", "Asia/Seoul"),
    "weekly_maintenance": ("0 3 * * 0", "Asia/Seoul"),
}


def schedule_of(inventory: Inventory, routine: str) -> Schedule:
    """The routine's schedule: the inventory's, else its default (:data:`DEFAULT_SCHEDULES`)."""
    cron, tz = DEFAULT_SCHEDULES[routine]
    return inventory.schedule(routine, default_cron=cron, default_tz=tz)


def describe_schedule(schedule: Schedule) -> str:
    """The schedule in words, in its own timezone: ``At 09:00, every day (Asia/Seoul; cron `0 9 * * *`)``."""
    from cron_descriptor import Options, get_description

    options = Options()
    options.use_24hour_time_format = True
    words = get_description(schedule.cron, options)
    if schedule.cron.split()[2:] == ["*", "*", "*"]:
        words += ", every day"
    return f"{words} ({schedule.timezone}; cron `{schedule.cron}`)"


def dag_doc(doc: str, schedule: Schedule | None) -> str:
    """A DAG's ``doc_md``: its docstring, then when it runs (in the inventory's timezone) or that it runs by hand."""
    when = f"**Schedule:** {describe_schedule(schedule)}." if schedule else "**Schedule:** none, run from the form."
    return f"{doc.rstrip()}\n\n{when}\n"


log = logging.getLogger(__name__)

DEFAULT_ARGS = {
    "owner": "aegis-ops",
    "retries": 1,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
}

#: The first day of every Aegis DAG (in its schedule's timezone; UTC for the DAGs run by hand).
FIRST_DAY = (2026, 1, 1)


def scheduled_dag_args(
    inventory: Inventory, routine: str, doc: str, interval: timedelta, assets: BaseAsset | None = None
) -> dict[str, Any]:
    """The ``@dag`` arguments every scheduled routine (:data:`DEFAULT_SCHEDULES`) shares.

    Its schedule (:func:`schedule_of`) as a cron timetable whose runs cover ``interval`` (or, with ``assets``,
    that timetable or an update of the assets), :data:`FIRST_DAY` in the schedule's timezone, no catch-up,
    :data:`DEFAULT_ARGS`, and ``doc`` with the schedule in words (:func:`dag_doc`). The DAG adds its own
    ``max_active_runs``, ``tags`` and ``params``."""
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    schedule = schedule_of(inventory, routine)
    timetable = CronTriggerTimetable(schedule.cron, timezone=schedule.timezone, interval=interval)
    return {
        "schedule": AssetOrTimeSchedule(timetable=timetable, assets=assets) if assets is not None else timetable,
        "start_date": pendulum.datetime(*FIRST_DAY, tz=schedule.timezone),
        "catchup": False,
        "default_args": DEFAULT_ARGS,
        "doc_md": dag_doc(doc, schedule),
    }


def manual_dag_args(doc_md: str) -> dict[str, Any]:
    """The ``@dag`` arguments every DAG without a schedule (run from its form, or triggered) shares:
    :data:`FIRST_DAY` in UTC, no catch-up, :data:`DEFAULT_ARGS`, ``doc_md`` saying it has no schedule
    (:func:`dag_doc`)."""
    return {
        "schedule": None,
        "start_date": pendulum.datetime(*FIRST_DAY, tz="UTC"),
        "catchup": False,
        "default_args": DEFAULT_ARGS,
        "doc_md": dag_doc(doc_md, None),
    }


#: above this many targets a form offers their names as suggestions (examples), not as a closed list (enum)
MAX_ENUM_CHOICES = 500


class SharedChoices(list):
    """Form choices (target names, tags) that Airflow's per-task deep copy of the DAG's params shares
    instead of copying: with thousands of targets, copying them for every task of a DAG file was most of
    its parse time. Built once per parse and never changed."""

    def __deepcopy__(self, memo: dict) -> SharedChoices:
        return self


def target_params(inventory: Inventory, capability: str | None = None) -> dict[str, Param]:
    """Form fields to pick targets by name or tag; the choices are the inventory's targets whose kind
    has ``capability`` (see :func:`include.kinds.kinds_with`; all targets when None).

    Tags are a closed choice; target names are offered as ``examples`` (a list to pick from that stays
    usable with thousands of names; a name not in the inventory is refused when the run selects).
    """
    from include.kinds import kinds_with

    kinds = kinds_with(capability) if capability else None
    targets = [t for t in inventory.targets if kinds is None or t.kind in kinds]
    names = SharedChoices(sorted(t.name for t in targets))
    tags = SharedChoices(sorted({tag for t in targets for tag in t.tags}))
    # a closed pick list while it stays usable; past MAX_ENUM_CHOICES the names are only suggested (examples)
    # and a name not in the inventory is refused when the run selects
    items = {"type": "string", "enum": names} if len(names) <= MAX_ENUM_CHOICES else {"type": "string"}
    # ["array", "null"]: optional in the form (Airflow marks a field required unless null is allowed);
    # the routines read an empty or missing choice as "no filter".
    return {
        "targets": Param(
            [],
            type=["array", "null"],
            items=items,
            title="Targets",
            examples=names,
            description=f"Pick targets to act on only those; leave empty for every one of the "
            f"{len(names)} target(s) this routine applies to.",
        ),
        "tags": Param(
            [],
            type=["array", "null"],
            items={"type": "string", "enum": tags} if tags else {"type": "string"},
            examples=tags,
            title="Tags",
            description="Act only on targets carrying at least one of these tags (empty: no tag filter). "
            "With targets picked too, a target must match both.",
        ),
    }


def recent_set_ids(inventory: Inventory, limit: int = 40) -> list[str]:
    """The newest complete or verified backup set ids in the catalog, offered by the restore and verify forms.
    Read when the DAG file is parsed; a catalog that cannot be read offers none (the form still takes any id)."""
    try:
        from include.catalog import Catalog

        sets = Catalog.for_inventory(inventory).backup_sets_of(states=("complete", "verified"))
    except Exception as exc:  # noqa: BLE001 - a form without suggestions beats a DAG that does not parse
        log.warning("backup set suggestions unavailable: %s", exc)
        return []
    return [s["set_id"] for s in sets[:limit]]


def run_window(
    dag_run,
    data_interval_start: datetime | None,
    data_interval_end: datetime | None,
    default_span: timedelta = timedelta(days=1),
    timezone: str | None = None,
) -> tuple[datetime, datetime]:
    """The interval a run works on, the same in every task of the run.

    A scheduled or backfilled run has its data interval. A run triggered without a logical
    date has none: it ends at the run's ``run_after`` and looks back ``default_span``.

    With the schedule's ``timezone``, an interval of whole days starts at the same wall-clock time that
    many days before its end (:func:`calendar_start`): Airflow's cron trigger subtracts 24 hours per day
    in UTC, so across a DST change consecutive daily windows would overlap by an hour (spring) or leave
    an hour out (autumn); these meet exactly, on 23- and 25-hour days too.
    """
    end = data_interval_end or dag_run.run_after
    if data_interval_start is None or data_interval_start >= end:
        return end - default_span, end
    return (calendar_start(data_interval_start, end, timezone) if timezone else data_interval_start), end


def calendar_start(start: datetime, end: datetime, timezone: str) -> datetime:
    """``start`` moved to the same wall-clock time in ``timezone`` as ``end``, whole days before it (UTC),
    when ``end - start`` is a whole number of days; otherwise ``start`` unchanged.

    Not covered: a schedule whose time falls in the hour a DST change skips (02:30 on the spring Sunday in
    Europe fires at 03:30): that one run's window starts at 03:30 the period before, an hour later than the
    previous run ended."""
    span = timedelta(seconds=end.timestamp() - start.timestamp())  # Airflow hands pendulum's; this is plain
    if span % timedelta(days=1):
        return start
    local_end = datetime.fromtimestamp(end.timestamp(), ZoneInfo(timezone))
    return (local_end - span).astimezone(UTC)  # same-zone arithmetic is wall-clock arithmetic


@contextmanager
def fail_without_retry(*errors: type[BaseException]) -> Iterator[None]:
    """Turn bad-input errors (a wrong form, an unknown target) into a failure that is not retried:
    a request that is wrong now is just as wrong a minute later."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except errors as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


def refusal(check: Callable[[], Any]) -> str:
    """Why the request is refused: ``check`` (the plan task's validation, pure) run again, its error as text;
    for the report of a run whose plan task failed (its result is gone, the form is still there)."""
    try:
        check()
    except Exception as exc:  # noqa: BLE001 - any refusal is the answer
        cause = exc.__cause__ if exc.__cause__ is not None else exc  # fail_without_retry's wrapped error
        return f"{type(cause).__name__}: {cause}"
    return "the plan task failed (see its log)"


def refuse_unknown_conf(context: Any = None) -> None:
    """Fail the run's first task at once (no retry) when the trigger's conf has a key the DAG's form does not.

    Airflow merges the conf into the params, so a typo (``dry-run`` for ``dry_run``) would be silently
    ignored and the default used; every DAG's first task (each root, when several start at once) calls this
    before it reads a param. ``context``: the running task's (default: :func:`get_current_context`).
    """
    from airflow.sdk.exceptions import AirflowFailException

    context = context if context is not None else get_current_context()
    conf = getattr(context.get("dag_run"), "conf", None) or {}
    if not conf:
        return
    known = set(context["dag"].params)
    unknown = sorted(set(conf) - known)
    if unknown:
        raise AirflowFailException(f"unknown conf key(s) {unknown}; this DAG knows: {sorted(known)}")


def require_selection(selection, routine: str, check: Callable[[], Any], inventory: Inventory):
    """``selection`` (what the select task returned); when it is missing, the form was refused (an unknown
    target, tag, concern, section, threshold or conf key): publish ``routine``'s refused report, why being
    ``check`` (the select task's validation, pure) run again through :func:`refusal`, notify, and end the run
    failed without retry (:func:`include.publish.publish_refused`). A task that runs whatever happened upstream
    (``all_done``) never publishes a report of nothing, and waiting a minute will not bring the selection back."""
    if selection is not None:
        return selection
    from airflow.sdk.exceptions import AirflowFailException

    from include.publish import publish_refused

    context = get_current_context()

    def validate() -> Any:
        refuse_unknown_conf(context)
        return check()

    title = f"Aegis {routine.replace('_', ' ')} — refused"
    publish_refused(routine, title, "(trigger form)", "unknown", refusal(validate), inventory, context)
    raise AirflowFailException(f"{routine}: the form was refused, see the report")  # publish_refused raised already


# -- queues: a target's tasks run on the workers serving its ``queue:`` (distributed mode) ---------------------


def queues(inventory: Inventory) -> list[str]:
    """The Celery queues the inventory's targets name, ``default`` first."""
    from include.inventory import DEFAULT_QUEUE

    return sorted({t.queue for t in inventory.targets} | {DEFAULT_QUEUE}, key=lambda q: (q != DEFAULT_QUEUE, q))


def routes_by_queue(inventory: Inventory) -> bool:
    """Whether the inventory uses a queue besides ``default`` (then mapped per-target tasks split per queue)."""
    return len(queues(inventory)) > 1


def by_queue(
    inventory: Inventory, items: list, target_of: Callable[[Any], str | None] | None = None
) -> list | dict[str, list]:
    """A select task's output, split per queue when the inventory routes by queue (else ``items`` as is).

    ``items`` are target names or batches (lists) of names; a batch whose targets are on several queues is
    split. Items that are not target names (backup set ids, a restore plan) name their target through
    ``target_of``; an item whose target is ``None`` or not in the inventory goes to ``default`` (the task
    there reports it). The result has every queue of the inventory (empty when nothing of this run is on it):
    :func:`expand_by_queue` maps one task per queue over its part."""
    if not routes_by_queue(inventory):
        return items
    from include.inventory import DEFAULT_QUEUE

    queue_of = {t.name: t.queue for t in inventory.targets}
    out: dict[str, list] = {q: [] for q in queues(inventory)}
    for item in items:
        if isinstance(item, list):
            for queue in queues(inventory):
                part = [name for name in item if queue_of[name] == queue]
                if part:
                    out[queue].append(part)
        else:
            out[queue_of.get((target_of(item) if target_of else item) or "", DEFAULT_QUEUE)].append(item)
    return out


def selected(selection: list | dict[str, list]) -> list:
    """The items a select task chose, whichever shape :func:`by_queue` gave them."""
    if isinstance(selection, dict):
        return [item for items in selection.values() for item in items]
    return selection


def expand_by_queue(task, inventory: Inventory, **expand):
    """``task.expand(**expand)``, or, when the inventory routes by queue, one mapped copy of ``task`` per queue
    (task id ``<task>__<queue>``, Celery ``queue=<queue>``) over that queue's part of the (single) expanded
    select output (:func:`by_queue`), picked by a small ``<task>__<queue>__part`` task (Airflow expands only
    a task's return value); the copies' results concatenated, in queue order, for the downstream task."""
    if not routes_by_queue(inventory):
        return task.expand(**expand)
    ((arg, selection),) = expand.items()
    task_id = task.function.__name__
    outputs = []
    for queue in queues(inventory):
        part = queue_part.override(task_id=f"{task_id}__{queue}__part")(selection, queue)
        outputs.append(task.override(task_id=f"{task_id}__{queue}", queue=queue).expand(**{arg: part}))
    return outputs[0].concat(*outputs[1:])


def _queue_part(selection: dict[str, list], queue: str) -> list:
    """The items of ``selection`` (:func:`by_queue`) on ``queue``."""
    return selection[queue]


queue_part = task(_queue_part)


def label_mapped_task(**labels: str) -> None:
    """Fill the names a mapped task's ``map_index_template`` shows (rendered from the running task's context)."""
    cast("dict[str, Any]", get_current_context()).update(labels)


def publish_check_report(inventory: Inventory):
    """The ``write_report`` task of the check routines (daily, weekly): publish the report, record the run and
    every metric in the catalog, alert when not healthy (unless the form's ``alert`` is off)."""

    @task(task_id="write_report")
    def write_report(report: dict, params=None) -> dict:
        """Publish: write the report, record the run and its metrics in the catalog, alert when not healthy."""
        from include.publish import AlertWhen, publish
        from include.report import Report

        return publish(
            Report.from_dict(report),
            inventory,
            context=get_current_context(),
            record_metrics=True,
            alert=AlertWhen.UNHEALTHY if params["alert"] else AlertWhen.NEVER,
        )

    return write_report


def incident_param() -> Param:
    """The troubleshooting DAGs' optional ``incident_id``: started from an incident, their actions go on its timeline."""
    return Param(
        None,
        type=["null", "integer"],
        title="Incident (optional)",
        description="Started from an incident: its actions go on that incident's timeline.",
    )
