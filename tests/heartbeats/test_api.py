"""`/api/v1/heartbeats/`: responders, executives and managers read them; managers create and
change them, through the services (validation, the deadline re-armed, the audit log); bad
input is a 400 that writes nothing."""

import pytest
from auditlog.models import LogEntry

from heartbeats.models import Heartbeat

URL = "/api/v1/heartbeats/"
NEW = {
    "name": "report-export",
    "schedule": "cron",
    "cron": "30 6 * * 1-5",
    "grace_seconds": 900,
    "severity": "P2",
}


@pytest.fixture
def manager(make_user):
    return make_user("managers")


def test_a_manager_creates_a_heartbeat_and_gets_its_ping_url(api, manager):
    response = api.as_user(manager).post(URL, NEW, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    heartbeat = Heartbeat.objects.get(name="report-export")
    assert body["ping_url"].endswith(f"/ping/{heartbeat.uuid}")
    assert body["grace_seconds"] == 900
    assert body["current_status"] == "new"
    assert heartbeat.deadline is not None
    entry = LogEntry.objects.get_for_object(heartbeat).get()
    assert entry.actor == manager


def test_a_manager_changes_the_schedule_and_the_deadline_follows(api, manager, make_heartbeat):
    heartbeat = make_heartbeat()
    response = api.as_user(manager).patch(
        f"{URL}{heartbeat.pk}/",
        {"schedule": "interval", "interval_seconds": 3600, "grace_seconds": 60},
        format="json",
    )
    assert response.status_code == 200, response.json()
    changed = Heartbeat.objects.get(pk=heartbeat.pk)
    assert changed.interval_seconds == 3600
    assert changed.deadline < heartbeat.deadline
    assert LogEntry.objects.get_for_object(changed).filter(actor=manager).exists()


def test_responders_read_heartbeats_but_may_not_create_or_change_them(
    api, operator, make_heartbeat
):
    heartbeat = make_heartbeat()
    client = api.as_user(operator)
    listed = client.get(URL)
    assert listed.status_code == 200
    assert "nightly" in [row["name"] for row in listed.json()["results"]]
    assert client.post(URL, NEW, format="json").status_code == 403
    assert (
        client.patch(f"{URL}{heartbeat.pk}/", {"grace_seconds": 1}, format="json").status_code
        == 403
    )
    assert not Heartbeat.objects.filter(name="report-export").exists()
    assert Heartbeat.objects.get(pk=heartbeat.pk).grace == heartbeat.grace


@pytest.mark.parametrize(
    "change",
    [
        {"cron": "every morning"},
        {"schedule": "interval"},  # no interval
        {"schedule": "interval", "interval_seconds": 10},
        {"grace_seconds": -1},
        {"grace_seconds": 10**12},
        {"severity": "P9"},
        {"interval": "01:00:00"},  # unknown: the API speaks seconds
        {"name": "has spaces"},
    ],
)
def test_bad_input_is_a_400_and_writes_nothing(api, manager, change):
    count = Heartbeat.objects.count()
    entries = LogEntry.objects.count()
    response = api.as_user(manager).post(URL, NEW | change, format="json")
    assert response.status_code == 400, response.json()
    assert set(response.json()) >= {"error", "detail", "fields"}
    assert (Heartbeat.objects.count(), LogEntry.objects.count()) == (count, entries)


def test_the_api_needs_a_token(api):
    assert api.get(URL).status_code == 401


def test_the_ping_key_cannot_be_chosen_by_a_client(api, manager):
    chosen = "12345678-1234-5678-1234-567812345678"
    response = api.as_user(manager).post(URL, NEW | {"uuid": chosen}, format="json")
    assert response.status_code == 201
    assert str(Heartbeat.objects.get(name="report-export").uuid) != chosen
