"""`/v2/change/enqueue` under hostile input: never a 5xx, always JSON in PagerDuty's shape; a
refusal stores nothing, and what is accepted is one finished change."""

from __future__ import annotations

import json

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from changes.models import Change
from tests.changes.test_pagerduty_change_events import DOCUMENTED
from tests.hostile import FUZZ, content_types, near_misses, raw_bodies, rolled_back, tally

pytestmark = pytest.mark.hostile


@pytest.fixture(autouse=True)
def _unthrottled(settings):
    settings.INTEGRATION_RATE_LIMIT = "1000000/s"


@pytest.fixture
def shape(pagerduty):
    return json.loads(json.dumps(DOCUMENTED)) | {"routing_key": pagerduty.secret}


def answered(client, request, raw: bytes, content_type: str):
    with rolled_back():
        before = Change.objects.count()
        response = client.post("/v2/change/enqueue", raw, content_type=content_type)
        tally(request.node, "cases")
        tally(request.node, "server_errors", int(response.status_code >= 500))
        assert response.status_code < 500, response.content[:500]
        assert response["Content-Type"] == "application/json"
        body = response.json()
        event(f"{response.status_code} {body.get('status')}")
        if response.status_code >= 400:
            assert set(body) == {"status", "message", "errors"}, body
            assert Change.objects.count() == before
        else:
            assert response.status_code == 202
            change = Change.objects.order_by("-pk").first()
            assert Change.objects.count() == before + 1 and change.finished_at is not None


@FUZZ
@given(data=st.data(), content_type=content_types)
def test_hostile_change_events_are_answered_and_store_only_what_is_accepted(
    client, request, shape, data, content_type
):
    answered(client, request, data.draw(raw_bodies(shape)), content_type)


@FUZZ
@given(data=st.data())
def test_near_miss_change_events_are_a_400_or_one_finished_change(client, request, shape, data):
    answered(client, request, data.draw(near_misses(shape)), "application/json")
