"""Reading, editing and generating postmortems through the API, the admin and the command."""

from pathlib import Path

import pytest
from django.core.management import call_command

from incidents import services
from incidents.models import ActionItem, Postmortem, State


@pytest.fixture
def resolved(declare, sysadmin):
    incident = declare(title="Checkout errors 決済エラー")
    return services.incident_transition(incident=incident, action="resolve", actor=sysadmin)


def url(incident, tail=""):
    return f"/api/v1/incidents/{incident.key}/postmortem/{tail}"


def test_resolving_creates_a_draft(resolved):
    assert Postmortem.objects.filter(incident=resolved).exists()


def test_get_returns_markdown_by_default_and_fields_as_json(api, operator, resolved):
    client = api.as_user(operator)

    markdown = client.get(url(resolved))
    assert markdown.status_code == 200
    assert markdown["Content-Type"].startswith("text/markdown")
    assert markdown.content.decode().startswith(f"# 障害報告書: {resolved.key}")

    english = client.get(url(resolved), HTTP_ACCEPT_LANGUAGE="en")
    assert english.content.decode().startswith(f"# Postmortem report: {resolved.key}")

    fields = client.get(url(resolved), HTTP_ACCEPT="application/json")
    assert fields.json()["key"] == resolved.key
    assert fields.json()["action_items"] == []


def test_patch_edits_postmortem_and_incident_fields(api, operator, resolved):
    response = api.as_user(operator).patch(
        url(resolved),
        {"root_cause": "証明書の期限切れ", "lessons_learned": "期限を監視する"},
        format="json",
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"  # the fields, not the report
    resolved.refresh_from_db()
    assert resolved.root_cause == "証明書の期限切れ"
    assert resolved.postmortem.lessons_learned == "期限を監視する"
    assert resolved.timeline.filter(kind="fields").exists()


def test_patch_with_unknown_fields_is_400(api, operator, resolved):
    response = api.as_user(operator).patch(url(resolved), {"state": "closed"}, format="json")
    assert response.status_code == 400


def test_executives_read_but_cannot_edit(api, make_user, resolved):
    client = api.as_user(make_user("executives"))
    assert client.get(url(resolved)).status_code == 200
    assert client.patch(url(resolved), {"impact_users": "x"}, format="json").status_code == 403


def test_managers_generate_the_file_and_responders_cannot(api, make_user, resolved, settings):
    assert api.as_user(make_user("operations")).post(url(resolved, "generate/")).status_code == 403

    response = api.as_user(make_user("managers")).post(url(resolved, "generate/"))

    assert response.status_code == 200
    assert (Path(settings.POSTMORTEM_DIR) / response.json()["path"]).exists()


def test_action_items_are_added_through_the_api_and_shown_in_the_report(api, operator, resolved):
    client = api.as_user(operator)
    response = client.post(
        f"/api/v1/incidents/{resolved.key}/action-items/",
        {"title": "証明書の自動更新", "owner": operator.username, "due_date": "2026-12-01"},
        format="json",
    )
    assert response.status_code == 201
    assert ActionItem.objects.get().owner == operator
    assert "証明書の自動更新" in client.get(url(resolved)).content.decode()


def test_the_command_writes_or_prints_one_report(resolved, settings, capsys):
    # `--stdout` shadows call_command's own stdout= argument, so read what it printed.
    call_command("postmortem", resolved.key, "--stdout")
    assert capsys.readouterr().out.startswith(f"# 障害報告書: {resolved.key}")

    call_command("postmortem", resolved.key.lower())
    written = Path(capsys.readouterr().out.strip())
    assert written.parent == Path(settings.POSTMORTEM_DIR)
    assert written.read_text().startswith(f"# 障害報告書: {resolved.key}")


def test_the_admin_previews_the_report_sanitised(client, make_user, declare, sysadmin):
    incident = declare(title="<script>alert(1)</script> 障害")
    services.incident_transition(incident=incident, action="resolve", actor=sysadmin)
    client.force_login(make_user("managers"))

    draft = Postmortem.objects.get(incident=incident)
    page = client.get(f"/admin/incidents/postmortem/{draft.pk}/change/").content
    assert b"<h1>" in page
    assert b"<script>alert(1)</script>" not in page


def test_the_admin_preview_shows_the_responders_code_blocks_as_code(
    client, make_user, declare, sysadmin
):
    incident = declare(title="DB接続数の枯渇")
    services.incident_update(
        incident=incident, actor=sysadmin, root_cause="```sql\nSHOW max_connections;\n```"
    )
    services.incident_transition(incident=incident, action="resolve", actor=sysadmin)
    client.force_login(make_user("managers"))

    draft = Postmortem.objects.get(incident=incident)
    page = client.get(f"/admin/incidents/postmortem/{draft.pk}/change/").content.decode()
    assert "<pre><code" in page and "SHOW max_connections;" in page


def test_the_admin_generate_action_writes_the_file(client, make_user, resolved, settings):
    client.force_login(make_user("managers"))
    client.post(
        "/admin/incidents/postmortem/",
        {"action": "generate_report", "_selected_action": [resolved.postmortem.pk]},
    )
    assert resolved.state == State.POSTMORTEM
    assert len(list(Path(settings.POSTMORTEM_DIR).glob(f"*-{resolved.key}-*.md"))) == 1


def test_an_action_item_with_a_misspelt_field_is_400_and_not_added(api, operator, resolved):
    response = api.as_user(operator).post(
        f"/api/v1/incidents/{resolved.key}/action-items/",
        {"title": "証明書の期限を監視する", "onwer": operator.username},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["onwer"]
    assert not ActionItem.objects.exists()
