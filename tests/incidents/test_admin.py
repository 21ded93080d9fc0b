"""Managers and responders drive the lifecycle from the admin, through the same services."""

import pytest

from incidents.models import Incident, State
from tests.admin_forms import form_for
from tests.factories import IncidentFactory

CHANGELIST = "/admin/incidents/incident/"


def change_url(incident):
    return f"{CHANGELIST}{incident.pk}/change/"


@pytest.fixture
def as_role(client, make_user):
    def login(role):
        client.force_login(make_user(role))
        return client

    return login


def test_changelist_filters_searches_and_counts(as_role):
    client = as_role("managers")
    IncidentFactory(title="決済APIの応答遅延", severity="P0")
    other = IncidentFactory(title="ディスク使用率", severity="P3", state=State.TRIAGE)

    page = client.get(CHANGELIST, {"severity__exact": "P0"}).content.decode()
    assert "決済APIの応答遅延" in page and "ディスク使用率" not in page

    page = client.get(CHANGELIST, {"q": other.key}).content.decode()
    assert "ディスク使用率" in page and "決済APIの応答遅延" not in page


def test_change_page_offers_the_buttons_the_user_may_press_and_says_why_not(as_role):
    client = as_role("operations")
    incident = IncidentFactory(state=State.DETECTED)

    page = client.get(change_url(incident), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert 'name="_fsm_transition_to"' in page
    assert 'value="acknowledge"' in page
    assert 'value="dismiss"' not in page
    assert "Your role may not do this." in page


def test_pressing_a_transition_button_moves_the_incident(as_role):
    client = as_role("operations")
    incident = IncidentFactory(state=State.DETECTED)

    response = client.post(
        change_url(incident), form_for(incident, _fsm_transition_to="acknowledge")
    )

    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.state == State.TRIAGE
    assert incident.timeline.filter(kind="acknowledge").exists()


def test_a_button_outside_the_role_changes_nothing(as_role):
    client = as_role("operations")
    incident = IncidentFactory(state=State.POSTMORTEM, root_cause="a", resolution="b")

    client.post(change_url(incident), form_for(incident, _fsm_transition_to="close"))

    assert Incident.objects.get(pk=incident.pk).state == State.POSTMORTEM


def test_dismiss_asks_for_a_reason(as_role):
    client = as_role("sysadmins")
    incident = IncidentFactory(state=State.DETECTED)
    url = f"{CHANGELIST}{incident.pk}/transition/dismiss/"

    assert client.post(url, {"reason": ""}).status_code == 200
    assert Incident.objects.get(pk=incident.pk).state == State.DETECTED

    client.post(url, {"reason": "監視の誤検知"})
    incident.refresh_from_db()
    assert incident.state == State.DISMISSED
    assert incident.dismiss_reason == "監視の誤検知"


def test_a_note_from_the_change_page_lands_on_the_timeline(as_role):
    client = as_role("operations")
    incident = IncidentFactory()

    client.post(change_url(incident), form_for(incident, new_note="再起動で様子見"))

    assert incident.timeline.get(kind="note").message == "再起動で様子見"


def test_declaring_from_the_admin_uses_the_service(as_role):
    client = as_role("operations")
    response = client.post(
        f"{CHANGELIST}add/",
        {
            "title": "API応答時間 2秒超過",
            "severity": "P1",
            "category": "system",
            "service": "api",
            "commander": "",
            "summary": "",
            "impact": "",
            "detected_at_0": "2026-01-05",
            "detected_at_1": "10:00:00",
            "timeline-TOTAL_FORMS": "0",
            "timeline-INITIAL_FORMS": "0",
            "alerts-TOTAL_FORMS": "0",
            "alerts-INITIAL_FORMS": "0",
            "checklist_runs-TOTAL_FORMS": "0",
            "checklist_runs-INITIAL_FORMS": "0",
            "action_items-TOTAL_FORMS": "0",
            "action_items-INITIAL_FORMS": "0",
            "vendor_tickets-TOTAL_FORMS": "0",
            "vendor_tickets-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    incident = Incident.objects.get()
    assert incident.timeline.exclude(kind="escalated").get().kind == "declared"
    assert incident.created_by is not None


def test_bulk_acknowledge_acknowledges_what_it_can(as_role):
    client = as_role("operations")
    fresh = IncidentFactory(state=State.DETECTED)
    done = IncidentFactory(state=State.POSTMORTEM)

    client.post(
        CHANGELIST,
        {"action": "bulk_acknowledge", "_selected_action": [fresh.pk, done.pk]},
    )

    assert Incident.objects.get(pk=fresh.pk).state == State.TRIAGE
    assert Incident.objects.get(pk=done.pk).state == State.POSTMORTEM


def test_incidents_cannot_be_deleted_from_the_admin(as_role):
    client = as_role("managers")
    incident = IncidentFactory()
    client.post(f"{CHANGELIST}{incident.pk}/delete/", {"post": "yes"})
    assert Incident.objects.filter(pk=incident.pk).exists()


def test_the_change_page_suggests_known_problems(as_role):
    client = as_role("operations")
    incident = IncidentFactory(title="API応答時間が2秒を超過", summary="パフォーマンス低下")

    page = client.get(change_url(incident), HTTP_ACCEPT_LANGUAGE="ja").content.decode()

    assert "スロークエリ分析" in page
