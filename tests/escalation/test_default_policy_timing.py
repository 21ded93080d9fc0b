"""The runbook's default policy with time travel: L2 at 15:00, L3 at 1:00:00, L4 for P0 only."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from escalation.models import Escalation
from escalation.services.timers import escalate_due
from incidents import services

T0 = dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.UTC)


def levels(incident):
    return list(Escalation.objects.filter(incident=incident).values_list("level", flat=True))


@pytest.fixture
def at():
    with time_machine.travel(T0, tick=False) as traveller:

        def move(**delta):
            traveller.move_to(T0 + dt.timedelta(**delta))
            escalate_due(now=timezone.now())  # the travelled clock stands in for the database's

        yield move


@pytest.mark.parametrize("severity, last", [("P0", [1, 2, 3, 4]), ("P1", [1, 2, 3])])
def test_levels_fire_at_their_deadlines_from_detection(at, declare, severity, last):
    incident = declare(severity=severity)
    assert incident.policy.name == "runbook"
    assert levels(incident) == [1]

    at(minutes=14, seconds=59)
    assert levels(incident) == [1]
    at(minutes=15)
    assert levels(incident) == [1, 2]
    at(minutes=59, seconds=59)
    assert levels(incident) == [1, 2]
    at(hours=1)
    assert levels(incident) == last
    at(hours=5)
    assert levels(incident) == last
    incident.refresh_from_db()
    assert incident.next_escalation_at is None


def test_a_late_sweep_fires_every_missed_level_with_its_own_deadline(at, declare):
    incident = declare(severity="P1")
    at(hours=1, minutes=10)
    rows = list(Escalation.objects.filter(incident=incident).order_by("level"))
    assert [(e.level, e.deadline - T0) for e in rows] == [
        (1, dt.timedelta(0)),
        (2, dt.timedelta(minutes=15)),
        (3, dt.timedelta(hours=1)),
    ]


def test_next_deadline_is_counted_from_detection_not_from_the_late_level(at, declare):
    incident = declare(severity="P1")
    at(minutes=40)  # level 2, 25 minutes late
    incident.refresh_from_db()
    assert incident.escalation_level == 2
    assert incident.next_escalation_at == T0 + dt.timedelta(hours=1)


def test_raising_to_p0_after_level_three_fires_level_four_at_once(at, declare, sysadmin):
    incident = declare(severity="P1")
    at(hours=1, minutes=5)
    assert levels(incident) == [1, 2, 3]
    services.incident_change_severity(incident=incident, severity="P0", actor=sysadmin)
    assert levels(incident) == [1, 2, 3, 4]
    assert Escalation.objects.get(incident=incident, level=4).reason == "severity"


def test_lowering_the_severity_adds_no_level(at, declare, sysadmin):
    incident = declare(severity="P0")
    at(minutes=20)
    services.incident_change_severity(incident=incident, severity="P3", actor=sysadmin)
    assert levels(incident) == [1, 2]
    at(hours=1)
    assert levels(incident) == [1, 2, 3]  # level 3 applies to every severity; level 4 not


def test_resolved_incidents_never_escalate_again(at, declare, sysadmin):
    incident = declare(severity="P0")
    services.incident_transition(incident=incident, action="resolve", actor=sysadmin)
    at(hours=3)
    assert levels(incident) == [1]


def test_editing_the_policy_does_not_change_an_escalation_under_way(at, declare):
    from escalation.models import EscalationLevel

    incident = declare(severity="P1")
    EscalationLevel.objects.filter(policy__name="runbook", number=2).update(
        delay=dt.timedelta(hours=10)
    )
    at(minutes=15)
    assert levels(incident) == [1, 2]
    assert declare(severity="P1").policy_snapshot["levels"][1]["delay_seconds"] == 36000
