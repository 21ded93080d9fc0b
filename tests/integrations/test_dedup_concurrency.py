"""Identical alerts arriving together open exactly one incident per key (PostgreSQL), even
with processors applying them side by side while they arrive."""

import json
import threading
from collections import Counter

import pytest
from django.db import connection, connections
from django.test import Client

from alerts.models import Alert
from config.base import SYSTEM
from incidents.models import Incident
from integrations.models import AlertDelivery
from integrations.services import deliveries_process, integration_create
from tests.conftest import need_service
from tests.integrations.conftest import payload

ALERTS, KEYS, THREADS, PROCESSORS = 1000, 20, 8, 3


@pytest.mark.django_db(transaction=True)
def test_a_thousand_alerts_over_twenty_fingerprints_open_exactly_twenty_incidents(settings):
    need_service("PostgreSQL", connection.vendor == "postgresql")
    settings.INTEGRATION_RATE_LIMIT = "100000/m"
    integration, secret = integration_create(name="burst", kind="alertmanager", actor=SYSTEM)
    integration.grouping = "fingerprint"
    integration.save()
    bodies = []
    for n in range(ALERTS):
        body = payload("alertmanager_firing")
        body["alerts"][0]["fingerprint"] = f"fp-{n % KEYS:02d}"
        body["alerts"][0]["labels"]["alertname"] = f"Alert{n % KEYS:02d}"
        bodies.append(json.dumps(body))
    statuses = Counter()
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def send(chunk):
        client = Client()
        start.wait()
        try:
            for body in chunk:
                response = client.post(
                    "/api/v1/integrations/alertmanager/",
                    body,
                    content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {secret}",
                )
                with lock:
                    statuses[response.status_code] += 1
        finally:
            connections.close_all()

    sending = [threading.Thread(target=send, args=(bodies[i::THREADS],)) for i in range(THREADS)]

    def process():
        # Each processor on its own connection, racing the others for the same deliveries.
        try:
            while any(t.is_alive() for t in sending) or AlertDelivery.objects.exists():
                deliveries_process(limit=10)
        finally:
            connections.close_all()

    processing = [threading.Thread(target=process) for _ in range(PROCESSORS)]
    for thread in sending + processing:
        thread.start()
    for thread in sending + processing:
        thread.join(timeout=120)

    assert statuses == {200: ALERTS}
    assert not AlertDelivery.objects.exists()
    assert Incident.objects.count() == KEYS
    counts = dict(Alert.objects.values_list("fingerprint", "times_received"))
    assert counts == {f"fp-{k:02d}": ALERTS // KEYS for k in range(KEYS)}
    assert all(i.alerts.count() == 1 for i in Incident.objects.all())
