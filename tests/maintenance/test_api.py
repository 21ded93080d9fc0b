"""`/api/v1/maintenance-windows/`: sysadmins and managers open and close windows, every role
that works incidents reads them; a window must cover something, end, within the maximum, and
overlap no other over the same service; every refusal is a 400 naming the field, and writes
nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.utils import timezone

from maintenance.models import HeldAlert, MaintenanceWindow
from tests.maintenance.conftest import alert_body

URL = "/api/v1/maintenance-windows/"


def later(**delta) -> str:
    return (timezone.now() + timedelta(**delta)).isoformat()


def body(**fields) -> dict:
    return {"service": "payments", "ends_at": later(hours=2), "reason": "リリース v2.3"} | fields


@pytest.fixture
def as_sysadmin(api, sysadmin):
    return api.as_user(sysadmin)


def test_a_sysadmin_opens_a_window_and_it_is_audited(as_sysadmin, sysadmin):
    response = as_sysadmin.post(URL, body(matchers={"env": "prod"}), format="json")

    assert response.status_code == 201, response.json()
    window = MaintenanceWindow.objects.get()
    answer = response.json()
    assert answer["id"] == window.pk
    assert (answer["service"], answer["matchers"], answer["pages_p0"]) == (
        "payments",
        {"env": "prod"},
        True,
    )
    assert (answer["opened_by"], answer["held"]) == (sysadmin.username, 0)
    assert window.starts_at <= timezone.now()
    entry = LogEntry.objects.get_for_object(window).get()
    assert (entry.action, entry.actor) == (LogEntry.Action.CREATE, sysadmin)


def test_windows_are_listed_with_the_alerts_they_hold(window, post_alertmanager, api, operator):
    opened = window()
    post_alertmanager(alert_body())

    listed = api.as_user(operator).get(URL).json()
    held = api.as_user(operator).get(f"{URL}{opened.pk}/held/").json()

    assert [(w["id"], w["held"]) for w in listed["results"]] == [(opened.pk, 1)]
    assert [(h["fingerprint"], h["status"], h["incident"]) for h in held] == [
        ("a1b2c3d4e5f60718", "firing", None)
    ]


def test_closing_a_window_ends_it_now_and_is_audited(as_sysadmin, sysadmin, window):
    opened = window()

    response = as_sysadmin.post(f"{URL}{opened.pk}/close/", format="json")

    assert response.status_code == 200
    opened.refresh_from_db()
    assert opened.ends_at <= timezone.now() and opened.closed_by == sysadmin
    entry = LogEntry.objects.get_for_object(opened).filter(action=LogEntry.Action.UPDATE).get()
    assert entry.actor == sysadmin and "ends_at" in entry.changes_dict


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"ends_at": None}, "ends_at"),
        ({"ends_at": ""}, "ends_at"),
        ({"ends_at": "next week"}, "ends_at"),
        ({"ends_at": later(days=8)}, "ends_at"),
        ({"ends_at": later(minutes=-5)}, "ends_at"),
        ({"starts_at": later(hours=3)}, "ends_at"),
        ({"service": "", "matchers": {}}, "service"),
        ({"matchers": {"env": 3}}, "matchers"),
        ({"matchers": ["env"]}, "matchers"),
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"pages_p0": "sometimes"}, "pages_p0"),
        ({"onwer": "me"}, "onwer"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(as_sysadmin, fields, field):
    sent = body(**fields)
    if fields.get("ends_at") is None and "ends_at" in fields:
        del sent["ends_at"]  # a window that never ends

    response = as_sysadmin.post(URL, sent, format="json")

    assert response.status_code == 400, response.json()
    answer = response.json()
    assert answer["error"] == "invalid" and field in answer["fields"], answer
    assert not MaintenanceWindow.objects.exists()
    assert not LogEntry.objects.filter(content_type__app_label="maintenance").exists()


def test_the_maximum_length_is_a_setting(as_sysadmin, settings):
    settings.MAINTENANCE_WINDOW_MAX_DAYS = 1

    response = as_sysadmin.post(
        URL, body(ends_at=later(hours=30)), format="json", HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 400
    assert "1 days" in response.json()["fields"]["ends_at"][0]


@pytest.mark.parametrize(
    ("starts", "ends"),
    [
        ({"minutes": 30}, {"hours": 3}),
        ({"minutes": -1}, {"minutes": 30}),
        ({"minutes": 59}, {"hours": 2}),
    ],
)
def test_an_overlapping_window_over_the_same_service_is_refused(as_sysadmin, window, starts, ends):
    window()  # payments, from a minute ago for an hour

    response = as_sysadmin.post(
        URL, body(starts_at=later(**starts), ends_at=later(**ends)), format="json"
    )

    assert response.status_code == 400
    assert "starts_at" in response.json()["fields"]
    assert MaintenanceWindow.objects.count() == 1


def test_windows_over_other_services_or_times_may_coexist(as_sysadmin, window):
    window()

    other_service = as_sysadmin.post(URL, body(service="search"), format="json")
    afterwards = as_sysadmin.post(
        URL, body(starts_at=later(hours=2), ends_at=later(hours=3)), format="json"
    )
    other_matchers = as_sysadmin.post(URL, body(matchers={"env": "prod"}), format="json")

    assert [r.status_code for r in (other_service, afterwards, other_matchers)] == [201, 201, 201]


@pytest.mark.parametrize("role", ["operations", "developers", "executives", "integrations"])
def test_other_roles_may_not_open_or_close_a_window(api, make_user, window, role):
    client = api.as_user(make_user(role))
    opened = window()

    refused = client.post(URL, body(service="search"), format="json")
    closing = client.post(f"{URL}{opened.pk}/close/", format="json")

    assert (refused.status_code, refused.json()["error"]) == (403, "permission_denied")
    assert closing.status_code == 403
    assert MaintenanceWindow.objects.count() == 1
    opened.refresh_from_db()
    assert opened.closed_at is None


def test_a_user_without_a_role_may_not_even_read_them(api, make_user, window):
    window()
    assert api.as_user(make_user()).get(URL).status_code == 403


def test_anonymous_requests_are_refused(client):
    assert client.post(URL, body(), content_type="application/json").status_code == 401
    assert not MaintenanceWindow.objects.exists()
    assert not HeldAlert.objects.exists()


def test_the_list_orders_only_by_its_own_fields(api, operator, window):
    window()
    client = api.as_user(operator)

    assert client.get(f"{URL}?ordering=-ends_at").status_code == 200
    assert client.get(f"{URL}?ordering=status").status_code == 200  # unknown: ignored
    assert client.get(f"{URL}999/held/?ordering=status").status_code == 404
