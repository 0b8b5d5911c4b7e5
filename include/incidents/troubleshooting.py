"""Glue shared by the ``troubleshoot_*`` DAGs: their header, the person's approval and its answer, the
Kubernetes target, and the incident timeline (kept out of the DAG files so each reads as its runbook)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.sdk import Param

from include.dag_defaults import incident_param, manual_dag_args

if TYPE_CHECKING:
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    from include.clients.kubernetes import KubeClient

APPROVE, REJECT = "Approve", "Reject"
#: Every troubleshooting action's request timeout against Kubernetes (seconds).
KUBE_TIMEOUT_S = 10


def troubleshooting_dag_args(doc: str, **params: Param) -> dict[str, Any]:
    """The ``@dag`` arguments of a troubleshooting DAG: no schedule (run by hand or from an incident,
    :func:`include.dag_defaults.manual_dag_args`), tagged ``troubleshooting``, its form the optional
    ``incident_id`` (:func:`include.dag_defaults.incident_param`) followed by ``params``."""
    return {
        **manual_dag_args(doc),
        "tags": ["aegis", "troubleshooting"],
        "params": {"incident_id": incident_param(), **params},
    }


def approval(task_id: str, subject: str, body: str, doc_md: str) -> ApprovalOperator:
    """The runbook's "(y/n)" as a task: a person approves or rejects the next action (deferred, no worker
    slot held); ``Reject`` when the question times out. ``body`` is a template (params, XComs)."""
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    return ApprovalOperator(task_id=task_id, subject=subject, body=body, defaults=REJECT, doc_md=doc_md)


@dataclass(frozen=True)
class Answer:
    """What a person answered to an :func:`approval` task."""

    option: str  # the chosen option; Reject when none was chosen
    approved: bool  # exactly Approve was chosen
    by: str | None  # who answered (None when nobody did)

    @classmethod
    def of(cls, xcom: Mapping[str, Any] | None) -> Answer:
        """The answer from the approval task's XCom (``None`` or empty when it has none: not approved)."""
        xcom = xcom or {}
        chosen = xcom.get("chosen_options") or []
        return cls(
            option=chosen[0] if chosen else REJECT,
            approved=chosen == [APPROVE],
            by=(xcom.get("responded_by_user") or {}).get("name"),
        )


def approved_deployment_action(context: Mapping[str, Any], approval_task_id: str, nothing_done: str) -> Answer:
    """The answer to ``approval_task_id`` when it approved an action on the form's ``deployment`` of its
    ``kubernetes_target``; otherwise the task is skipped (``nothing_done`` says what was left undone)."""
    from airflow.sdk.exceptions import AirflowSkipException

    params = context["params"]
    answer = Answer.of(context["ti"].xcom_pull(task_ids=approval_task_id))
    if not answer.approved or not params["deployment"] or not params["kubernetes_target"]:
        raise AirflowSkipException(f"not approved, or no deployment named: {nothing_done}")
    return answer


def kube_client(target_name: str) -> KubeClient:
    """The Kubernetes client of the inventory target ``target_name``, through ``include/clients/kubernetes.py``."""
    from include.clients.kubernetes import connect
    from include.inventory import load_inventory
    from include.targets import endpoint_for

    return connect(endpoint_for(load_inventory().target(target_name)), KUBE_TIMEOUT_S)


def record_on_incident(params: Mapping[str, Any], detail: str, answer: Answer) -> None:
    """Put what the run did (``detail``, approved by ``answer.by``) on the timeline of the incident it was
    started for (the form's ``incident_id``; none: nothing is recorded)."""
    from include.incidents.response import record_action
    from include.inventory import load_inventory

    record_action(load_inventory(), params["incident_id"], detail, answer.by)
