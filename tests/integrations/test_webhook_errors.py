"""Bad webhook requests: a clear 4xx, nothing stored."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from alerts.models import Alert
from incidents.models import Incident
from integrations.models import AlertDelivery
from tests.helpers import UNSTORABLE_JSON, json_with
from tests.integrations.conftest import nothing_stored, payload


def test_missing_secret_is_401(client, alertmanager):
    response = client.post(
        "/api/v1/integrations/alertmanager/",
        json.dumps(payload("alertmanager_firing")),
        content_type="application/json",
    )
    assert response.status_code == 401
    assert nothing_stored()


def test_wrong_secret_is_401(post_alertmanager):
    assert post_alertmanager(payload("alertmanager_firing"), secret="wrong").status_code == 401
    assert nothing_stored()


def test_disabled_integration_is_401(post_alertmanager, alertmanager):
    alertmanager.enabled = False
    alertmanager.save()
    assert post_alertmanager(payload("alertmanager_firing")).status_code == 401
    assert nothing_stored()


def test_a_pagerduty_secret_does_not_open_the_alertmanager_endpoint(post_alertmanager, pagerduty):
    response = post_alertmanager(payload("alertmanager_firing"), secret=pagerduty.secret)
    assert response.status_code == 401
    assert nothing_stored()


def test_not_json_is_400(post_alertmanager):
    response = post_alertmanager("{nope")
    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"
    assert nothing_stored()


@pytest.mark.parametrize(("value", "why"), UNSTORABLE_JSON)
def test_json_the_database_cannot_store_is_400_saying_why(post_alertmanager, value, why):
    response = post_alertmanager(json_with(payload("alertmanager_firing"), value))

    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"
    assert why in response.json()["detail"]
    assert nothing_stored()


def test_an_emoji_escaped_as_a_surrogate_pair_is_fine(post_alertmanager):
    body = payload("alertmanager_firing")
    body["alerts"][0]["annotations"]["summary"] = "炎上 🔥"

    response = post_alertmanager(json.dumps(body))  # ASCII: 🔥 travels as \ud83d\udd25

    assert response.status_code == 200
    assert Alert.objects.get().annotations["summary"] == "炎上 🔥"


@pytest.mark.parametrize(("value", "why"), UNSTORABLE_JSON)
def test_pagerduty_json_the_database_cannot_store_is_an_invalid_event(
    enqueue, pagerduty, value, why
):
    body = payload("pagerduty_trigger") | {"routing_key": pagerduty.secret}

    response = enqueue(json_with(body, value))

    assert response.status_code == 400
    assert response.json()["status"] == "invalid event"
    assert why in response.json()["errors"][0]
    assert nothing_stored()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("alerts"), "alerts"),
        (lambda b: b.update(alerts=[]), "alerts"),
        (lambda b: b.update(alerts="x"), "alerts"),
        (lambda b: b.pop("groupKey"), "groupKey"),
        (lambda b: b["alerts"][0].update(status="burning"), "alerts[0].status"),
        (lambda b: b["alerts"][0].update(labels={}), "alerts[0].labels"),
        (lambda b: b["alerts"][0].update(labels=["x"]), "alerts[0].labels"),
    ],
)
def test_wrong_shape_is_400_naming_the_field(post_alertmanager, mutate, field):
    body = payload("alertmanager_firing")
    mutate(body)
    response = post_alertmanager(body)
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert nothing_stored()


def test_one_bad_alert_rejects_the_whole_group(post_alertmanager):
    body = payload("alertmanager_firing")
    body["alerts"].append({"status": "firing", "labels": "oops"})
    assert post_alertmanager(body).status_code == 400
    assert nothing_stored()


def test_a_body_over_1_mib_is_413(post_alertmanager):
    body = payload("alertmanager_firing")
    body["alerts"][0]["annotations"]["description"] = "x" * (1024 * 1024 + 1)
    assert post_alertmanager(body).status_code == 413
    assert nothing_stored()


def test_over_the_rate_limit_is_429_with_retry_after(post_alertmanager, settings):
    settings.INTEGRATION_RATE_LIMIT = "2/m"
    from django.core.cache import cache

    cache.clear()
    codes = [post_alertmanager(payload("alertmanager_firing")).status_code for _ in range(3)]
    assert codes[:2] == [200, 200]
    assert codes[2] == 429
    response = post_alertmanager(payload("alertmanager_firing"))
    assert int(response["Retry-After"]) >= 1


AN_HOUR_AGO = (timezone.now() - dt.timedelta(hours=1)).replace(microsecond=0)
FAR_EAST = dt.timezone(dt.timedelta(hours=15, minutes=59))


@pytest.mark.parametrize(
    ("starts_at", "detected"),
    [
        # No offset: UTC, as senders mean it (was a TypeError in the processor).
        (AN_HOUR_AGO.replace(tzinfo=None).isoformat(), AN_HOUR_AGO),
        # An offset PostgreSQL refuses, for an instant it takes (was a DataError).
        (AN_HOUR_AGO.astimezone(FAR_EAST).isoformat(), AN_HOUR_AGO),
        # A clock reset to 1970 says nothing about when the alert started: it counts from now.
        ("1970-01-01T00:00:00Z", None),
    ],
)
def test_an_accepted_alert_is_applied_whatever_its_start_time_says(
    post_alertmanager, starts_at, detected
):
    body = payload("alertmanager_firing")
    body["alerts"][0]["startsAt"] = starts_at

    assert post_alertmanager(body).status_code == 200

    assert not AlertDelivery.objects.exists()  # applied, not failed
    incident = Incident.objects.get()
    if detected:
        assert incident.detected_at == detected
    else:
        assert incident.detected_at > timezone.now() - dt.timedelta(minutes=1)
