import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from incidents import services
from incidents.models import TimelineEvent


def kinds(incident):
    # Escalation records its own events (tests/escalation); these tests are about the rest.
    events = incident.timeline.exclude(kind__in=["escalated", "notice_sent", "notice_failed"])
    return list(events.order_by("at", "pk").values_list("kind", flat=True))


def test_every_change_is_a_timeline_event(declare, sysadmin, make_user):
    commander = make_user("operations")
    incident = declare()
    services.incident_change_severity(incident=incident, severity="P0", actor=sysadmin)
    services.incident_assign_commander(incident=incident, commander=commander, actor=sysadmin)
    services.incident_add_note(incident=incident, actor=sysadmin, message="ログを確認中")
    services.incident_update(incident=incident, actor=sysadmin, summary="決済が遅い")
    services.incident_transition(incident=incident, action="acknowledge", actor=sysadmin)

    assert kinds(incident) == ["declared", "severity", "commander", "note", "fields", "acknowledge"]
    severity = incident.timeline.get(kind="severity")
    assert severity.data == {"from": "P1", "to": "P0"}
    assert incident.timeline.get(kind="commander").data["to"] == commander.username


def test_correcting_detected_at_is_recorded_with_before_and_after(declare, sysadmin):
    incident = declare()
    earlier = incident.detected_at - dt.timedelta(minutes=20)

    services.incident_update(incident=incident, actor=sysadmin, detected_at=earlier)

    event = incident.timeline.get(kind="fields")
    assert event.data["detected_at"]["to"] == earlier.isoformat()


def test_detected_at_cannot_be_in_the_future(declare, sysadmin):
    incident = declare()
    with pytest.raises(ValidationError):
        services.incident_update(
            incident=incident,
            actor=sysadmin,
            detected_at=timezone.now() + dt.timedelta(hours=1),
        )
    assert kinds(incident) == ["declared"]


def test_unchanged_values_record_nothing(declare, sysadmin):
    incident = declare(severity="P2")
    services.incident_change_severity(incident=incident, severity="P2", actor=sysadmin)
    services.incident_update(incident=incident, actor=sysadmin, title=incident.title)
    assert kinds(incident) == ["declared"]


def test_timeline_events_cannot_be_edited_or_deleted(declare):
    event = declare().timeline.get(kind="declared")
    event.message = "書き換え"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    assert TimelineEvent.objects.get(pk=event.pk).message != "書き換え"
