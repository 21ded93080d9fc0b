"""Admin: the policy's dry-run panel and level validation, the incident's escalation panel and
button, the Notice list's retry action."""

import pytest

from escalation.models import Escalation, EscalationPolicy
from notices.models import Notice


@pytest.fixture
def admin_client(client, make_user):
    user = make_user("managers", is_superuser=False)
    client.force_login(user)
    return client


def test_the_policy_page_shows_the_planned_timeline(admin_client):
    policy = EscalationPolicy.objects.get(name="runbook")
    page = admin_client.get(f"/admin/escalation/escalationpolicy/{policy.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "+0:15:00" in html and "+1:00:00" in html and "admin@luxucare.co.jp" in html


def test_levels_whose_delays_decrease_are_refused(admin_client):
    data = {
        "name": "bad",
        "description": "",
        "stop_on": "resolved",
        "severities": "[]",
        "categories": "[]",
        "levels-TOTAL_FORMS": "2",
        "levels-INITIAL_FORMS": "0",
        "levels-0-number": "1",
        "levels-0-name": "a",
        "levels-0-delay": "01:00:00",
        "levels-0-emails": "[]",
        "levels-1-number": "2",
        "levels-1-name": "b",
        "levels-1-delay": "00:15:00",
        "levels-1-emails": "[]",
    }
    response = admin_client.post(
        "/admin/escalation/escalationpolicy/add/", data, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    assert "delays must not decrease" in response.content.decode()
    assert not EscalationPolicy.objects.filter(name="bad").exists()


def test_the_incident_page_shows_history_and_escalates_now(admin_client, declare):
    incident = declare(severity="P1")
    page = admin_client.get(f"/admin/incidents/incident/{incident.pk}/change/")
    html = page.content.decode()
    assert "escalate_reason" in html and "運用チーム (初期対応)" in html
    response = admin_client.post(
        f"/admin/incidents/incident/{incident.pk}/escalate/", {"escalate_reason": "手動"}
    )
    assert response.status_code == 302
    assert Escalation.objects.filter(incident=incident, level=2, reason="manual").exists()


def test_failed_notices_are_listed_and_can_be_retried(admin_client, declare):
    from tests.escalation.conftest import make_policy

    make_policy("m", levels=[(1, 0, ["a@x.test"], "")])
    incident = declare(policy_name="m")
    Notice.objects.filter(incident=incident).update(status="failed", last_error="550 no")
    page = admin_client.get("/admin/notices/notice/?status__exact=failed")
    assert "550 no" in page.content.decode()
    notice = Notice.objects.get(incident=incident)
    admin_client.post(
        "/admin/notices/notice/", {"action": "retry", "_selected_action": [notice.pk]}
    )
    notice.refresh_from_db()
    assert notice.status == "pending" and notice.attempts == 0
