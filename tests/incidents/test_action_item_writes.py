"""Action items change through the incident services from every door: the API, the list's
editable status, the item's page and the incident page's inline; checked and audited."""

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import PermissionDenied, ValidationError

from incidents import services
from incidents.models import ActionItem
from tests.admin_forms import form_for


@pytest.fixture
def item(declare, sysadmin):
    incident = declare()
    return services.action_item_add(incident=incident, actor=sysadmin, title="接続プール監視")


def test_the_list_marks_an_item_done_through_the_service(client, make_user, item):
    manager = make_user("managers")
    client.force_login(manager)

    response = client.post(
        "/admin/incidents/actionitem/",
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(item.pk),
            "form-0-status": "done",
            "_save": "Save",
        },
    )

    assert response.status_code == 302, response.content.decode()[-2000:]
    item.refresh_from_db()
    assert item.status == "done"
    entry = LogEntry.objects.get_for_object(item).get(action=LogEntry.Action.UPDATE)
    assert (entry.actor, entry.changes_dict["status"]) == (manager, ["open", "done"])


def test_the_incident_page_adds_changes_and_removes_items_through_the_services(
    client, make_user, item
):
    manager = make_user("managers")
    client.force_login(manager)
    incident = item.incident
    form = form_for(
        incident,
        **{
            "action_items-TOTAL_FORMS": "2",
            "action_items-INITIAL_FORMS": "1",
            "action_items-0-id": str(item.pk),
            "action_items-0-incident": str(incident.pk),
            "action_items-0-title": item.title,
            "action_items-0-status": "open",
            "action_items-0-DELETE": "on",
            "action_items-1-incident": str(incident.pk),
            "action_items-1-title": "アラート閾値の見直し",
            "action_items-1-status": "open",
        },
    )

    response = client.post(f"/admin/incidents/incident/{incident.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[-2000:]
    assert list(incident.action_items.values_list("title", flat=True)) == ["アラート閾値の見直し"]
    added = incident.action_items.get()
    assert LogEntry.objects.get_for_object(added).get().actor == manager


def test_responders_cannot_delete_items_and_nobody_sets_an_unknown_field(make_user, item):
    with pytest.raises(PermissionDenied):
        services.action_item_delete(item=item, actor=make_user("sysadmins"))
    with pytest.raises(ValidationError, match="incident"):
        services.action_item_update(item=item, actor=make_user("managers"), incident=None)

    assert ActionItem.objects.filter(pk=item.pk, incident=item.incident).exists()
