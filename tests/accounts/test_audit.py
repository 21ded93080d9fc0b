"""Every admin and API change is audited with its actor and before/after values."""

from auditlog.models import LogEntry

from incidents.models import Incident
from tests.admin_forms import form_for
from tests.factories import IncidentFactory


def test_api_change_is_audited_with_the_token_user(api, sysadmin):
    incident = IncidentFactory(severity="P2")

    api.as_user(sysadmin).patch(
        f"/api/v1/incidents/{incident.key}/", {"severity": "P0"}, format="json"
    )

    entry = LogEntry.objects.get_for_object(incident).filter(action=LogEntry.Action.UPDATE).get()
    assert entry.actor == sysadmin
    assert entry.changes_dict["severity"] == ["P2", "P0"]


def test_admin_change_is_audited_with_the_admin_user(client, make_user):
    manager = make_user("managers")
    client.force_login(manager)
    incident = IncidentFactory(title="古い件名", severity="P2")
    form = form_for(incident, title="新しい件名")

    response = client.post(f"/admin/incidents/incident/{incident.pk}/change/", form)

    assert response.status_code == 302, response.content[:2000]
    assert Incident.objects.get(pk=incident.pk).title == "新しい件名"
    entry = LogEntry.objects.get_for_object(incident).filter(action=LogEntry.Action.UPDATE).get()
    assert entry.actor == manager
    assert entry.changes_dict["title"] == ["古い件名", "新しい件名"]


def test_managers_can_read_the_audit_log_but_not_change_it(make_user):
    manager = make_user("managers")
    assert manager.has_perm("auditlog.view_logentry")
    assert not manager.has_perm("auditlog.change_logentry")
    assert not manager.has_perm("auditlog.delete_logentry")
