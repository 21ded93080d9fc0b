"""一次切り分け's first question, "what changed?": an incident's API answer, admin page,
chat status and postmortem list the changes to its service in the 24 hours before detection,
and the changes linked both ways as its cause (`caused_by`) and its fix (`fixed_by`)."""

import datetime as dt

import pytest
from django.utils import timezone

from changes import services
from changes.models import Kind, Result
from incidents import postmortems
from tests.chat.conftest import chat_settings, link_chat, slack, slack_command  # noqa: F401
from tests.factories import IncidentFactory

DETECTED = dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def incident(db):
    return IncidentFactory(title="決済APIのエラー率上昇", service="payments", detected_at=DETECTED)


@pytest.fixture
def changes(start, incident):
    """One change to the service 3 hours before detection, one 25 hours before, one to
    another service, one after detection."""
    at = lambda hours: DETECTED - dt.timedelta(hours=hours)  # noqa: E731
    return {
        "recent": start(title="v1.4.2", version="a1b2c3d", started_at=at(3)),
        "old": start(title="v1.4.1", started_at=at(25)),
        "other": start(title="auth v9", service="auth", started_at=at(1)),
        "after": start(title="hotfix", kind=Kind.EMERGENCY_DEPLOY, started_at=at(-1)),
    }


def test_the_incident_api_lists_the_services_changes_of_the_24_hours_before_detection(
    api, operator, incident, changes
):
    body = api.as_user(operator).get(f"/api/v1/incidents/{incident.key}/").json()
    assert [c["key"] for c in body["changes"]["recent"]] == [changes["recent"].key]
    recent = body["changes"]["recent"][0]
    assert (recent["title"], recent["version"], recent["result"]) == ("v1.4.2", "a1b2c3d", "")


def test_an_incident_without_a_service_lists_no_recent_change(api, operator, changes):
    other = IncidentFactory(detected_at=DETECTED)
    body = api.as_user(operator).get(f"/api/v1/incidents/{other.key}/").json()
    assert body["changes"] == {"recent": [], "caused_by": [], "fixed_by": []}


def test_caused_by_and_fixed_by_read_both_ways(api, operator, incident, changes):
    services.change_link_incidents(
        change=changes["recent"], actor=operator, relation="caused", add=[incident]
    )
    services.change_link_incidents(
        change=changes["after"], actor=operator, relation="fixed", add=[incident]
    )
    assert list(incident.caused_by.all()) == [changes["recent"]]
    assert list(incident.fixed_by.all()) == [changes["after"]]

    client = api.as_user(operator)
    body = client.get(f"/api/v1/incidents/{incident.key}/").json()["changes"]
    assert [c["key"] for c in body["caused_by"]] == [changes["recent"].key]
    assert [c["key"] for c in body["fixed_by"]] == [changes["after"].key]
    change = client.get(f"/api/v1/changes/{changes['after'].key}/").json()
    assert change["fixed_incidents"] == [incident.key]


def test_linking_through_the_api_and_unlinking(api, operator, incident, changes):
    client = api.as_user(operator)
    url = f"/api/v1/changes/{changes['recent'].key}/incidents/"
    response = client.post(url, {"relation": "caused", "add": [incident.key]}, format="json")
    assert response.status_code == 200 and response.json()["caused_incidents"] == [incident.key]
    response = client.post(url, {"relation": "caused", "remove": [incident.key]}, format="json")
    assert response.json()["caused_incidents"] == []
    bad = client.post(url, {"relation": "caused", "add": ["INC-999999"]}, format="json")
    assert bad.status_code == 400 and "add" in bad.json()["fields"]
    assert not incident.caused_by.exists()


def test_the_incident_admin_page_shows_what_changed(client, make_user, incident, changes):
    client.force_login(make_user("managers"))
    page = client.get(f"/admin/incidents/incident/{incident.pk}/change/").content.decode()
    assert changes["recent"].key in page and "v1.4.2" in page
    assert changes["old"].key not in page and changes["other"].key not in page


def test_chat_status_shows_what_changed(slack_command, link_chat, operator, incident, changes):  # noqa: F811
    link_chat(operator)
    text = slack_command(f"status {incident.key}")["text"]
    assert f"検知前の変更: {changes['recent'].key} 本番リリース v1.4.2 a1b2c3d" in text
    assert changes["old"].key not in text


def test_the_postmortem_lists_what_changed(operator, incident, changes):
    services.change_finish(change=changes["recent"], actor=operator, result=Result.FAILED)
    services.change_link_incidents(
        change=changes["recent"], actor=operator, relation="caused", add=[incident]
    )
    text = postmortems.report_render(incident=incident, language="en")
    section = text.split("## What changed", 1)[1].split("\n## ", 1)[0]
    assert f"| {changes['recent'].key} v1.4.2 | Release | a1b2c3d |" in section
    assert "| Failed | before detection, caused this incident |" in section
    assert changes["old"].key not in section


def test_a_change_started_at_detection_counts_and_one_a_second_past_24_hours_does_not(
    start, incident, api, operator
):
    edge = start(title="edge", started_at=DETECTED)
    start(title="too old", started_at=DETECTED - dt.timedelta(hours=24, seconds=1))
    body = api.as_user(operator).get(f"/api/v1/incidents/{incident.key}/").json()
    assert [c["key"] for c in body["changes"]["recent"]] == [edge.key]
    assert timezone.is_aware(edge.started_at)
