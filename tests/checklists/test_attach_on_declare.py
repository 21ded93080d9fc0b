"""Declaring an incident attaches the runbook's response checklists that match it."""

from checklists.models import ChecklistRun
from incidents import services


def keys(incident):
    return sorted(
        ChecklistRun.objects.filter(incident=incident).values_list("template__key", flat=True)
    )


def test_a_system_incident_gets_the_incident_response_checklist(declare):
    incident = declare(category="system")

    assert keys(incident) == ["incident-response"]


def test_a_security_incident_also_gets_the_security_incident_checklist(declare):
    incident = declare(category="security")

    assert keys(incident) == ["incident-response", "security-incident"]


def test_recategorising_as_security_attaches_the_security_checklist_once(declare, sysadmin):
    incident = declare(category="system")

    services.incident_update(incident=incident, actor=sysadmin, category="security")
    services.incident_update(incident=incident, actor=sysadmin, summary="再確認")

    assert keys(incident) == ["incident-response", "security-incident"]


def test_a_template_limited_to_p0_attaches_only_to_p0(declare):
    from tests.checklists.factories import ChecklistTemplateFactory, TemplateItemFactory

    war_room = ChecklistTemplateFactory(key="war-room", kind="incident", severities=["P0"])
    TemplateItemFactory(template=war_room)

    assert "war-room" in keys(declare(severity="P0"))
    assert "war-room" not in keys(declare(severity="P2"))
