"""A release holds the alerts its deploy makes fire: recording it opens a maintenance window over
its service for its expected duration, and finishing it closes the window, so that the alerts
still firing then open their incidents."""

import pytest
from django.utils import timezone

from alerts.services import held_alerts_release
from changes.models import Change
from changes.selectors import change_by_key
from incidents.models import Incident
from maintenance.models import HeldAlert, MaintenanceWindow
from tests.changes.test_api import RELEASE
from tests.maintenance.conftest import alert_body


@pytest.fixture
def developer(api, make_user):
    """Records releases; may not open a window by hand."""
    person = make_user("developers", username="suzuki")
    assert not person.has_perm("maintenance.add_maintenancewindow")
    return api.as_user(person)


def test_a_release_opens_a_window_over_its_service_for_its_expected_duration(developer):
    body = developer.post("/api/v1/changes/", RELEASE | {"window_minutes": 45}, format="json")

    assert body.status_code == 201, body.json()
    change = change_by_key(body.json()["key"])
    opened = MaintenanceWindow.objects.get()
    assert opened.service == "payments" and opened.reference == body.json()["key"]
    assert opened.starts_at == change.started_at
    assert (opened.ends_at - opened.starts_at).total_seconds() == 45 * 60
    assert opened.opened_by.username == "suzuki"
    assert body.json()["key"] in opened.reason


def test_alerts_during_the_release_are_held_and_those_still_firing_open_when_it_finishes(
    developer, post_alertmanager, django_capture_on_commit_callbacks
):
    key = developer.post("/api/v1/changes/", RELEASE, format="json").json()["key"]
    post_alertmanager(alert_body())
    assert not Incident.objects.exists() and HeldAlert.objects.count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        finished = developer.post(
            f"/api/v1/changes/{key}/finish/", {"result": "succeeded"}, format="json"
        )
    assert finished.status_code == 200, finished.json()
    assert MaintenanceWindow.objects.get().ends_at <= timezone.now()
    held_alerts_release()  # beat's sweep (also asked for at once by the close)

    incident = Incident.objects.get()
    assert incident.service == "payments"
    assert HeldAlert.objects.get().incident == incident


@pytest.mark.parametrize(
    "body",
    [
        RELEASE | {"maintenance_window": False},
        RELEASE | {"kind": "migration"},
        RELEASE | {"service": ""},
        RELEASE | {"result": "succeeded"},  # reported when over: nothing left to hold
    ],
    ids=["told-not-to", "not-a-release", "no-service", "reported-when-over"],
)
def test_no_window_when_told_not_to_not_a_release_no_service_or_over_already(developer, body):
    assert developer.post("/api/v1/changes/", body, format="json").status_code == 201
    assert not MaintenanceWindow.objects.exists()


def test_a_window_already_over_the_service_covers_the_release_which_is_recorded_all_the_same(
    developer, window
):
    existing = window(reason="定期メンテナンス")

    response = developer.post("/api/v1/changes/", RELEASE, format="json")

    assert response.status_code == 201, response.json()
    assert list(MaintenanceWindow.objects.all()) == [existing]


def test_a_bad_window_length_is_400_and_nothing_is_written(developer):
    response = developer.post("/api/v1/changes/", RELEASE | {"window_minutes": 0}, format="json")

    assert response.status_code == 400
    assert response.json()["fields"].keys() == {"window_minutes"}
    assert not Change.objects.exists() and not MaintenanceWindow.objects.exists()
