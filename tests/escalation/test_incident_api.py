"""The incident API: choose a policy on declaration, see the escalation state, escalate now."""

import pytest

from escalation.models import Escalation
from tests.escalation.conftest import make_policy

URL = "/api/v1/incidents/"


def test_declaring_notifies_level_one_and_shows_the_next_deadline(api, sysadmin):
    response = api.as_user(sysadmin).post(URL, {"title": "DB停止", "severity": "P1"}, format="json")
    body = response.json()
    assert response.status_code == 201
    assert body["policy"] == "runbook" and body["escalation_level"] == 1
    assert body["next_escalation_at"] is not None
    assert Escalation.objects.filter(incident_id=int(body["key"][4:]), level=1).exists()


def test_a_policy_named_on_declaration_overrides_the_automatic_choice(api, sysadmin):
    make_policy("quiet", levels=[(1, 600, ["q@x.test"], "")])
    body = (
        api.as_user(sysadmin)
        .post(URL, {"title": "x", "severity": "P1", "policy": "quiet"}, format="json")
        .json()
    )
    assert body["policy"] == "quiet" and body["escalation_level"] == 0
    unknown = api.as_user(sysadmin).post(
        URL, {"title": "x", "severity": "P1", "policy": "nope"}, format="json"
    )
    assert unknown.status_code == 400 and "policy" in unknown.json()["fields"]


def test_escalate_moves_to_the_next_level_now_with_a_reason(api, operator, declare):
    incident = declare(severity="P2")
    client = api.as_user(operator)
    response = client.post(
        f"{URL}{incident.key}/escalate/", {"reason": "顧客影響拡大"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["escalation_level"] == 2
    escalation = Escalation.objects.get(incident=incident, level=2)
    assert escalation.reason == "manual" and escalation.actor == operator
    assert escalation.note == "顧客影響拡大"
    assert client.post(f"{URL}{incident.key}/escalate/", {}, format="json").status_code == 400


def test_escalating_by_hand_reaches_executives_whatever_the_severity(api, sysadmin, declare):
    incident = declare(severity="P2")
    client = api.as_user(sysadmin)
    for _ in range(3):
        assert (
            client.post(
                f"{URL}{incident.key}/escalate/", {"reason": "r"}, format="json"
            ).status_code
            == 200
        )
    assert list(incident.escalations.values_list("level", flat=True)) == [1, 2, 3, 4]
    response = client.post(f"{URL}{incident.key}/escalate/", {"reason": "r"}, format="json")
    assert response.status_code == 409


@pytest.mark.parametrize("role", ["executives", "integrations"])
def test_escalate_needs_the_permission(api, make_user, declare, role):
    incident = declare()
    client = api.as_user(make_user(role))
    response = client.post(f"{URL}{incident.key}/escalate/", {"reason": "r"}, format="json")
    assert response.status_code == 403


def test_a_resolved_incident_cannot_be_escalated(api, sysadmin, declare):
    from incidents import services

    incident = declare()
    services.incident_transition(incident=incident, action="resolve", actor=sysadmin)
    response = api.as_user(sysadmin).post(
        f"{URL}{incident.key}/escalate/", {"reason": "r"}, format="json"
    )
    assert response.status_code == 409
