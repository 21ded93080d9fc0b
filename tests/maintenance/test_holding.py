"""Alerts a maintenance window covers are held: no incident, no notice, on the window's list;
a P0 still opens and pages, and every other alert opens as before."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import Alert
from alerts.services import _alert_hold
from escalation.models import Escalation
from incidents.models import Incident
from integrations.models import AlertDelivery
from integrations.parsers import alertmanager_events
from integrations.services import deliveries_process
from maintenance.models import HeldAlert
from notices.models import Notice
from tests.maintenance.conftest import alert_body


def nothing_opened() -> bool:
    return not (
        Incident.objects.exists()
        or Alert.objects.exists()
        or Escalation.objects.exists()
        or Notice.objects.exists()
    )


def test_an_alert_matching_an_open_window_is_held_and_opens_nothing(window, post_alertmanager):
    opened = window(service="payments")

    response = post_alertmanager(alert_body(severity="warning"))

    assert response.status_code == 200
    assert not AlertDelivery.objects.exists()  # the processor applied it
    assert nothing_opened()
    held = HeldAlert.objects.get()
    assert (held.window, held.status, held.severity) == (opened, "firing", "P2")
    assert (held.service, held.fingerprint, held.times_received) == (
        "payments",
        "a1b2c3d4e5f60718",
        1,
    )
    assert held.title == "エラー率が5%を超えています"
    assert held.released_at is None


def test_the_same_alert_again_is_counted_on_the_list_and_still_opens_nothing(
    window, post_alertmanager
):
    window()
    post_alertmanager(alert_body())
    post_alertmanager(alert_body())

    assert nothing_opened()
    assert HeldAlert.objects.get().times_received == 2


def test_a_p0_still_opens_its_incident_and_pages_in_a_window(window, post_alertmanager):
    window()

    post_alertmanager(alert_body(severity="critical"))

    incident = Incident.objects.get()
    assert incident.severity == "P0"
    assert Escalation.objects.filter(incident=incident, level=1).exists()
    assert not HeldAlert.objects.exists()


def test_a_window_that_says_so_holds_a_p0_too(window, post_alertmanager):
    window(pages_p0=False)

    post_alertmanager(alert_body(severity="critical"))

    assert nothing_opened()
    assert HeldAlert.objects.get().severity == "P0"


def test_an_alert_of_another_service_opens_as_before(window, post_alertmanager):
    window(service="search")

    post_alertmanager(alert_body())

    assert Incident.objects.get().service == "payments"
    assert not HeldAlert.objects.exists()


def test_label_matchers_hold_only_alerts_carrying_every_label(window, post_alertmanager):
    window(service="", matchers={"job": "payments", "instance": "api-1:9100"})

    post_alertmanager(alert_body(group="Held"))
    post_alertmanager(alert_body(group="Opens", fingerprint="other", instance="api-2:9100"))

    assert HeldAlert.objects.get().key == '{}:{alertname="Held"}'
    assert Incident.objects.get().alerts.get().fingerprint == "other"


def test_a_window_not_yet_begun_or_already_over_holds_nothing(window, post_alertmanager):
    now = timezone.now()
    window(starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=2))

    post_alertmanager(alert_body())

    assert Incident.objects.count() == 1
    assert not HeldAlert.objects.exists()


def test_an_alert_joining_an_incident_already_open_is_not_held(window, post_alertmanager):
    post_alertmanager(alert_body())
    window()

    post_alertmanager(alert_body(fingerprint="second-instance"))

    assert Incident.objects.get().alerts.count() == 2
    assert not HeldAlert.objects.exists()


def test_a_batch_of_deliveries_reads_the_windows_once(window, post_alertmanager):
    window()
    for n in range(5):
        post_alertmanager(alert_body(group=f"Group{n}", fingerprint=f"fp{n}"), process=False)
    post_alertmanager(
        alert_body(group="Other", fingerprint="fp-other", job="search"), process=False
    )

    with CaptureQueriesContext(connection) as queries:
        assert deliveries_process() == 6

    reads = [q["sql"] for q in queries if 'FROM "maintenance_maintenancewindow"' in q["sql"]]
    assert len(reads) == 1
    assert HeldAlert.objects.count() == 5
    assert Incident.objects.get().service == "search"


def test_the_plain_endpoint_holds_too_and_says_no_incident(window, api, make_user):
    window()
    client = api.as_user(make_user("integrations"))
    alert = {"title": "デプロイ中の5xx", "severity": "P1", "service": "payments", "dedup_key": "k1"}

    response = client.post("/api/v1/alerts/", alert, format="json")

    assert response.status_code == 202
    assert response.json() == {"status": "ok", "incident": None}
    assert nothing_opened()
    assert HeldAlert.objects.get().fingerprint == "k1"


def test_two_requests_holding_the_same_new_alert_at_once_count_it_twice(
    window, alertmanager, monkeypatch
):
    """The list's unique row settles the race as the alert keys do: the request that finds
    it taken counts on it instead of failing."""
    opened = window()
    (event,) = alertmanager_events(alertmanager, alert_body())
    now = timezone.now()
    HeldAlert.objects.create(
        window=opened,
        integration=alertmanager,
        fingerprint=event.fingerprint,
        severity="P2",
        status="firing",
        first_received_at=now,
        last_received_at=now,
    )
    lookups = []
    locked = HeldAlert.objects.select_for_update

    def first_look_misses_the_other_requests_row(*args, **kwargs):
        lookups.append(1)
        rows = locked(*args, **kwargs)
        return rows.none() if len(lookups) == 1 else rows

    monkeypatch.setattr(
        HeldAlert.objects, "select_for_update", first_look_misses_the_other_requests_row
    )

    _alert_hold(window=opened, integration=alertmanager, event=event, now=now)

    assert len(lookups) == 2
    assert HeldAlert.objects.get().times_received == 2
