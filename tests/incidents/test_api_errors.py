"""Bad input gets a clear 4xx in the documented error shape (docs/ARCHITECTURE.md, "Errors")
and changes nothing."""

import datetime as dt

import pytest
from django.utils import timezone

from incidents.models import Incident, State, TimelineEvent
from tests.factories import IncidentFactory

URL = "/api/v1/incidents/"


def snapshot():
    return (
        list(Incident.objects.order_by("pk").values()),
        TimelineEvent.objects.count(),
    )


@pytest.fixture
def client(api, sysadmin):
    return api.as_user(sysadmin)


def assert_error(response, status, code=None, field=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) >= {"error", "detail", "fields"}
    if code:
        assert body["error"] == code
    if field:
        assert field in body["fields"], body


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"severity": "P1"}, "title"),
        ({"title": "x", "severity": "P9"}, "severity"),
        ({"title": "x"}, "severity"),
        ({"title": "x" * 201, "severity": "P1"}, "title"),
        ({"title": 42, "severity": "P1"}, "title"),
        ({"title": ["a"], "severity": "P1"}, "title"),
        ({"title": "x", "severity": "P1", "detected_at": "yesterday"}, "detected_at"),
        # A mistyped year: Tokyo had no +09:00 before 1888, and no answer could show it.
        ({"title": "x", "severity": "P1", "detected_at": "0336-08-23T01:01:29Z"}, "detected_at"),
        ({"title": "x", "severity": "P1", "category": "network"}, "category"),
        ({"title": "x", "severity": "P1", "state": "closed"}, "state"),
        ({"title": "x", "severity": "P1", "commander": "nobody"}, "commander"),
    ],
)
def test_declare_with_bad_fields_is_a_400_naming_the_field(client, payload, field):
    before = snapshot()
    assert_error(client.post(URL, payload, format="json"), 400, "invalid", field)
    assert snapshot() == before


def test_declare_with_a_future_detection_time_is_refused(client):
    future = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    response = client.post(
        URL, {"title": "x", "severity": "P1", "detected_at": future}, format="json"
    )
    assert_error(response, 400, "invalid", "detected_at")
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ("title=x&severity=P1", "application/x-www-form-urlencoded"),
        ("just text", "text/plain"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_400(client, body, content_type):
    response = client.generic("POST", URL, body, content_type=content_type)
    assert_error(response, 400)
    assert not Incident.objects.exists()


def test_without_a_token_is_401(api):
    assert_error(api.get(URL), 401)
    assert_error(api.post(URL, {"title": "x", "severity": "P1"}, format="json"), 401)
    assert not Incident.objects.exists()


def test_with_a_wrong_token_is_401(api):
    api.credentials(HTTP_AUTHORIZATION="Token " + "0" * 64)
    assert_error(api.get(URL), 401)


def test_unknown_key_is_404(client):
    assert_error(client.get(f"{URL}INC-999999/"), 404, "not_found")
    assert_error(client.get(f"{URL}nonsense/"), 404, "not_found")
    assert_error(client.post(f"{URL}INC-999999/acknowledge/", format="json"), 404)


def test_transition_not_allowed_now_is_409_listing_allowed_actions(client):
    incident = IncidentFactory(state=State.TRIAGE)
    before = snapshot()

    response = client.post(f"{URL}{incident.key}/close/", format="json")

    assert_error(response, 409, "transition_not_allowed")
    assert response.json()["allowed_actions"] == ["investigate", "resolve", "dismiss"]
    assert snapshot() == before


def test_close_without_root_cause_is_409_listing_what_is_missing(client):
    incident = IncidentFactory(state=State.POSTMORTEM, resolution="再起動")
    response = client.post(f"{URL}{incident.key}/close/", format="json")
    assert_error(response, 409, "missing_requirements", "root_cause")
    assert response.json()["missing"] == ["root_cause"]


def test_dismiss_without_reason_is_400(client):
    incident = IncidentFactory()
    assert_error(client.post(f"{URL}{incident.key}/dismiss/", format="json"), 400, field="reason")
    assert Incident.objects.get(pk=incident.pk).state == State.DETECTED


def test_patch_of_a_read_only_field_is_400_and_changes_nothing(client):
    incident = IncidentFactory()
    before = snapshot()
    response = client.patch(f"{URL}{incident.key}/", {"state": "closed"}, format="json")
    assert_error(response, 400, "invalid", "state")
    assert snapshot() == before


def test_messages_follow_accept_language(client):
    incident = IncidentFactory(state=State.TRIAGE)
    ja = client.post(f"{URL}{incident.key}/close/", format="json", HTTP_ACCEPT_LANGUAGE="ja")
    en = client.post(f"{URL}{incident.key}/close/", format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert en.json()["detail"] != ja.json()["detail"]
    assert "not allowed" in en.json()["detail"]


def test_unsupported_method_is_a_json_405(client):
    incident = IncidentFactory()
    response = client.delete(f"{URL}{incident.key}/")
    assert_error(response, 405)
    assert Incident.objects.filter(pk=incident.pk).exists()


@pytest.mark.parametrize(
    "value",
    [
        # Offsets that carry the instant beyond the years a datetime holds.
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2026-03-30T19:22:16+24:00",
        "2026-13-01T00:00:00Z",
        "yesterday",
    ],
)
@pytest.mark.parametrize("name", ["detected_before", "detected_after"])
def test_a_date_filter_that_is_no_instant_is_a_400_naming_it(client, name, value):
    assert_error(client.get(URL, {name: value}), 400, "invalid", name)


def test_a_date_filter_with_an_offset_the_database_refuses_is_compared_as_that_instant(client):
    """PostgreSQL takes offsets up to ±15:59, Python up to ±23:59: the filter compares in UTC."""
    incident = IncidentFactory(detected_at=dt.datetime(2026, 3, 30, 12, 0, tzinfo=dt.UTC))

    # 12:00 UTC is 20:15 the day before at -15:45, and 11:59 on the 31st at +23:59.
    after = client.get(URL, {"detected_after": "2026-03-29T20:15:00-15:45"})
    before = client.get(URL, {"detected_before": "2026-03-31T12:00:00+23:59"})
    ancient = client.get(URL, {"detected_before": "0126-03-30T19:22:16-20:15"})

    assert [row["key"] for row in after.json()["results"]] == [incident.key]
    assert [row["key"] for row in before.json()["results"]] == [incident.key]
    assert ancient.status_code == 200 and ancient.json()["results"] == []


@pytest.mark.parametrize("accept", ["text/markdown", "*/*", "text/html"])
def test_an_error_of_the_markdown_report_is_json_and_says_so(client, accept):
    response = client.get(f"{URL}INC-999999/postmortem/", HTTP_ACCEPT=accept)

    assert response["Content-Type"] == "application/json"
    assert_error(response, 406 if accept == "text/html" else 404)
