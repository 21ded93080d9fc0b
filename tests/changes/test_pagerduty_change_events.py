"""`POST /v2/change/enqueue` takes PagerDuty Change Events as a real client sends them and
answers as PagerDuty does: a pipeline that reports deploys to PagerDuty reports them here."""

import datetime as dt
import json
from pathlib import Path

import pytest

from changes.models import Change, Kind, Origin, Result

# The body PagerDuty documents for its Change Events API (and its clients send).
DOCUMENTED = {
    "routing_key": "",
    "payload": {
        "summary": "Build Success: Increase snapshot create timeout to 30 seconds",
        "timestamp": "2026-11-02T08:42:58.315+0000",
        "source": "acme-build-pipeline-tool-default-i-9999",
        "custom_details": {
            "build_state": "passed",
            "build_number": "2",
            "run_time": "1236s",
        },
    },
    "links": [
        {"href": "https://acme.pipeline.tool/builds/2", "text": "View more details in Acme!"}
    ],
}


@pytest.fixture
def event(pagerduty):
    body = json.loads(json.dumps(DOCUMENTED))
    body["routing_key"] = pagerduty.secret
    return body


@pytest.fixture
def send(client, django_capture_on_commit_callbacks):
    def send(body, content_type="application/json"):
        raw = body if isinstance(body, str | bytes) else json.dumps(body)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/v2/change/enqueue", raw, content_type=content_type)

    return send


def test_a_documented_change_event_is_a_finished_release_answered_202(send, event, pagerduty):
    response = send(event)

    assert response.status_code == 202
    assert response.json() == {"status": "success", "message": "Change event processed"}
    change = Change.objects.get()
    assert change.kind == Kind.RELEASE
    assert change.result == Result.SUCCEEDED
    assert change.origin == Origin.PAGERDUTY
    assert change.title == "Build Success: Increase snapshot create timeout to 30 seconds"
    assert change.service == "payments"  # the service the routing key stands for
    assert change.source == "acme-build-pipeline-tool-default-i-9999"
    assert (
        change.started_at
        == change.finished_at
        == dt.datetime(2026, 11, 2, 8, 42, 58, 315000, tzinfo=dt.UTC)
    )
    assert change.details == {"build_state": "passed", "build_number": "2", "run_time": "1236s"}
    assert change.links == [
        {"href": "https://acme.pipeline.tool/builds/2", "text": "View more details in Acme!"}
    ]
    assert change.recorded_by == pagerduty.user
    assert change.checklist_run is None
    assert Path(change.record_path).name == (
        "2026-11-02-release-"
        f"{change.key}-build-success-increase-snapshot-create-timeout-to-30-seconds.md"
    )
    assert "Build Success" in Path(change.record_path).read_text()


def test_custom_details_may_say_the_kind_result_service_version_and_who(send, event):
    event["payload"]["custom_details"] |= {
        "kind": "emergency_deploy",
        "result": "failed",
        "service": "auth",
        "commit": "a1b2c3d",
        "author": "tanaka",
    }
    assert send(event).status_code == 202
    change = Change.objects.get()
    assert (change.kind, change.result, change.service) == ("emergency_deploy", "failed", "auth")
    assert (change.version, change.who) == ("a1b2c3d", "tanaka")


def test_only_a_summary_is_needed(send, pagerduty):
    response = send({"routing_key": pagerduty.secret, "payload": {"summary": "deployed"}})
    assert response.status_code == 202
    change = Change.objects.get()
    assert change.title == "deployed" and change.finished_at == change.started_at


def invalid(*errors):
    return {"status": "invalid event", "message": "Event object is invalid", "errors": [*errors]}


@pytest.mark.parametrize(
    ("mutate", "errors"),
    [
        (lambda b: b.pop("payload"), ["'payload' is missing or not an object"]),
        (lambda b: b["payload"].pop("summary"), ["'payload.summary' is missing or blank"]),
        (
            lambda b: b["payload"].update(summary="x" * 1025),
            ["'payload.summary' must be at most 1024 characters"],
        ),
        (
            lambda b: b["payload"].update(timestamp="yesterday"),
            ["'payload.timestamp' must be an ISO 8601 timestamp"],
        ),
        (
            lambda b: b["payload"].update(custom_details=[1]),
            ["'payload.custom_details' must be an object"],
        ),
        (lambda b: b.update(links="https://x"), ["'links' must be an array"]),
        (lambda b: b.update(routing_key="short"), ["'routing_key' must be 32 characters"]),
        (lambda b: b.pop("routing_key"), ["'routing_key' is missing or blank"]),
    ],
)
def test_an_invalid_event_is_400_in_pagerdutys_shape_and_nothing_is_stored(
    send, event, mutate, errors
):
    mutate(event)
    response = send(event)
    assert response.status_code == 400
    assert response.json() == invalid(*errors)
    assert not Change.objects.exists()


def test_a_body_that_is_not_json_is_an_invalid_event(send):
    response = send("{not json")
    assert response.status_code == 400
    assert response.json()["status"] == "invalid event"
    assert response.json()["errors"][0].startswith("Event object is not valid JSON")
    assert not Change.objects.exists()


def test_a_form_body_is_an_invalid_event(send, event):
    response = send("a=b", content_type="application/x-www-form-urlencoded")
    assert response.json() == invalid("Content-Type must be application/json")
    assert not Change.objects.exists()


def test_an_unknown_routing_key_is_401_and_nothing_is_stored(send, event):
    event["routing_key"] = "0" * 32
    response = send(event)
    assert response.status_code == 401
    assert response.json() == {
        "status": "invalid event",
        "message": "Invalid routing key",
        "errors": [],
    }
    assert not Change.objects.exists()
