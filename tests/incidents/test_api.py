"""The incidents API, used the way a bot or a script would use it."""

import datetime as dt

import pytest
from django.utils import timezone

from incidents.models import Incident, State
from tests.factories import IncidentFactory

URL = "/api/v1/incidents/"


@pytest.fixture
def client(api, sysadmin):
    return api.as_user(sysadmin)


def test_declare_returns_the_incident_with_key_and_allowed_actions(client):
    response = client.post(
        URL,
        {"title": "決済APIの応答遅延", "severity": "P1", "service": "payments"},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    incident = Incident.objects.get()
    assert body["key"] == f"INC-{incident.pk}"
    assert body["state"] == "detected"
    assert body["severity"] == "P1"
    assert body["allowed_actions"] == ["acknowledge", "resolve", "dismiss"]
    assert body["admin_url"].endswith(f"/admin/incidents/incident/{incident.pk}/change/")


def test_an_incident_noticed_earlier_keeps_its_detection_time(client):
    earlier = timezone.now() - dt.timedelta(minutes=30)
    response = client.post(
        URL,
        {"title": "ディスク使用率90%超過", "severity": "P2", "detected_at": earlier.isoformat()},
        format="json",
    )
    assert response.status_code == 201
    assert Incident.objects.get().detected_at == earlier


def test_walk_an_incident_from_detected_to_closed(client):
    key = client.post(URL, {"title": "全停止", "severity": "P0"}, format="json").json()["key"]

    for action in ["acknowledge", "investigate", "recover", "resolve"]:
        response = client.post(f"{URL}{key}/{action}/", {"note": action}, format="json")
        assert response.status_code == 200, response.json()
    client.patch(
        f"{URL}{key}/",
        {"root_cause": "DB接続数の枯渇", "resolution": "接続プールを拡張"},
        format="json",
    )
    # 緊急対応フロー: close waits for the required checklist items.
    for run in client.get(f"{URL}{key}/checklists/").json():
        for item in run["items"]:
            if item["required"]:
                client.post(f"/api/v1/checklists/items/{item['id']}/done/", format="json")
    response = client.post(f"{URL}{key}/close/", format="json")

    assert response.status_code == 200
    assert response.json()["state"] == "closed"
    timeline = client.get(f"{URL}{key}/timeline/").json()["results"]
    assert [
        e["kind"]
        for e in timeline
        if "checklist_item" not in e["data"] and e["kind"] != "escalated"
    ] == [
        "declared",
        "acknowledge",
        "investigate",
        "recover",
        "resolve",
        "fields",
        "close",
    ]


def test_list_filters_by_state_severity_active_and_text(client):
    IncidentFactory(title="CPU使用率 高", severity="P2")
    IncidentFactory(title="ログイン不可", severity="P0", state=State.POSTMORTEM)
    closed = IncidentFactory(title="古い障害", severity="P3", state=State.CLOSED)

    def keys(**params):
        return sorted(i["title"] for i in client.get(URL, params).json()["results"])

    assert keys(state="postmortem") == ["ログイン不可"]
    assert keys(severity="P2") == ["CPU使用率 高"]
    assert keys(active="true") == ["CPU使用率 高"]
    assert keys(q="ログイン") == ["ログイン不可"]
    assert keys(q=closed.key) == ["古い障害"]


def test_list_is_paginated_and_ordered(client):
    for n in range(3):
        IncidentFactory(detected_at=timezone.now() - dt.timedelta(minutes=n))
    body = client.get(URL, {"ordering": "detected_at"}).json()
    assert body["count"] == 3
    times = [i["detected_at"] for i in body["results"]]
    assert times == sorted(times)


def test_notes_are_added_to_the_timeline(client):
    incident = IncidentFactory()
    response = client.post(
        f"{URL}{incident.key}/notes/", {"message": "ログを確認中"}, format="json"
    )
    assert response.status_code == 201
    assert incident.timeline.get(kind="note").message == "ログを確認中"


def test_bearer_prefix_is_accepted_like_token(api, sysadmin):
    from tests.factories import token_for

    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(sysadmin)}")
    assert api.get(URL).status_code == 200
