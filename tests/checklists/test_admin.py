"""The admin: templates with their items, runs with progress, tick boxes that call the services."""

import threading

import pytest
from auditlog.models import LogEntry
from django.contrib.admin import site
from django.core.exceptions import PermissionDenied
from django.db import connections
from django.urls import reverse

from checklists.models import ChecklistRun, ChecklistTemplate, RunItem
from checklists.selectors import runs_with_items
from config.base import record_save


def test_a_responder_ticks_and_skips_items_on_the_run_page(client, declare, operator):
    incident = declare()
    run = ChecklistRun.objects.get(incident=incident)
    first, second = run.items.order_by("position")[:2]
    client.force_login(operator)
    page = reverse("admin:checklists_checklistrun_change", args=[run.pk])

    shown = client.get(page)
    ticked = client.post(
        reverse("admin:checklists_runitem_action", args=[first.pk, "done"]) + f"?next={page}"
    )
    refused = client.post(reverse("admin:checklists_runitem_action", args=[second.pk, "skip"]))
    skipped = client.post(
        reverse("admin:checklists_runitem_action", args=[second.pk, "skip"]),
        {f"skip_reason_{second.pk}": "誤検知"},
    )

    assert shown.status_code == 200
    assert "0 / 11" in shown.content.decode()
    assert f"skip_reason_{first.pk}" in shown.content.decode()
    assert ticked.status_code == 302 and ticked["Location"] == page
    assert refused.status_code == skipped.status_code == 302
    assert RunItem.objects.get(pk=first.pk).status == "done"
    assert RunItem.objects.get(pk=second.pk).skip_reason == "誤検知"
    assert "2 / 11" in client.get(page).content.decode()


def test_executives_see_runs_without_tick_buttons(client, declare, make_user):
    run = ChecklistRun.objects.get(incident=declare())
    client.force_login(make_user("executives"))

    shown = client.get(reverse("admin:checklists_checklistrun_change", args=[run.pk]))
    ticked = client.post(
        reverse("admin:checklists_runitem_action", args=[run.items.first().pk, "done"])
    )

    assert shown.status_code == 200
    assert "skip_reason_" not in shown.content.decode()
    assert ticked.status_code == 302
    assert not run.items.exclude(status="open").exists()


def test_run_list_filters_overdue_and_template_page_edits_items(client, make_user):
    client.force_login(make_user("managers"))

    runs = client.get(reverse("admin:checklists_checklistrun_changelist") + "?overdue=yes")
    template = ChecklistTemplate.objects.get(key="weekly")
    page = client.get(reverse("admin:checklists_checklisttemplate_change", args=[template.pk]))

    assert runs.status_code == 200
    assert page.status_code == 200
    assert "pg_stat_statements" in page.content.decode()


def test_the_incident_page_inline_shows_tick_boxes_that_return_to_the_incident(
    client, declare, operator, monkeypatch
):
    from django.contrib import admin

    from checklists.admin import IncidentChecklistInline
    from incidents.models import Incident

    incident_admin = type(admin.site._registry[Incident])
    monkeypatch.setattr(
        incident_admin, "inlines", [*incident_admin.inlines, IncidentChecklistInline]
    )
    incident = declare(category="security")
    item = RunItem.objects.filter(run__incident=incident).order_by("run_id", "position").first()
    client.force_login(operator)
    page = reverse("admin:incidents_incident_change", args=[incident.pk])

    shown = client.get(page).content.decode()
    ticked = client.post(
        reverse("admin:checklists_runitem_action", args=[item.pk, "done"]) + f"?next={page}"
    )

    assert "セキュリティインシデント対応" in shown and "0 / 5" in shown
    assert f'formaction="/admin/checklists/checklistrun/item/{item.pk}/done/?next=' in shown
    assert ticked["Location"] == page
    assert RunItem.objects.get(pk=item.pk).status == "done"


def test_a_page_shows_tick_buttons_for_its_own_viewer_while_another_renders(
    rf, declare, operator, make_user
):
    """The admin is one object shared by every request thread: one viewer's permissions must
    never leak into another's page."""
    # Loaded with its items here: the other thread's connection cannot see this test's rows.
    run = runs_with_items().get(incident=declare())
    run_admin = site._registry[ChecklistRun]
    responder, executive = rf.get("/"), rf.get("/")
    responder.user, executive.user = operator, make_user("executives")
    # Read (and cached) here, for the same reason as the items above.
    assert operator.has_perm("checklists.tick_runitem")
    assert not executive.user.has_perm("checklists.tick_runitem")
    queried, rendered = threading.Event(), threading.Event()
    seen = {}

    def executives_page():
        try:
            run_admin.get_queryset(executive)
            queried.set()
            rendered.wait(5)
            seen["executive"] = run_admin.checklist(run)
        finally:
            connections.close_all()

    other = threading.Thread(target=executives_page)
    other.start()
    queried.wait(5)
    run_admin.get_queryset(responder)  # the responder's request, meanwhile
    rendered.set()
    other.join(5)

    assert "formaction" not in seen["executive"]
    assert "formaction" in run_admin.checklist(run)


def test_a_template_item_added_in_the_admin_is_saved_by_the_service_and_audited(client, make_user):
    manager = make_user("managers")
    client.force_login(manager)
    template = ChecklistTemplate.objects.get(key="daily")
    items = list(template.items.order_by("position"))
    data = {
        "key": template.key,
        "name_ja": template.name_ja,
        "name_en": template.name_en,
        "kind": template.kind,
        "source": template.source,
        "severities": "[]",
        "categories": "[]",
        "is_active": "on",
        "items-TOTAL_FORMS": str(len(items) + 1),
        "items-INITIAL_FORMS": str(len(items)),
    }
    for n, item in enumerate(items):
        data |= {
            f"items-{n}-id": str(item.pk),
            f"items-{n}-template": str(template.pk),
            f"items-{n}-position": str(item.position),
            f"items-{n}-text_ja": item.text_ja,
            f"items-{n}-text_en": item.text_en,
            f"items-{n}-required": "on",
        }
    n = len(items)
    data |= {
        f"items-{n}-template": str(template.pk),
        f"items-{n}-position": str(n + 1),
        f"items-{n}-text_ja": "証明書の有効期限確認",
        f"items-{n}-required": "on",
    }

    response = client.post(
        reverse("admin:checklists_checklisttemplate_change", args=[template.pk]), data
    )

    assert response.status_code == 302, response.content.decode()[-3000:]
    added = template.items.get(text_ja="証明書の有効期限確認")
    assert LogEntry.objects.get_for_object(added).get().actor == manager


def test_those_without_the_model_permission_cannot_save_a_template(make_user):
    template = ChecklistTemplate.objects.get(key="daily")
    template.name_ja = "変更"

    with pytest.raises(PermissionDenied):
        record_save(template, actor=make_user("sysadmins"), changed=["name_ja"])

    assert ChecklistTemplate.objects.get(pk=template.pk).name_ja == "日次タスク"
