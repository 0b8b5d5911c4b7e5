"""Incident response (the seed's section 2): classify P1–P4, open the incident, page the on-call and
escalate until someone acknowledges, run the war room for P1/P2, wait for the alert to resolve, write the
post-mortem and teach the knowledge base.

Started by the Alertmanager webhook (``plugins/aegis_incidents.py``) or by hand with the form.
Each ``page_<n>`` task pages one person of the escalation path (0 → primary, 15 → secondary,
30 → team lead, 60 → head; ``incidents.escalation`` in the inventory) and waits for their answer as an
Airflow human-in-the-loop task assigned to them (no worker slot held while waiting). "Acknowledge" stops
the escalation; no answer within the window ("Escalate" by default) pages the next person.
Resolve by hand: mark ``wait_for_resolution`` success in the UI.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.bases.skipmixin import SkipMixin
from airflow.sdk.exceptions import AirflowSkipException

from include.dag_defaults import manual_dag_args, refuse_unknown_conf
from include.inventory import load_inventory

MAX_STEPS = 4


def _store():
    from include.catalog import Catalog
    from include.incidents.store import IncidentStore

    return IncidentStore(Catalog.for_inventory(load_inventory()))


class AcknowledgeOperator(HITLOperator, SkipMixin):
    """Page step ``step`` of the escalation path and wait for that person's acknowledgement."""

    ACKNOWLEDGE, ESCALATE = "Acknowledge", "Escalate"

    def __init__(self, *, step: int, window_minutes: float | None, **kwargs: Any) -> None:
        timeout = timedelta(minutes=window_minutes) if window_minutes else None
        super().__init__(
            subject=f"Incident: acknowledge (escalation step {step})",
            options=[self.ACKNOWLEDGE, self.ESCALATE],
            defaults=[self.ESCALATE] if timeout else None,
            response_timeout=timeout,
            **kwargs,
        )
        self.step = step

    def _incident(self, context) -> dict[str, Any]:
        return context["ti"].xcom_pull(task_ids="open_incident")

    def execute(self, context):
        from include.incidents.oncall import Page
        from include.incidents.response import page

        incident = self._incident(context)
        if self.step > len(incident["path"]):
            raise AirflowSkipException(f"the escalation path has {len(incident['path'])} step(s)")
        step = Page(**incident["path"][self.step - 1])
        if self.step == len(incident["path"]):  # nobody left to escalate to (no team lead, say): wait until answered
            self.response_timeout, self.defaults = None, None
        self.assigned_users = [{"id": step.person, "name": step.person}]
        self.subject = f"[{incident['level']}] INC-{incident['id']}: {incident['title']} — acknowledge?"
        self.body = f"Paged: **{step.person}** ({step.contact}). Runbook: {incident['runbook']['steps']}\n\n" + "".join(
            f"- seen before: INC-{k['incident_id']}: {k['summary']} — fix: {k['fix']}\n" for k in incident["known"]
        )
        try:
            link = HITLOperator.generate_link_to_ui_from_context(context=context)
        except Exception:  # noqa: BLE001 - no UI address configured: the page names the task instead
            link = None
        page(_store(), load_inventory().alerting, incident, step, ack_url=link, context=context)
        return super().execute(context)

    def execute_complete(self, context, event):
        result = super().execute_complete(context=context, event=event)
        incident, store = self._incident(context), _store()
        step = incident["path"][self.step - 1]
        user = result.get("responded_by_user") or {}
        if result["chosen_options"] == [self.ACKNOWLEDGE]:
            store.acknowledge(incident["id"], user.get("name") or user.get("id") or step["person"])
            later = [t for t in context["task"].get_flat_relatives(upstream=False) if t.task_id.startswith("page_")]
            if later:
                self.skip(ti=context["ti"], tasks=later)
        else:
            who = user.get("name") or "nobody"
            why = f"escalated by {who}" if user else "no acknowledgement in time"
            store.event(incident["id"], "escalation", f"step {self.step} ({step['person']}): {why}")
        return result


def _windows() -> list[float | None]:
    """Each step's acknowledgement window (minutes until the next step; the last waits without end)."""
    steps = load_inventory().incidents.escalation
    gaps: list[float | None] = [b.after_minutes - a.after_minutes for a, b in zip(steps, steps[1:], strict=False)]
    gaps = gaps + [None]
    return (gaps + [None] * MAX_STEPS)[:MAX_STEPS]


@dag(
    **manual_dag_args(__doc__),
    tags=["aegis", "incident"],
    params={
        "labels": Param(
            {"alertname": "ManualIncident", "severity": "critical"},
            type="object",
            title="Labels",
            description="The alert's labels: alertname and severity (or priority P1–P4).",
        ),
        "annotations": Param(
            {}, type="object", title="Annotations", description="summary, runbook, error_signature (optional)."
        ),
        "incident_id": Param(
            None,
            type=["null", "integer"],
            title="Incident id",
            description="Set by the alert webhook; leave empty when opening by hand.",
        ),
        "level": Param(
            None,
            type=["null", "string"],
            title="Level",
            description="Set by the alert webhook (the level it classified); the incident's stored level counts.",
        ),
        "fix": Param("", type=["string", "null"], title="Fix", description="What fixed it (for the knowledge base)."),
    },
)
def incident():
    @task
    def open_incident() -> dict[str, Any]:
        """Classify P1–P4, open (or join) the incident in the catalog, resolve the escalation path."""
        from include.incidents.response import AlreadyHandled
        from include.incidents.response import open_incident as open_it

        refuse_unknown_conf()
        context = get_current_context()
        try:
            return open_it(_store(), load_inventory().incidents, dict(context["params"]), context["run_id"])
        except AlreadyHandled as exc:  # the rest of this run is skipped: the other run pages and closes it
            raise AirflowSkipException(str(exc)) from exc

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def war_room_needed(incident: dict[str, Any]) -> bool:
        """P1 and P2 open a war room; P3/P4 skip the checklist."""
        return bool(incident["war_room"])

    from include.incidents.response import WAR_ROOM

    war_room = HITLOperator(
        task_id="war_room_checklist",
        subject="War room checklist (P1/P2)",
        body="Tick what is done; every ticked step goes on the incident timeline. The run "
        "ends once the commander has answered.",
        options=list(WAR_ROOM),
        multiple=True,
        doc_md="The seed's war-room checklist (roles, first 15 minutes, updates, after).",
    )

    @task
    def record_war_room(incident: dict[str, Any]) -> list[str]:
        """Every ticked war-room step on the incident timeline, with who ticked it."""
        from datetime import datetime

        answer = get_current_context()["ti"].xcom_pull(task_ids="war_room_checklist") or {}
        user = (answer.get("responded_by_user") or {}).get("name")
        at = datetime.fromisoformat(str(answer["responded_at"])) if answer.get("responded_at") else None
        store = _store()
        for step in answer.get("chosen_options", []):
            store.event(incident["id"], "step", f"war room: {step}", actor=user, at=at)
        return answer.get("chosen_options", [])

    pages = [
        AcknowledgeOperator(
            task_id=f"page_{n}",
            step=n,
            window_minutes=w,
            doc_md=f"Page escalation step {n} and wait for the acknowledgement.",
        )
        for n, w in enumerate(_windows(), start=1)
    ]

    @task(trigger_rule="none_failed_min_one_success")
    def acknowledged(incident: dict[str, Any]) -> None:
        """Someone acknowledged: go on to wait for the resolution."""
        state = _store().get(incident["id"])["state"]
        if state == "open":
            raise AirflowSkipException("nobody acknowledged")

    @task.sensor(
        poke_interval=float(load_inventory().incidents.resolution_poll_seconds),
        timeout=7 * 24 * 3600,
        mode="reschedule",
    )
    def wait_for_resolution(incident: dict[str, Any]) -> bool:
        """Resolved when the alert resolves (webhook) — or mark this task success to resolve by hand."""
        return _store().get(incident["id"])["state"] == "resolved"

    @task
    def close_incident(incident: dict[str, Any]) -> dict[str, Any]:
        """Post-mortem into the artifact store, linked from the incident; the knowledge base learns the fix."""
        from include.incidents.response import close

        context = get_current_context()
        store = _store()
        store.resolve(incident["id"], "hand (wait_for_resolution marked success)", "resolved by hand")
        return close(
            store,
            load_inventory(),
            incident["id"],
            context["params"].get("fix") or "",
            annotations=incident["annotations"],
        )

    @task
    def write_report(incident: dict[str, Any], closed: dict[str, Any]) -> None:
        """The incident's report through the publish tail (files, catalog, notifiers)."""
        from include.incidents.report import publish_incident

        publish_incident(load_inventory(), incident, closed, get_current_context())

    opened = open_incident()
    needed = war_room_needed(opened)
    needed >> war_room >> record_war_room(opened)
    opened >> pages[0]
    for a, b in zip(pages, pages[1:], strict=False):
        a >> b
    ack = acknowledged(opened)
    pages >> ack
    resolved = wait_for_resolution(opened)
    ack >> resolved
    closed = close_incident(opened)
    resolved >> closed
    write_report(opened, closed)


incident()
