"""Senders are answered once their alerts are stored; the alert processor applies them in
order, never twice, and sets aside what keeps failing."""

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

from incidents.models import Incident, State
from integrations.management.commands.process_alerts import LANE_LOCK
from integrations.models import AlertDelivery, Integration
from integrations.services import deliveries_process, delivery_accept, integration_create
from tests.conftest import need_service
from tests.helpers import wait_for
from tests.integrations.conftest import payload


def group(name: str, status: str = "firing") -> dict:
    body = payload("alertmanager_firing" if status == "firing" else "alertmanager_resolved")
    body["groupKey"] = f'{{}}:{{alertname="{name}"}}'
    return body


def test_an_accepted_alert_waits_for_the_processor_which_opens_its_incident(post_alertmanager):
    response = post_alertmanager(payload("alertmanager_firing"), process=False)

    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "alerts": 1}
    assert AlertDelivery.objects.count() == 1
    assert not Incident.objects.exists()

    assert deliveries_process() == 1

    assert Incident.objects.get().alerts.get().times_received == 1
    assert not AlertDelivery.objects.exists()
    assert deliveries_process() == 0  # applied once, never again


def test_a_failing_delivery_holds_back_later_ones_until_it_is_set_aside(
    post_alertmanager, alertmanager, settings
):
    settings.ALERT_DELIVERY_ATTEMPTS = 2
    # Stored by an older version, say, in a shape this one no longer reads.
    broken = AlertDelivery.objects.create(integration=alertmanager, body={"alerts": "?"})
    post_alertmanager(payload("alertmanager_firing"), process=False)

    assert deliveries_process() == 0
    broken.refresh_from_db()
    assert broken.attempts == 1
    assert broken.failed_at is None
    assert "PayloadError" in broken.error
    assert not Incident.objects.exists()  # the later delivery waits its turn

    assert deliveries_process() == 0
    broken.refresh_from_db()
    assert broken.failed_at is not None  # set aside after the second attempt

    assert deliveries_process() == 1
    assert Incident.objects.count() == 1
    assert list(AlertDelivery.objects.all()) == [broken]


def test_the_command_applies_what_is_waiting_and_stops_when_asked_once(post_alertmanager):
    post_alertmanager(group("A"), process=False)
    post_alertmanager(group("B"), process=False)
    out = io.StringIO()

    call_command("process_alerts", "--once", "--lanes", "1", stdout=out)

    assert "2 deliveries applied" in out.getvalue()
    assert Incident.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_lanes_side_by_side_never_let_a_resolve_overtake_its_trigger(settings):
    need_service("PostgreSQL", connection.vendor == "postgresql")
    integration, _secret = integration_create(name="lanes", kind="alertmanager")

    for n in range(30):
        delivery_accept(integration=integration, body=group(f"G{n}"))
        delivery_accept(integration=integration, body=group(f"G{n}", "resolved"))
    lanes = {}
    for delivery in AlertDelivery.objects.all():
        lanes.setdefault(delivery.body["groupKey"], set()).add(delivery.lane)
    assert all(len(found) == 1 for found in lanes.values())  # a key keeps to one lane

    def lane(number):
        try:
            while deliveries_process(limit=5, lane=number, lanes=2):
                pass
        finally:
            connections.close_all()

    threads = [threading.Thread(target=lane, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not AlertDelivery.objects.exists()
    assert Incident.objects.count() == 30
    assert set(Incident.objects.values_list("state", flat=True)) == {State.POSTMORTEM}


@pytest.mark.django_db(transaction=True)
def test_a_second_processor_stands_by_until_the_lane_is_free(tmp_path):
    need_service("PostgreSQL", connection.vendor == "postgresql")
    integration, _secret = integration_create(name="standby", kind="alertmanager")
    AlertDelivery.objects.create(integration=integration, body=group("S"))
    db = connection.settings_dict
    url = f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    with psycopg.connect(url, autocommit=True) as active:  # the active processor, say
        active.execute("SELECT pg_advisory_lock(%s)", [LANE_LOCK])
        standby = subprocess.Popen(
            [sys.executable, "manage.py", "process_alerts", "--once", "--lanes", "1"],
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "DATABASE_URL": url.replace("postgresql", "postgres")},
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)
        assert standby.poll() is None
        assert AlertDelivery.objects.exists()  # it did not touch the lane
        active.execute("SELECT pg_advisory_unlock(%s)", [LANE_LOCK])

        out, _err = standby.communicate(timeout=30)

    assert "1 deliveries applied" in out
    assert wait_for(lambda: Incident.objects.exists(), timeout=5)


def test_a_secret_disabled_here_stops_working_at_once(post_alertmanager, alertmanager):
    assert post_alertmanager(group("A"), process=False).status_code == 200
    alertmanager.enabled = False
    alertmanager.save()

    assert post_alertmanager(group("A"), process=False).status_code == 401


def test_a_secret_disabled_by_another_process_stops_working_within_the_cache_time(
    post_alertmanager, alertmanager, settings
):
    settings.INTEGRATION_AUTH_CACHE_SECONDS = 0.5
    assert post_alertmanager(group("A"), process=False).status_code == 200
    # Another process's change: this one receives no signal.
    Integration.objects.filter(pk=alertmanager.pk).update(enabled=False)

    assert post_alertmanager(group("A"), process=False).status_code == 200
    time.sleep(0.6)
    assert post_alertmanager(group("A"), process=False).status_code == 401
    assert AlertDelivery.objects.count() == 2


def test_managers_see_waiting_and_set_aside_deliveries_and_cannot_change_them(
    client, make_user, alertmanager
):
    AlertDelivery.objects.create(
        integration=alertmanager,
        body={},
        attempts=5,
        error="PayloadError: alerts",
        failed_at=timezone.now(),
    )
    client.force_login(make_user("managers"))

    page = client.get("/admin/integrations/alertdelivery/?failed_at__isempty=0")

    assert page.status_code == 200
    assert "PayloadError: alerts" in page.content.decode()
    assert client.get("/admin/integrations/alertdelivery/add/").status_code == 403
