import pytest

from alerts.models import Alert
from incidents.models import Incident, State
from tests.helpers import UNSTORABLE_JSON, json_with

URL = "/api/v1/alerts/"


def test_a_script_posts_an_alert_with_its_token_and_it_dedupes(api, make_user):
    client = api.as_user(make_user("integrations"))
    body = {"title": "夜間バッチ失敗", "severity": "P2", "dedup_key": "nightly", "source": "cron"}

    first = client.post(URL, body, format="json")
    again = client.post(URL, body, format="json")

    assert first.status_code == again.status_code == 202
    assert first.json()["incident"]["key"] == again.json()["incident"]["key"]
    incident = Incident.objects.get()
    assert incident.alerts.get().times_received == 2


def test_a_resolved_status_resolves_it(api, sysadmin):
    client = api.as_user(sysadmin)
    client.post(URL, {"title": "x", "severity": "P3", "dedup_key": "k"}, format="json")
    client.post(
        URL, {"title": "x", "severity": "P3", "dedup_key": "k", "status": "resolved"}, format="json"
    )
    assert Incident.objects.get().state == State.POSTMORTEM


def test_bad_alerts_are_400_and_change_nothing(api, sysadmin):
    client = api.as_user(sysadmin)
    response = client.post(URL, {"title": 5, "severity": "P7"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"title", "severity"}
    assert not Incident.objects.exists()


@pytest.mark.parametrize(("value", "why"), UNSTORABLE_JSON)
def test_details_the_database_cannot_store_are_400(api, sysadmin, value, why):
    body = {"title": "x", "severity": "P3", "dedup_key": "k"}

    response = api.as_user(sysadmin).generic(
        "POST", URL, json_with(body, value, name="details"), content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"
    assert why in response.json()["detail"]
    assert not (Incident.objects.exists() or Alert.objects.exists())


def test_without_a_token_it_is_401_and_without_permission_403(api, make_user):
    assert api.post(URL, {"title": "x", "severity": "P3"}, format="json").status_code == 401
    executive = api.as_user(make_user("executives"))
    assert executive.post(URL, {"title": "x", "severity": "P3"}, format="json").status_code == 403
