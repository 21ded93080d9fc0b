"""Alertmanager's webhook opens, deduplicates and resolves incidents."""

from alerts.models import Alert
from incidents.models import Incident, State
from tests.integrations.conftest import payload


def test_a_firing_group_opens_one_incident_with_the_mapped_severity(post_alertmanager):
    response = post_alertmanager(payload("alertmanager_firing"))

    assert response.status_code == 200
    incident = Incident.objects.get()
    assert response.json() == {"status": "accepted", "alerts": 1}
    assert incident.title == "エラー率が5%を超えています"
    assert incident.severity == "P0"  # severity=critical
    assert incident.service == "payments"
    assert incident.state == State.DETECTED
    alert = incident.alerts.get()
    assert alert.fingerprint == "a1b2c3d4e5f60718"
    assert alert.labels["instance"] == "api-1:9100"
    assert alert.links == ["http://prometheus:9090/graph?g0.expr=error_rate"]
    assert incident.created_by.integration.name == "prometheus-prod"


def test_the_same_group_again_updates_the_alert_and_opens_nothing(post_alertmanager):
    post_alertmanager(payload("alertmanager_firing"))
    post_alertmanager(payload("alertmanager_firing"))

    incident = Incident.objects.get()
    alert = incident.alerts.get()
    assert alert.times_received == 2
    assert alert.last_received_at > alert.first_received_at
    assert list(incident.timeline.exclude(kind="escalated").values_list("kind", flat=True)) == [
        "declared"
    ]


def test_a_new_alert_in_an_open_group_attaches_with_one_timeline_event(post_alertmanager):
    post_alertmanager(payload("alertmanager_firing"))
    second = payload("alertmanager_firing")
    second["alerts"][0]["fingerprint"] = "ffff000011112222"
    second["alerts"][0]["labels"]["instance"] = "api-2:9100"

    post_alertmanager(second)

    incident = Incident.objects.get()
    assert incident.alerts.count() == 2
    assert incident.timeline.filter(kind="alert").count() == 1


def test_a_priority_label_wins_over_severity(post_alertmanager):
    body = payload("alertmanager_firing")
    body["alerts"][0]["labels"]["priority"] = "P2"
    post_alertmanager(body)
    assert Incident.objects.get().severity == "P2"


def test_an_unknown_severity_falls_back_to_the_integration_default(post_alertmanager):
    body = payload("alertmanager_firing")
    body["alerts"][0]["labels"]["severity"] = "page"
    post_alertmanager(body)
    assert Incident.objects.get().severity == "P2"


def test_when_every_alert_resolves_the_incident_resolves(post_alertmanager):
    post_alertmanager(payload("alertmanager_firing"))

    response = post_alertmanager(payload("alertmanager_resolved"))

    assert response.status_code == 200
    incident = Incident.objects.get()
    assert incident.state == State.POSTMORTEM
    assert incident.alerts.get().status == Alert.Status.RESOLVED
    kinds = list(incident.timeline.exclude(kind="escalated").values_list("kind", flat=True))
    assert kinds == ["declared", "alerts_resolved", "resolve"]


def test_without_auto_resolve_the_incident_stays_open_but_it_is_noted(
    post_alertmanager, alertmanager
):
    alertmanager.auto_resolve = False
    alertmanager.save()
    post_alertmanager(payload("alertmanager_firing"))
    post_alertmanager(payload("alertmanager_resolved"))

    incident = Incident.objects.get()
    assert incident.state == State.DETECTED
    assert incident.timeline.filter(kind="alerts_resolved").exists()


def test_an_alert_firing_after_its_incident_resolved_opens_a_new_incident(post_alertmanager):
    post_alertmanager(payload("alertmanager_firing"))
    post_alertmanager(payload("alertmanager_resolved"))
    post_alertmanager(payload("alertmanager_firing"))

    assert Incident.objects.count() == 2
    assert Incident.objects.filter(state=State.DETECTED).count() == 1


def test_fingerprint_grouping_opens_one_incident_per_alert(post_alertmanager, alertmanager):
    alertmanager.grouping = "fingerprint"
    alertmanager.save()
    body = payload("alertmanager_firing")
    other = dict(body["alerts"][0], fingerprint="0000aaaa", labels={"alertname": "DiskFull"})
    body["alerts"].append(other)

    post_alertmanager(body)

    assert Incident.objects.count() == 2


def test_unknown_fields_from_newer_senders_are_ignored(post_alertmanager):
    body = payload("alertmanager_firing") | {"notification_reason": "new", "routeLabels": {}}
    body["alerts"][0]["someFutureField"] = 1
    assert post_alertmanager(body).status_code == 200


def test_the_incidents_alerts_are_listed_in_the_api(post_alertmanager, api, operator):
    post_alertmanager(payload("alertmanager_firing"))
    incident = Incident.objects.get()

    body = api.as_user(operator).get(f"/api/v1/incidents/{incident.key}/alerts/").json()

    assert [a["fingerprint"] for a in body["results"]] == ["a1b2c3d4e5f60718"]
    assert body["results"][0]["integration"] == "prometheus-prod"
