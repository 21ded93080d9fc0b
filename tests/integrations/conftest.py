import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from alerts.models import Alert
from config.base import SYSTEM
from incidents.models import Incident
from integrations.models import AlertDelivery
from integrations.services import deliveries_process, integration_create
from tests.conftest import need_service
from tests.helpers import running_database_url

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> dict:
    return copy.deepcopy(json.loads((PAYLOADS / f"{name}.json").read_text()))


@pytest.fixture
def alertmanager(db):
    integration, secret = integration_create(
        name="prometheus-prod", kind="alertmanager", actor=SYSTEM
    )
    integration.secret = secret
    return integration


@pytest.fixture
def pagerduty(db):
    integration, secret = integration_create(name="pd-clients", kind="pagerduty", actor=SYSTEM)
    integration.secret = secret
    return integration


def nothing_stored() -> bool:
    """Not even a delivery for the processor: bad input is refused before it is stored."""
    return not (
        AlertDelivery.objects.exists() or Incident.objects.exists() or Alert.objects.exists()
    )


def _json(body) -> str | bytes:
    return body if isinstance(body, str | bytes) else json.dumps(body)


@pytest.fixture
def post_alertmanager(client, alertmanager):
    """POST to the webhook; then the alert processor applies it, as it would a moment later
    (`process=False` leaves it waiting)."""

    def post(body, secret=None, process=True, **extra):
        response = client.post(
            "/api/v1/integrations/alertmanager/",
            _json(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret or alertmanager.secret}",
            **extra,
        )
        if process:
            deliveries_process()
        return response

    return post


@pytest.fixture
def enqueue(client, pagerduty):
    """POST to `/v2/enqueue`; then the alert processor applies it."""

    def post(body, process=True):
        response = client.post("/v2/enqueue", _json(body), content_type="application/json")
        if process:
            deliveries_process()
        return response

    return post


@pytest.fixture
def alert_processor(transactional_db, tmp_path):
    """`manage.py process_alerts` running against the test database, as in the Procfile."""
    need_service("PostgreSQL", connection.vendor == "postgresql")
    url = running_database_url()
    log = tmp_path / "process_alerts.log"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "process_alerts", "--interval", "0.05"],
        cwd=Path(__file__).resolve().parents[2],
        env=os.environ | {"DATABASE_URL": url},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    yield log
    process.terminate()
    assert process.wait(timeout=10) == 0, log.read_text()[-2000:]
