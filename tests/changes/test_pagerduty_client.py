"""PagerDuty's own Python client (the `pagerduty` package a pipeline uses) reports a deploy
to Hikeshi as it would to PagerDuty: only its base URL changes."""

import pagerduty
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from httpx2 import WSGITransport

from changes.models import Change, Kind, Origin, Result


@pytest.fixture(autouse=True)
def _one_connection():
    """Requests run inside the test's transaction: keep its connection open between them, as
    the test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def events_client(pagerduty_integration):
    """The client, talking to the application in-process (the test's own transaction), with
    its retries off: an answer is final."""

    def make(routing_key=None):
        client = pagerduty.EventsApiV2Client(
            routing_key or pagerduty_integration.secret,
            base_url="https://testserver",
            transport=WSGITransport(app=WSGIHandler()),
        )
        client.retry.clear()
        client.max_http_attempts = 1
        return client

    return make


@pytest.fixture
def pagerduty_integration(pagerduty):
    return pagerduty


def test_the_official_client_submits_a_change_event(
    events_client, pagerduty_integration, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        events_client().submit(
            "Deployed payments v1.4.2",
            source="github-actions",
            custom_details={"commit": "a1b2c3d", "author": "tanaka"},
            links=[{"href": "https://ci.example.jp/runs/42", "text": "run 42"}],
            timestamp="2026-11-02T01:00:00Z",
        )

    change = Change.objects.get()
    assert (change.kind, change.result, change.origin) == (
        Kind.RELEASE,
        Result.SUCCEEDED,
        Origin.PAGERDUTY,
    )
    assert (change.title, change.service, change.source) == (
        "Deployed payments v1.4.2",
        "payments",
        "github-actions",
    )
    assert (change.version, change.who) == ("a1b2c3d", "tanaka")
    assert change.links == [{"href": "https://ci.example.jp/runs/42", "text": "run 42"}]
    assert change.record_path


def test_the_client_reads_an_unknown_routing_key_as_pagerdutys_refusal(events_client):
    with pytest.raises(pagerduty.Error) as refused:
        events_client("f" * 32).submit("Deployed", timestamp="2026-11-02T01:00:00Z")
    assert refused.value.response.status_code == 401
    assert not Change.objects.exists()
