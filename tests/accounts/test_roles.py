"""Least privilege: each runbook role may do exactly its part, in services, API and admin alike."""

import pytest
from django.core.exceptions import PermissionDenied

from incidents import services
from incidents.models import Incident, State
from tests.factories import IncidentFactory

RESPONDER = {"acknowledge", "investigate", "recover", "resolve"}
DECIDER = RESPONDER | {"close", "dismiss", "reopen"}
MAY_ACT = {
    "operations": RESPONDER,
    "developers": RESPONDER,
    "sysadmins": DECIDER,
    "executives": set(),
    "integrations": set(),
    "managers": DECIDER,
}
SOURCE = {
    "acknowledge": State.DETECTED,
    "investigate": State.TRIAGE,
    "recover": State.INVESTIGATING,
    "resolve": State.RECOVERING,
    "close": State.POSTMORTEM,
    "dismiss": State.DETECTED,
    "reopen": State.POSTMORTEM,
}
CASES = [(role, action) for role in MAY_ACT for action in SOURCE]


def incident_for(action):
    return IncidentFactory(state=SOURCE[action], root_cause="原因", resolution="対応")


@pytest.mark.parametrize(("role", "action"), CASES)
def test_service_lets_each_role_take_only_its_actions(make_user, role, action):
    user = make_user(role)
    incident = incident_for(action)

    if action in MAY_ACT[role]:
        services.incident_transition(incident=incident, action=action, actor=user, reason="r")
        assert Incident.objects.get(pk=incident.pk).state != SOURCE[action]
    else:
        with pytest.raises(PermissionDenied):
            services.incident_transition(incident=incident, action=action, actor=user, reason="r")
        assert Incident.objects.get(pk=incident.pk).state == SOURCE[action]


@pytest.mark.parametrize(("role", "action"), CASES)
def test_api_answers_403_for_an_action_outside_the_role(api, make_user, role, action):
    user = make_user(role)
    incident = incident_for(action)

    response = api.as_user(user).post(
        f"/api/v1/incidents/{incident.key}/{action}/", {"reason": "r"}, format="json"
    )

    if action in MAY_ACT[role]:
        assert response.status_code == 200
    elif role == "integrations":
        # integrations may declare but not read or act
        assert response.status_code == 403
    else:
        assert response.status_code == 403
        assert response.json()["error"] == "permission_denied"
    if response.status_code == 403:
        assert Incident.objects.get(pk=incident.pk).state == SOURCE[action]


def test_allowed_actions_are_those_of_the_callers_role(api, make_user):
    incident = IncidentFactory(state=State.DETECTED)
    operator = api.as_user(make_user("operations")).get(f"/api/v1/incidents/{incident.key}/")
    assert operator.json()["allowed_actions"] == ["acknowledge", "resolve"]


@pytest.mark.parametrize("role", ["operations", "developers", "sysadmins", "integrations"])
def test_roles_that_may_declare_can_open_an_incident(api, make_user, role):
    response = api.as_user(make_user(role)).post(
        "/api/v1/incidents/", {"title": "障害", "severity": "P2"}, format="json"
    )
    assert response.status_code == 201


def test_executives_read_and_note_but_cannot_declare_or_edit(api, make_user):
    client = api.as_user(make_user("executives"))
    incident = IncidentFactory()

    assert client.get(f"/api/v1/incidents/{incident.key}/").status_code == 200
    assert (
        client.post(
            f"/api/v1/incidents/{incident.key}/notes/", {"message": "状況は?"}, format="json"
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/api/v1/incidents/", {"title": "x", "severity": "P3"}, format="json"
        ).status_code
        == 403
    )
    assert (
        client.patch(
            f"/api/v1/incidents/{incident.key}/", {"severity": "P0"}, format="json"
        ).status_code
        == 403
    )
    assert Incident.objects.get(pk=incident.pk).severity == incident.severity


def test_integrations_cannot_read_incidents(api, make_user):
    IncidentFactory()
    assert api.as_user(make_user("integrations")).get("/api/v1/incidents/").status_code == 403


def test_a_user_without_a_role_can_do_nothing(api, make_user):
    client = api.as_user(make_user())
    assert client.get("/api/v1/incidents/").status_code == 403
    assert (
        client.post(
            "/api/v1/incidents/", {"title": "x", "severity": "P3"}, format="json"
        ).status_code
        == 403
    )
    assert not Incident.objects.exists()
