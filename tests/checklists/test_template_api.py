"""Checklist templates with nested items: `/api/v1/checklists/templates/` (managers write,
responders read), through `checklists.services`, audited."""

import pytest
from auditlog.models import LogEntry

from checklists.models import ChecklistTemplate, TemplateItem

URL = "/api/v1/checklists/templates/"
NEW = {
    "key": "db-failover",
    "name_ja": "DBフェイルオーバー",
    "name_en": "Database failover",
    "kind": "migration",
    "items": [
        {"text_ja": "レプリカ確認", "text_en": "Check the replica"},
        {"text_ja": "切替", "command": "make failover", "command_language": "bash"},
    ],
}


@pytest.fixture
def manager(make_user):
    return make_user("managers")


def test_a_manager_creates_a_template_with_its_items_in_order(api, manager):
    response = api.as_user(manager).post(URL, NEW, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [i["text_ja"] for i in body["items"]] == ["レプリカ確認", "切替"]
    assert [i["position"] for i in body["items"]] == [1, 2]
    template = ChecklistTemplate.objects.get(key="db-failover")
    assert LogEntry.objects.get_for_object(template).get().actor == manager


def test_a_manager_replaces_the_items_place_by_place(api, manager):
    template_id = api.as_user(manager).post(URL, NEW, format="json").json()["id"]
    first = TemplateItem.objects.get(template_id=template_id, position=1)
    items = [{"text_ja": "レプリカ確認 (遅延)", "required": False}]
    response = api.patch(f"{URL}{template_id}/", {"items": items}, format="json")
    assert response.status_code == 200, response.json()
    assert [i["id"] for i in response.json()["items"]] == [first.pk]  # changed, not re-added
    first.refresh_from_db()
    assert (first.text_ja, first.required) == ("レプリカ確認 (遅延)", False)
    assert TemplateItem.objects.filter(template_id=template_id).count() == 1


def test_responders_read_templates_but_may_not_write_them(api, make_user):
    responder = make_user("operations")
    listing = api.as_user(responder).get(URL)
    assert listing.status_code == 200
    keys = [t["key"] for t in listing.json()["results"]]
    assert "production-release" in keys
    assert api.post(URL, NEW, format="json").status_code == 403
    template = ChecklistTemplate.objects.get(key="production-release")
    answer = api.patch(f"{URL}{template.pk}/", {"name_en": "x"}, format="json")
    assert answer.status_code == 403
    assert answer.json()["error"]
    assert not ChecklistTemplate.objects.filter(key="db-failover").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**NEW, "colour": "red"}, "colour"),
        ({**NEW, "kind": "weekly-ish"}, "kind"),
        ({**NEW, "severities": ["P9"]}, "severities"),
        ({**NEW, "items": [{"text_ja": "x", "owner": "me"}]}, "items"),
        ({**NEW, "key": "production-release"}, "key"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(api, manager, body, field):
    count = ChecklistTemplate.objects.count()
    response = api.as_user(manager).post(URL, body, format="json")
    assert response.status_code == 400
    assert any(name.startswith(field) for name in response.json()["fields"]), response.json()
    assert ChecklistTemplate.objects.count() == count


def test_the_api_needs_a_token(api):
    assert api.get(URL).status_code == 401
