"""`POST /v2/enqueue` answers like PagerDuty's Events API v2."""

import pytest

from incidents.models import Incident, State
from tests.integrations.conftest import nothing_stored, payload


@pytest.fixture
def trigger(pagerduty):
    body = payload("pagerduty_trigger")
    body["routing_key"] = pagerduty.secret
    return body


def test_a_trigger_opens_an_incident_and_answers_202(enqueue, trigger):
    response = enqueue(trigger)

    assert response.status_code == 202
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "db-connections-primary",
    }
    incident = Incident.objects.get()
    assert incident.title == "DB接続数が80%を超えています (primary)"
    assert incident.severity == "P1"  # error
    assert incident.alerts.get().source == "db-primary.example.jp"


def test_a_trigger_without_dedup_key_gets_one(enqueue, trigger):
    del trigger["dedup_key"]
    response = enqueue(trigger)
    assert response.status_code == 202
    assert len(response.json()["dedup_key"]) == 32


def test_repeated_triggers_dedupe(enqueue, trigger):
    enqueue(trigger)
    enqueue(trigger)
    assert Incident.objects.count() == 1
    assert Incident.objects.get().alerts.get().times_received == 2


def test_acknowledge_then_resolve_move_the_incident(enqueue, trigger, pagerduty):
    enqueue(trigger)
    base = {"routing_key": pagerduty.secret, "dedup_key": "db-connections-primary"}

    assert enqueue(base | {"event_action": "acknowledge"}).status_code == 202
    assert Incident.objects.get().state == State.TRIAGE

    assert enqueue(base | {"event_action": "resolve"}).status_code == 202
    incident = Incident.objects.get()
    assert incident.state == State.POSTMORTEM
    assert incident.alerts.get().status == "resolved"


def test_events_for_an_unknown_dedup_key_are_accepted_and_change_nothing(enqueue, pagerduty):
    body = {"routing_key": pagerduty.secret, "dedup_key": "nope", "event_action": "resolve"}
    assert enqueue(body).status_code == 202
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"routing_key": "short"}, "'routing_key' must be 32 characters"),
        ({"routing_key": None}, "'routing_key' is missing or blank"),
        ({"event_action": "explode"}, "'event_action' is invalid"),
        ({"payload": None}, "'payload' is missing or not an object"),
        ({"payload.summary": ""}, "'payload.summary' is missing or blank"),
        ({"payload.summary": "x" * 1025}, "'payload.summary' must be at most 1024 characters"),
        ({"payload.source": None}, "'payload.source' is missing or blank"),
        ({"payload.severity": None}, "'payload.severity' is missing or blank"),
        ({"payload.severity": "fatal"}, "'payload.severity' is invalid"),
        ({"payload.timestamp": "yesterday"}, "'payload.timestamp' must be an ISO 8601"),
        ({"dedup_key": "k" * 256}, "'dedup_key' must be a string of at most 255"),
        ({"links": "http://x"}, "'links' must be an array"),
    ],
)
def test_each_invalid_event_is_400_in_pagerduty_format(enqueue, trigger, change, error):
    for path, value in change.items():
        target, _, name = path.rpartition(".")
        holder = trigger[target] if target else trigger
        if value is None:
            holder.pop(name)
        else:
            holder[name] = value

    response = enqueue(trigger)

    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "invalid event"
    assert body["message"] == "Event object is invalid"
    assert any(e.startswith(error) for e in body["errors"]), body["errors"]
    assert nothing_stored()


def test_acknowledge_without_dedup_key_is_invalid(enqueue, pagerduty):
    response = enqueue({"routing_key": pagerduty.secret, "event_action": "acknowledge"})
    assert response.status_code == 400
    assert nothing_stored()


def test_not_json_is_invalid(enqueue):
    response = enqueue("{nope")
    assert response.status_code == 400
    assert response.json()["status"] == "invalid event"
    assert nothing_stored()


def test_an_unknown_routing_key_is_401(enqueue, trigger):
    trigger["routing_key"] = "0" * 32
    assert enqueue(trigger).status_code == 401
    assert nothing_stored()


def test_a_disabled_integration_is_401(enqueue, trigger, pagerduty):
    pagerduty.enabled = False
    pagerduty.save()
    assert enqueue(trigger).status_code == 401
    assert nothing_stored()


def test_a_body_over_512_kb_is_413(enqueue, trigger):
    trigger["payload"]["custom_details"] = {"blob": "x" * (600 * 1024)}
    assert enqueue(trigger).status_code == 413
    assert nothing_stored()
