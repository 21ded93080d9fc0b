"""Grafana unified alerting's webhook, with its optional HMAC signature."""

import hashlib
import hmac
import json

import pytest

from config.base import SYSTEM
from incidents.models import Incident
from integrations.services import deliveries_process, integration_create
from tests.integrations.conftest import nothing_stored, payload

URL = "/api/v1/integrations/grafana/"


@pytest.fixture
def grafana(db, monkeypatch):
    monkeypatch.setenv("GRAFANA_HMAC_TEST", "s3cret")
    integration, secret = integration_create(
        name="grafana", kind="grafana", actor=SYSTEM, hmac_secret_env="GRAFANA_HMAC_TEST"
    )
    integration.secret = secret
    return integration


def post(client, grafana, body, signature=None, timestamp=None):
    raw = json.dumps(body).encode()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {grafana.secret}"}
    if signature == "valid":
        message = f"{timestamp}:".encode() + raw if timestamp else raw
        signature = hmac.new(b"s3cret", message, hashlib.sha256).hexdigest()
    if signature:
        headers["HTTP_X_GRAFANA_ALERTING_SIGNATURE"] = signature
    if timestamp:
        headers["HTTP_X_GRAFANA_ALERTING_SIGNATURE_TIMESTAMP"] = timestamp
    response = client.post(URL, raw, content_type="application/json", **headers)
    deliveries_process()
    return response


@pytest.mark.parametrize("timestamp", [None, "1764378600"])
def test_a_signed_grafana_alert_opens_an_incident(client, grafana, timestamp):
    response = post(client, grafana, payload("grafana_firing"), "valid", timestamp)

    assert response.status_code == 200
    incident = Incident.objects.get()
    assert incident.title == "ディスク使用率が90%を超えています"
    assert incident.severity == "P2"
    assert "https://grafana.example.jp/d/disk" in incident.alerts.get().links


@pytest.mark.parametrize("signature", [None, "0" * 64])
def test_a_missing_or_wrong_signature_is_401(client, grafana, signature):
    response = post(client, grafana, payload("grafana_firing"), signature)
    assert response.status_code == 401
    assert nothing_stored()
