"""Senders are answered once their alerts are stored; the alert processor applies them in
order, never twice, and sets aside what keeps failing."""

import io
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from auditlog.models import LogEntry
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

from config.base import SYSTEM
from incidents.models import Incident, State
from integrations import tasks
from integrations.models import AlertDelivery, Integration
from integrations.services import (
    LANE_LOCK,
    deliveries_process,
    deliveries_retry,
    delivery_accept,
    integration_create,
)
from tests.conftest import need_service
from tests.helpers import running_database_url, wait_for
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


def test_deliveries_before_a_failing_one_are_applied_and_those_after_it_wait(
    post_alertmanager, alertmanager
):
    post_alertmanager(group("before"), process=False)
    broken = AlertDelivery.objects.create(integration=alertmanager, body={"alerts": "?"})
    post_alertmanager(group("after"), process=False)

    # The batch is undone as a whole, then applied one at a time up to the failing one.
    assert deliveries_process() == 1

    assert Incident.objects.count() == 1
    broken.refresh_from_db()
    assert broken.attempts == 1
    waiting = [d.body.get("groupKey") for d in AlertDelivery.objects.all()]
    assert waiting == [None, group("after")["groupKey"]]


def test_a_batch_of_repeats_costs_three_statements_per_alert(
    post_alertmanager, django_assert_max_num_queries
):
    post_alertmanager(group("noisy"))
    for _ in range(10):
        post_alertmanager(group("noisy"), process=False)

    # Per alert: find its key, its alert, count it. Per batch: take, integration, delete.
    with django_assert_max_num_queries(3 * 10 + 5):
        assert deliveries_process() == 10

    assert Incident.objects.get().alerts.get().times_received == 11


def test_the_command_applies_what_is_waiting_and_stops_when_asked_once(post_alertmanager, settings):
    settings.ALERT_PROCESSOR_LANES = 1
    post_alertmanager(group("A"), process=False)
    post_alertmanager(group("B"), process=False)
    out = io.StringIO()

    call_command("process_alerts", "--once", stdout=out)

    assert "2 deliveries applied" in out.getvalue()
    assert Incident.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_lanes_side_by_side_never_let_a_resolve_overtake_its_trigger():
    need_service("PostgreSQL", connection.vendor == "postgresql")
    integration, _secret = integration_create(name="lanes", kind="alertmanager", actor=SYSTEM)

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
def test_the_processor_yields_the_cpu_to_the_web_processes():
    """Under a storm senders must be answered first; a backlog only waits."""
    need_service("PostgreSQL", connection.vendor == "postgresql")
    processor = subprocess.Popen(
        [sys.executable, "manage.py", "process_alerts"],
        cwd=Path(__file__).resolve().parents[2],
        env=os.environ
        | {
            "DATABASE_URL": running_database_url(),
            "ALERT_PROCESSOR_LANES": "2",
            "ALERT_PROCESSOR_NICE": "7",
        },
    )
    try:
        children = Path(f"/proc/{processor.pid}/task/{processor.pid}/children")
        # Both lanes forked: waiting for the first alone raced the second fork.
        assert wait_for(lambda: len(children.read_text().split()) == 2, timeout=60)
        lanes = children.read_text().split()
        for pid in [processor.pid, *map(int, lanes)]:
            assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, os.nice(0) + 7)
    finally:
        processor.terminate()
        assert processor.wait(timeout=10) == 0


@pytest.mark.django_db(transaction=True)
def test_a_second_processor_stands_by_until_the_lane_is_free(tmp_path):
    need_service("PostgreSQL", connection.vendor == "postgresql")
    integration, _secret = integration_create(name="standby", kind="alertmanager", actor=SYSTEM)
    AlertDelivery.objects.create(integration=integration, body=group("S"))
    url = running_database_url()
    log = tmp_path / "standby.log"
    with psycopg.connect(url, autocommit=True) as active:  # the active processor, say
        active.execute("SELECT pg_advisory_lock(%s)", [LANE_LOCK])
        standby = subprocess.Popen(
            [sys.executable, "manage.py", "process_alerts", "--once"],
            cwd=Path(__file__).resolve().parents[2],
            env=os.environ | {"DATABASE_URL": url, "ALERT_PROCESSOR_LANES": "1"},
            stdout=log.open("w"),
            text=True,
        )
        assert wait_for(lambda: "standing by" in log.read_text(), timeout=60), log.read_text()
        assert standby.poll() is None
        assert AlertDelivery.objects.exists()  # it did not touch the lane
        active.execute("SELECT pg_advisory_unlock(%s)", [LANE_LOCK])

        standby.wait(timeout=30)
        out = log.read_text()

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


def test_the_beat_applies_deliveries_the_processor_left_waiting(post_alertmanager):
    post_alertmanager(group("A"), process=False)
    AlertDelivery.objects.update(received_at=timezone.now() - timedelta(minutes=1))

    assert tasks.deliveries_sweep_task() == 1

    assert Incident.objects.count() == 1
    assert not AlertDelivery.objects.exists()


def test_the_beat_leaves_fresh_deliveries_to_the_processor(post_alertmanager):
    post_alertmanager(group("A"), process=False)

    assert tasks.deliveries_sweep_task() == 0

    assert AlertDelivery.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_beat_leaves_alone_a_lane_a_live_processor_holds(settings):
    need_service("PostgreSQL", connection.vendor == "postgresql")
    settings.ALERT_PROCESSOR_LANES = 1
    integration, _secret = integration_create(name="held", kind="alertmanager", actor=SYSTEM)
    delivery_accept(integration=integration, body=group("H"))
    AlertDelivery.objects.update(received_at=timezone.now() - timedelta(minutes=1))
    url = running_database_url()
    with psycopg.connect(url, autocommit=True) as processor:
        processor.execute("SELECT pg_advisory_lock(%s)", [LANE_LOCK])

        assert tasks.deliveries_sweep_task() == 0
        assert not Incident.objects.exists()

        processor.execute("SELECT pg_advisory_unlock(%s)", [LANE_LOCK])

    assert tasks.deliveries_sweep_task() == 1
    assert Incident.objects.count() == 1


def test_a_manager_puts_a_set_aside_delivery_back_in_line_and_it_is_audited(
    client, make_user, alertmanager
):
    delivery = AlertDelivery.objects.create(
        integration=alertmanager,
        body=group("R"),
        lane=0,
        attempts=5,
        error="OperationalError: …",
        failed_at=timezone.now(),
    )
    manager = make_user("managers")
    client.force_login(manager)

    client.post(
        "/admin/integrations/alertdelivery/",
        {"action": "retry", "_selected_action": [delivery.pk]},
    )

    delivery.refresh_from_db()
    assert (delivery.failed_at, delivery.attempts) == (None, 0)
    entry = LogEntry.objects.get_for_object(delivery).get()
    assert entry.actor == manager
    assert entry.changes_dict["attempts"] == [5, 0]
    assert deliveries_process() == 1
    assert Incident.objects.count() == 1


def test_responders_cannot_put_deliveries_back_in_line(make_user, alertmanager):
    AlertDelivery.objects.create(integration=alertmanager, body={}, failed_at=timezone.now())
    with pytest.raises(PermissionDenied):
        deliveries_retry(deliveries=AlertDelivery.objects.all(), actor=make_user("sysadmins"))
    assert AlertDelivery.objects.get().failed_at is not None


def test_an_alert_applied_late_keeps_the_time_it_arrived(enqueue, pagerduty):
    arrived = timezone.now() - timedelta(minutes=3)
    body = {
        "routing_key": pagerduty.secret,
        "event_action": "trigger",
        "payload": {"summary": "DB接続数が80%を超えています", "source": "db", "severity": "error"},
    }
    enqueue(body, process=False)
    AlertDelivery.objects.update(received_at=arrived)  # the processor was behind

    deliveries_process()

    incident = Incident.objects.get()
    assert incident.detected_at == arrived  # the escalation clock starts at arrival
    assert incident.alerts.get().first_received_at == arrived
