import copy
import json
from pathlib import Path

import pytest

from integrations.services import integration_create

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> dict:
    return copy.deepcopy(json.loads((PAYLOADS / f"{name}.json").read_text()))


@pytest.fixture
def alertmanager(db):
    integration, secret = integration_create(name="prometheus-prod", kind="alertmanager")
    integration.secret = secret
    return integration


@pytest.fixture
def pagerduty(db):
    integration, secret = integration_create(name="pd-clients", kind="pagerduty")
    integration.secret = secret
    return integration


@pytest.fixture
def post_alertmanager(client, alertmanager):
    def post(body, secret=None, **extra):
        return client.post(
            "/api/v1/integrations/alertmanager/",
            body if isinstance(body, str | bytes) else json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret or alertmanager.secret}",
            **extra,
        )

    return post


@pytest.fixture
def enqueue(client, pagerduty):
    def post(body):
        return client.post(
            "/v2/enqueue",
            body if isinstance(body, str | bytes) else json.dumps(body),
            content_type="application/json",
        )

    return post
