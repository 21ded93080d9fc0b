"""The webhooks under hostile input: whatever arrives, the answer is never a 5xx and always
JSON; a refusal (4xx) stores nothing, and what is accepted is a delivery the alert processor
applies without an error."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from alerts.models import Alert
from config.base import SYSTEM
from incidents.models import Incident
from integrations.models import AlertDelivery
from integrations.services import deliveries_process, integration_create
from tests.hostile import FUZZ, content_types, near_misses, raw_bodies, rolled_back, tally
from tests.integrations.conftest import payload

pytestmark = pytest.mark.hostile

GRAFANA_HMAC = "grafana-hmac-secret"


@pytest.fixture(autouse=True)
def _unthrottled(settings):
    # Hundreds of requests in a second are the fuzzer, not a storm to slow down.
    settings.INTEGRATION_RATE_LIMIT = "1000000/s"


@pytest.fixture
def grafana(db, monkeypatch):
    monkeypatch.setenv("GRAFANA_HMAC_FUZZ", GRAFANA_HMAC)
    integration, secret = integration_create(
        name="grafana", kind="grafana", actor=SYSTEM, hmac_secret_env="GRAFANA_HMAC_FUZZ"
    )
    integration.secret = secret
    return integration


def stored() -> tuple[int, int, int]:
    return AlertDelivery.objects.count(), Alert.objects.count(), Incident.objects.count()


def answered(client, request, url, raw: bytes, content_type: str, **headers):
    """POST `raw`; check what every answer must be, and what a refusal must not leave."""
    with rolled_back():
        return _answered(client, request, url, raw, content_type, **headers)


def _answered(client, request, url, raw: bytes, content_type: str, **headers):
    before = stored()
    response = client.post(url, raw, content_type=content_type, **headers)
    tally(request.node, "cases")
    tally(request.node, "server_errors", int(response.status_code >= 500))

    assert response.status_code < 500, response.content[:500]
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    body = response.json()
    event(f"{response.status_code} {body.get('error') or body.get('status')}")
    if not content_type.startswith("application/json"):
        assert response.status_code >= 400, "a body that does not say it is JSON was accepted"
    if response.status_code >= 400:
        assert stored() == before, (response.status_code, body)
    else:
        assert stored()[0] == before[0] + 1
        deliveries_process()
        assert not AlertDelivery.objects.exclude(error="").exists(), AlertDelivery.objects.first()
    return response


@FUZZ
@given(
    raw=raw_bodies(payload("alertmanager_firing")),
    content_type=content_types,
    secret=st.just("valid") | st.sampled_from(["wrong", ""]),
)
def test_alertmanager_answers_hostile_input_in_json_and_stores_only_what_it_accepts(
    client, request, alertmanager, raw, content_type, secret
):
    bearer = {"valid": alertmanager.secret, "wrong": "not-the-secret", "": ""}[secret]
    response = answered(
        client,
        request,
        "/api/v1/integrations/alertmanager/",
        raw,
        content_type,
        HTTP_AUTHORIZATION=f"Bearer {bearer}",
    )
    if secret != "valid":
        # Only a body too large to read is refused before the secret is looked at.
        assert response.status_code in (401, 413)


@FUZZ
@given(
    raw=raw_bodies(payload("grafana_firing")),
    content_type=content_types,
    signed=st.just(True) | st.booleans(),
    timestamp=st.sampled_from(["", "1764378600"]),
)
def test_grafana_answers_hostile_input_in_json_and_stores_only_what_it_accepts(
    client, request, grafana, raw, content_type, signed, timestamp
):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {grafana.secret}"}
    if timestamp:
        headers["HTTP_X_GRAFANA_ALERTING_SIGNATURE_TIMESTAMP"] = timestamp
    if signed:
        message = f"{timestamp}:".encode() + raw if timestamp else raw
        headers["HTTP_X_GRAFANA_ALERTING_SIGNATURE"] = hmac.new(
            GRAFANA_HMAC.encode(), message, hashlib.sha256
        ).hexdigest()
    response = answered(
        client, request, "/api/v1/integrations/grafana/", raw, content_type, **headers
    )
    if not signed:
        assert response.status_code in (401, 413)


@pytest.fixture
def pagerduty_shape(pagerduty):
    return payload("pagerduty_trigger") | {"routing_key": pagerduty.secret}


@FUZZ
@given(data=st.data(), content_type=content_types)
def test_pagerduty_enqueue_answers_hostile_input_and_stores_only_what_it_accepts(
    client, request, pagerduty_shape, data, content_type
):
    """`/v2/enqueue` authenticates by the body's routing_key, so the body comes first; its
    refusals are PagerDuty's own shape, JSON too."""
    raw = data.draw(raw_bodies(pagerduty_shape))
    answered(client, request, "/v2/enqueue", raw, content_type)


@FUZZ
@given(raw=near_misses(payload("alertmanager_firing")))
def test_an_alert_group_alertmanager_accepts_is_one_the_processor_applies(
    client, request, alertmanager, raw
):
    """Times in year 1 or at +23:59, numbers for strings, labels missing: a 400 naming the
    field, or accepted and applied, never a delivery that fails later (an alert lost)."""
    answered(
        client,
        request,
        "/api/v1/integrations/alertmanager/",
        raw,
        "application/json",
        HTTP_AUTHORIZATION=f"Bearer {alertmanager.secret}",
    )


@FUZZ
@given(data=st.data())
def test_an_event_pagerduty_enqueue_accepts_is_one_the_processor_applies(
    client, request, pagerduty_shape, data
):
    for shape in (pagerduty_shape, pagerduty_shape | {"event_action": "resolve"}):
        answered(client, request, "/v2/enqueue", data.draw(near_misses(shape)), "application/json")
