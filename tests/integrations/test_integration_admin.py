"""Managers create integrations; the secret is shown once and only its hash is kept."""

import io

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.core.management import call_command

from config.base import SYSTEM
from integrations.models import Integration, hash_secret
from integrations.services import (
    integration_create,
    integration_rotate_secret,
    integration_update,
)


def test_managers_create_an_integration_through_the_api_and_see_the_secret_once(api, make_user):
    client = api.as_user(make_user("managers"))

    response = client.post(
        "/api/v1/integrations/", {"name": "pd", "kind": "pagerduty"}, format="json"
    )

    assert response.status_code == 201
    secret = response.json()["secret"]
    assert len(secret) == 32
    integration = Integration.objects.get(name="pd")
    assert integration.secret_hash == hash_secret(secret)
    assert secret not in str(client.get(f"/api/v1/integrations/{integration.pk}/").json())
    assert response.json()["endpoint"].endswith("/v2/enqueue")


def test_responders_cannot_manage_integrations(api, make_user):
    client = api.as_user(make_user("sysadmins"))
    assert client.get("/api/v1/integrations/").status_code == 403
    response = client.post("/api/v1/integrations/", {"name": "x", "kind": "generic"}, format="json")
    assert response.status_code == 403
    assert not Integration.objects.exists()


def test_the_command_prints_the_secret_once(db):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_integration", kind="alertmanager", name="prom", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    assert Integration.objects.get(name="prom").secret_hash == hash_secret(secret)
    assert "/api/v1/integrations/alertmanager/" in err.getvalue()


def admin_form(**changes) -> dict:
    """The admin's add form as a manager fills it in."""
    return {
        "name": "prom",
        "kind": "alertmanager",
        "default_severity": "P2",
        "severity_mapping": '{"critical": "P0"}',
        "grouping": "group_key",
        "group_by": "[]",
        "group_window": "00:15:00",
        "auto_resolve": "on",
        "enabled": "on",
        "policy": "",
        "hmac_secret_env": "",
        **changes,
    }


def test_the_admin_shows_the_secret_once_with_a_ready_configuration(client, make_user):
    client.force_login(make_user("managers"))
    response = client.post("/admin/integrations/integration/add/", admin_form(), follow=True)
    page = response.content.decode()
    assert "webhook_configs" in page
    integration = Integration.objects.get(name="prom")
    assert integration.secret_hint in page
    change = client.get(f"/admin/integrations/integration/{integration.pk}/change/").content
    assert b"credentials: &lt;secret starting" in change


def test_an_integration_with_a_misspelt_field_is_400_and_not_created(api, make_user):
    client = api.as_user(make_user("managers"))
    response = client.post(
        "/api/v1/integrations/",
        {"name": "prom", "kind": "alertmanager", "auto_resolv": False},
        format="json",
    )

    assert response.status_code == 400
    assert "auto_resolv" in response.json()["fields"]
    assert not Integration.objects.filter(name="prom").exists()


def test_only_those_who_may_change_an_integration_can_rotate_its_secret(client, make_user):
    integration, _secret = integration_create(name="prom", kind="alertmanager", actor=SYSTEM)
    before = integration.secret_hash
    viewer = make_user()
    viewer.user_permissions.add(Permission.objects.get(codename="view_integration"))
    client.force_login(viewer)

    client.post(
        "/admin/integrations/integration/",
        {"action": "rotate_secret", "_selected_action": [integration.pk]},
    )
    integration.refresh_from_db()
    assert integration.secret_hash == before
    with pytest.raises(PermissionDenied):
        integration_rotate_secret(integration=integration, actor=viewer)

    client.force_login(make_user("managers"))
    client.post(
        "/admin/integrations/integration/",
        {"action": "rotate_secret", "_selected_action": [integration.pk]},
    )
    integration.refresh_from_db()
    assert integration.secret_hash != before


@pytest.mark.parametrize("mapping", [{"critical": "P9"}, ["P0"]])
def test_a_severity_mapping_to_no_runbook_level_is_refused_by_the_api(api, make_user, mapping):
    client = api.as_user(make_user("managers"))

    response = client.post(
        "/api/v1/integrations/",
        {"name": "prom", "kind": "alertmanager", "severity_mapping": mapping},
        format="json",
    )

    assert response.status_code == 400
    assert "severity_mapping" in response.json()["fields"]
    assert not Integration.objects.exists()


def test_a_severity_mapping_to_no_runbook_level_is_refused_by_the_admin(client, make_user):
    client.force_login(make_user("managers"))

    response = client.post(
        "/admin/integrations/integration/add/", admin_form(severity_mapping='{"critical": "P9"}')
    )

    assert response.status_code == 200  # the form again, with the error
    assert "severity_mapping" in response.context["adminform"].form.errors
    assert not Integration.objects.exists()


def test_mapping_keys_are_stored_lower_cased_as_labels_are_matched(api, make_user):
    client = api.as_user(make_user("managers"))
    client.post(
        "/api/v1/integrations/",
        {"name": "prom", "kind": "alertmanager", "severity_mapping": {"Critical": "P1"}},
        format="json",
    )
    integration = Integration.objects.get()
    assert integration.severity_mapping == {"critical": "P1"}
    assert integration.severity_for({"severity": "CRITICAL"}) == "P1"


def test_an_integration_disabled_in_the_admin_stops_answering_at_once(client, make_user):
    manager = make_user("managers")
    client.force_login(manager)
    integration, secret = integration_create(name="prom", kind="alertmanager", actor=SYSTEM)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    known = client.post("/api/v1/integrations/alertmanager/", "{}", "application/json", **headers)
    assert known.status_code == 400  # authenticated, then refused as no alert group

    form = admin_form(name="prom", enabled="") | {"kind": None}
    response = client.post(
        f"/admin/integrations/integration/{integration.pk}/change/",
        {k: v for k, v in form.items() if v},
    )

    assert response.status_code == 302, response.content.decode()[-2000:]
    assert not Integration.objects.get(pk=integration.pk).enabled
    entry = LogEntry.objects.get_for_object(integration).get(actor=manager)
    assert entry.changes_dict["enabled"] == ["True", "False"]
    answer = client.post("/api/v1/integrations/alertmanager/", "{}", "application/json", **headers)
    assert answer.status_code == 401


def test_responders_cannot_change_an_integration_through_the_service(make_user):
    integration, _secret = integration_create(name="prom", kind="alertmanager", actor=SYSTEM)

    with pytest.raises(PermissionDenied):
        integration_update(integration=integration, actor=make_user("sysadmins"), enabled=False)

    assert Integration.objects.get(pk=integration.pk).enabled
