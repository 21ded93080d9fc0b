"""When a window ends, its held alerts still firing open their incidents, each exactly once,
as if they had just arrived; those resolved meanwhile open nothing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from alerts.services import held_alerts_release
from alerts.tasks import held_alerts_release_task
from config.base import SYSTEM
from escalation.models import Escalation
from incidents.models import Incident
from maintenance.models import HeldAlert
from maintenance.services import close_window
from tests.conftest import need_service
from tests.maintenance.conftest import alert_body, window_ended


def test_at_the_end_a_still_firing_held_alert_opens_its_incident(window, post_alertmanager):
    opened = window(reason="決済リリース")
    post_alertmanager(alert_body())
    window_ended(opened)
    before = timezone.now()

    assert held_alerts_release() == 1

    incident = Incident.objects.get()
    assert (incident.service, incident.severity, incident.title) == (
        "payments",
        "P2",
        "エラー率が5%を超えています",
    )
    # As if it had just arrived: escalation starts at level 1, not hours into the policy.
    assert incident.detected_at >= before - timedelta(seconds=5)
    assert incident.escalation_level == 1
    assert incident.alerts.get().fingerprint == "a1b2c3d4e5f60718"
    held = HeldAlert.objects.get()
    assert held.released_at is not None and held.incident == incident
    note = incident.timeline.get(kind="alert")
    assert f"#{opened.pk}" in note.message and "決済リリース" in note.message


def test_a_held_alert_resolved_in_the_window_opens_nothing(window, post_alertmanager):
    opened = window()
    post_alertmanager(alert_body())
    post_alertmanager(alert_body(status="resolved"))
    assert HeldAlert.objects.get().status == "resolved"
    window_ended(opened)

    assert held_alerts_release() == 1

    assert not Incident.objects.exists()
    assert HeldAlert.objects.get().released_at is not None


def test_nothing_is_released_before_the_window_ends(window, post_alertmanager):
    window()
    post_alertmanager(alert_body())

    assert held_alerts_release() == 0
    assert not Incident.objects.exists()


def test_a_released_alert_is_never_released_again(window, post_alertmanager):
    opened = window()
    post_alertmanager(alert_body())
    window_ended(opened)

    assert held_alerts_release() == 1
    assert held_alerts_release() == 0
    assert Incident.objects.count() == 1
    assert Escalation.objects.filter(level=1).count() == 1


def test_alerts_of_one_group_open_one_incident(window, post_alertmanager):
    opened = window()
    post_alertmanager(alert_body(fingerprint="api-1"))
    post_alertmanager(alert_body(fingerprint="api-2"))
    window_ended(opened)

    assert held_alerts_release() == 2

    assert Incident.objects.get().alerts.count() == 2


def test_closing_a_window_early_releases_through_the_beat_task(window, post_alertmanager):
    opened = window()
    post_alertmanager(alert_body())

    close_window(window=opened, actor=SYSTEM)
    assert held_alerts_release_task() == 1

    opened.refresh_from_db()
    assert opened.closed_at is not None and opened.ends_at <= timezone.now()
    assert Incident.objects.count() == 1


def test_beat_runs_the_release_sweep_every_interval():
    entries = [
        e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "alerts.release_held"
    ]
    assert entries == [
        {"task": "alerts.release_held", "schedule": settings.MAINTENANCE_SWEEP_SECONDS}
    ]


@pytest.mark.django_db(transaction=True)
def test_two_sweepers_racing_open_each_incident_exactly_once(window, post_alertmanager):
    need_service("PostgreSQL", connection.vendor == "postgresql")
    opened = window()
    groups = 40
    for n in range(groups):
        post_alertmanager(alert_body(group=f"Group{n}", fingerprint=f"fp{n}"))
    assert HeldAlert.objects.count() == groups
    window_ended(opened)
    start, released, errors = threading.Barrier(2), [], []

    def sweep():
        try:
            start.wait(timeout=30)
            total = batch = held_alerts_release(limit=5)
            while batch:
                batch = held_alerts_release(limit=5)
                total += batch
            released.append(total)
        except Exception as error:  # noqa: BLE001 — reported below
            errors.append(error)
        finally:
            connections.close_all()

    sweepers = [threading.Thread(target=sweep) for _ in range(2)]
    for sweeper in sweepers:
        sweeper.start()
    for sweeper in sweepers:
        sweeper.join(timeout=120)

    assert errors == []
    assert sum(released) == groups
    assert Incident.objects.count() == groups
    assert Escalation.objects.filter(level=1).count() == groups
    assert not HeldAlert.objects.filter(released_at__isnull=True).exists()
    assert HeldAlert.objects.filter(incident__isnull=True).count() == 0
