"""The troubleshooting DAGs' shared glue (include/incidents/troubleshooting.py): the answer to an approval,
the skip unless an action on a named deployment was approved, and the action on the incident's timeline."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from include.catalog import Catalog
from include.incidents.store import IncidentStore
from include.incidents.troubleshooting import Answer, approved_deployment_action, record_on_incident
from tests.helpers import write_inventory


class AnswersTI:
    """Stands in for the task instance's ``xcom_pull`` (labelled fake): what the approval task returned."""

    def __init__(self, answers):
        self.answers = answers

    def xcom_pull(self, task_ids):
        return self.answers.get(task_ids)


def context(answer, deployment="game-server", kubernetes_target="game"):
    params = {"incident_id": None, "deployment": deployment, "kubernetes_target": kubernetes_target}
    return {"params": params, "ti": AnswersTI({"approve": answer})}


def test_an_answer_is_approved_only_when_exactly_approve_was_chosen():
    assert Answer.of(None) == Answer(option="Reject", approved=False, by=None)  # nobody answered
    assert Answer.of({"chosen_options": []}) == Answer(option="Reject", approved=False, by=None)
    assert Answer.of({"chosen_options": ["Reject"], "responded_by_user": {"name": "kim"}}) == Answer(
        option="Reject", approved=False, by="kim"
    )
    assert Answer.of({"chosen_options": ["Approve"], "responded_by_user": {"name": "kim"}}) == Answer(
        option="Approve", approved=True, by="kim"
    )


@pytest.mark.parametrize(
    ("answer", "deployment", "kubernetes_target"),
    [
        (None, "game-server", "game"),  # no answer
        ({"chosen_options": ["Reject"]}, "game-server", "game"),
        ({"chosen_options": ["Approve"]}, None, "game"),  # no deployment named
        ({"chosen_options": ["Approve"]}, "game-server", None),  # no Kubernetes target named
    ],
)
def test_an_action_is_skipped_unless_approved_for_a_named_deployment(answer, deployment, kubernetes_target):
    with pytest.raises(AirflowSkipException, match="nothing scaled"):
        approved_deployment_action(context(answer, deployment, kubernetes_target), "approve", "nothing scaled")


def test_an_approved_action_on_a_named_deployment_goes_ahead_with_who_approved_it():
    answer = {"chosen_options": ["Approve"], "responded_by_user": {"name": "oncall"}}
    assert approved_deployment_action(context(answer), "approve", "nothing scaled").by == "oncall"


def test_the_action_goes_on_the_timeline_of_the_run_incident_only(tmp_path, monkeypatch):
    inv = write_inventory(tmp_path, "catalog: {path: catalog.db}\ntargets:\n  - {name: web, kind: host}\n")
    monkeypatch.setenv("AEGIS_INVENTORY", str(inv))
    store = IncidentStore(Catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))
    incident_id, _ = store.open_or_join({"alertname": "HighCPU", "severity": "critical"}, "cpu", "P2")
    approved = Answer(option="Approve", approved=True, by="oncall")

    record_on_incident({"incident_id": incident_id}, "scaled default/game-server from 3 to 5", approved)
    record_on_incident({"incident_id": None}, "not for an incident", approved)  # nothing recorded, no error

    actions = [(e["actor"], e["detail"]) for e in store.timeline(incident_id) if e["kind"] == "action"]
    assert actions == [("oncall", "scaled default/game-server from 3 to 5")]
