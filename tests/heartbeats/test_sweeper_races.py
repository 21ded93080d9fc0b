"""Two sweepers at once, on PostgreSQL's real row locks: each due heartbeat is claimed once,
so each opens exactly one incident."""

import datetime as dt

import pytest
from django.db import connection

from config.base import database_now
from heartbeats.models import Heartbeat
from heartbeats.services import heartbeats_sweep
from incidents.models import Incident
from tests.conftest import need_service
from tests.helpers import at_once


@pytest.mark.django_db(transaction=True)
def test_two_sweepers_racing_claim_each_due_heartbeat_once(make_heartbeat):
    need_service("PostgreSQL (real row locks)", connection.vendor == "postgresql")
    beats = [
        make_heartbeat(
            f"job-{n}", schedule=Heartbeat.Schedule.INTERVAL, interval=dt.timedelta(hours=1)
        )
        for n in range(30)
    ]
    now = database_now()
    Heartbeat.objects.filter(pk__in=[b.pk for b in beats]).update(
        deadline=now - dt.timedelta(minutes=1)
    )
    # The runbook's backup heartbeat falls due at 03:30 JST: never in this count.
    Heartbeat.objects.exclude(pk__in=[b.pk for b in beats]).update(enabled=False)

    def sweep():
        # Small batches, so that the two interleave over many transactions.
        return heartbeats_sweep(now=now, batch_size=3)

    assert sum(at_once(sweep, sweep)) == 30
    opened = Incident.objects.filter(service__startswith="heartbeat:job-")
    assert opened.count() == 30
    assert sorted(opened.values_list("service", flat=True)) == sorted(
        f"heartbeat:{b.name}" for b in beats
    )
    assert all(
        h.incident_id and h.status == "down"
        for h in Heartbeat.objects.filter(name__startswith="job-")
    )
