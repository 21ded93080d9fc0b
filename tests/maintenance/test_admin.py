"""Maintenance windows in the admin: listed with what they hold, opened through the service
(the API's rules and refusals), closed early by an action, audited; never edited or deleted."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.utils import timezone

from maintenance.models import MaintenanceWindow
from tests.maintenance.conftest import alert_body

WINDOWS = "/admin/maintenance/maintenancewindow/"


def form(**fields) -> dict:
    ends = timezone.localtime(timezone.now() + timedelta(hours=2))
    return {
        "service": "payments",
        "matchers": "{}",
        "starts_at_0": "",
        "starts_at_1": "",
        "ends_at_0": ends.strftime("%Y-%m-%d"),
        "ends_at_1": ends.strftime("%H:%M:%S"),
        "reason": "管理画面から",
        "pages_p0": "on",
        "reference": "",
    } | fields


@pytest.fixture
def manager(client, make_user):
    user = make_user("managers")
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return user


def test_the_list_shows_each_window_with_its_held_alerts(
    client, manager, window, post_alertmanager
):
    window(reason="決済リリース")
    post_alertmanager(alert_body())

    page = client.get(WINDOWS)

    assert page.status_code == 200
    text = page.content.decode()
    assert "決済リリース" in text and "payments" in text
    assert '<td class="field-held">1</td>' in text


def test_a_manager_opens_a_window_through_the_service_and_it_is_audited(client, manager):
    response = client.post(f"{WINDOWS}add/", form(matchers=json.dumps({"env": "prod"})))

    assert response.status_code == 302, response.content.decode()[:2000]
    window = MaintenanceWindow.objects.get()
    assert (window.service, window.matchers, window.opened_by) == (
        "payments",
        {"env": "prod"},
        manager,
    )
    assert window.starts_at <= timezone.now()
    assert LogEntry.objects.get_for_object(window).get().actor == manager


def test_an_overlapping_window_is_refused_on_the_form(client, manager, window):
    window()

    response = client.post(f"{WINDOWS}add/", form())

    assert response.status_code == 200
    assert "overlaps window" in response.content.decode()
    assert MaintenanceWindow.objects.count() == 1


def test_a_window_too_long_is_refused_on_the_form(client, manager):
    ends = timezone.localtime(timezone.now() + timedelta(days=9))
    response = client.post(f"{WINDOWS}add/", form(ends_at_0=ends.strftime("%Y-%m-%d")))

    assert response.status_code == 200
    assert "at most 7 days" in response.content.decode()
    assert not MaintenanceWindow.objects.exists()


def test_the_close_action_ends_windows_now(client, manager, window):
    opened = window()

    client.post(WINDOWS, {"action": "close_windows", "_selected_action": [opened.pk]})

    opened.refresh_from_db()
    assert opened.closed_by == manager and opened.ends_at <= timezone.now()


def test_an_operator_may_read_windows_but_not_open_them(client, make_user, window):
    client.force_login(make_user("operations"))
    window()

    assert client.get(WINDOWS).status_code == 200
    assert client.post(f"{WINDOWS}add/", form(service="search")).status_code == 403
    assert MaintenanceWindow.objects.count() == 1


def test_a_window_is_never_deleted_from_the_admin(client, manager, window):
    opened = window()
    assert client.post(f"{WINDOWS}{opened.pk}/delete/", {"post": "yes"}).status_code == 403
    assert MaintenanceWindow.objects.filter(pk=opened.pk).exists()


def test_a_windows_page_shows_it_read_only_with_its_held_list(
    client, manager, window, post_alertmanager
):
    opened = window(reason="決済リリース")
    post_alertmanager(alert_body())

    add = client.get(f"{WINDOWS}add/")
    change = client.get(f"{WINDOWS}{opened.pk}/change/")
    held_list = client.get("/admin/maintenance/heldalert/")

    assert add.status_code == 200 and 'name="ends_at_0"' in add.content.decode()
    text = change.content.decode()
    assert change.status_code == 200 and 'name="ends_at_0"' not in text
    assert "a1b2c3d4e5f60718" in text
    assert (
        held_list.status_code == 200 and "エラー率が5%を超えています" in held_list.content.decode()
    )
