"""The incident lifecycle (docs/ARCHITECTURE.md, "The incident"): every allowed and every
refused action, through the service."""

import pytest
from django.core.exceptions import ValidationError

from config.base import ActionNotAllowed
from incidents import services
from incidents.models import Action, Incident, State
from tests.factories import IncidentFactory

ALLOWED = {
    (State.DETECTED, Action.ACKNOWLEDGE): State.TRIAGE,
    (State.DETECTED, Action.RESOLVE): State.POSTMORTEM,
    (State.DETECTED, Action.DISMISS): State.DISMISSED,
    (State.TRIAGE, Action.INVESTIGATE): State.INVESTIGATING,
    (State.TRIAGE, Action.RESOLVE): State.POSTMORTEM,
    (State.TRIAGE, Action.DISMISS): State.DISMISSED,
    (State.INVESTIGATING, Action.RECOVER): State.RECOVERING,
    (State.INVESTIGATING, Action.RESOLVE): State.POSTMORTEM,
    (State.RECOVERING, Action.RESOLVE): State.POSTMORTEM,
    (State.POSTMORTEM, Action.CLOSE): State.CLOSED,
    (State.POSTMORTEM, Action.REOPEN): State.INVESTIGATING,
}
REFUSED = [(s, a) for s in State for a in Action if (s, a) not in ALLOWED]


def incident_in(state):
    return IncidentFactory(state=state, root_cause="設定ミス", resolution="設定を戻した")


@pytest.mark.parametrize(("state", "action"), list(ALLOWED))
def test_allowed_action_moves_to_its_target_and_is_on_the_timeline(sysadmin, state, action):
    incident = incident_in(state)

    result = services.incident_transition(
        incident=incident, action=action, actor=sysadmin, reason="誤検知"
    )

    assert result.state == ALLOWED[(state, action)]
    assert Incident.objects.get(pk=incident.pk).state == ALLOWED[(state, action)]
    event = result.timeline.get(kind=action)
    assert event.actor == sysadmin
    assert event.data == {"from": state, "to": ALLOWED[(state, action)]}


@pytest.mark.parametrize(("state", "action"), REFUSED)
def test_refused_action_changes_nothing_and_names_what_is_allowed(sysadmin, state, action):
    incident = incident_in(state)

    with pytest.raises(ActionNotAllowed) as refused:
        services.incident_transition(
            incident=incident, action=action, actor=sysadmin, reason="誤検知"
        )

    assert Incident.objects.get(pk=incident.pk).state == state
    assert not incident.timeline.exists()
    assert set(refused.value.allowed) == {a for (s, a) in ALLOWED if s == state}


def test_acknowledge_sets_acknowledged_at(declare, sysadmin):
    incident = declare()
    incident = services.incident_transition(incident=incident, action="acknowledge", actor=sysadmin)
    assert incident.acknowledged_at is not None
    assert incident.acknowledged_at >= incident.detected_at


def test_resolve_sets_resolved_at_and_reopen_clears_it(declare, sysadmin):
    incident = declare()
    incident = services.incident_transition(incident=incident, action="resolve", actor=sysadmin)
    assert incident.resolved_at is not None
    incident = services.incident_transition(incident=incident, action="reopen", actor=sysadmin)
    assert incident.resolved_at is None
    assert incident.state == State.INVESTIGATING


def test_close_sets_closed_at(sysadmin):
    incident = incident_in(State.POSTMORTEM)
    incident = services.incident_transition(incident=incident, action="close", actor=sysadmin)
    assert incident.closed_at is not None


def test_dismiss_requires_a_reason_and_records_it(declare, sysadmin):
    incident = declare()
    with pytest.raises(ValidationError):
        services.incident_transition(
            incident=incident, action="dismiss", actor=sysadmin, reason=" "
        )
    assert Incident.objects.get(pk=incident.pk).state == State.DETECTED

    incident = services.incident_transition(
        incident=incident, action="dismiss", actor=sysadmin, reason="監視の誤検知"
    )
    assert incident.dismiss_reason == "監視の誤検知"
    assert incident.timeline.get(kind="dismiss").message == "監視の誤検知"


def test_state_cannot_be_assigned_directly(declare):
    incident = declare()
    with pytest.raises(AttributeError):
        incident.state = State.CLOSED
