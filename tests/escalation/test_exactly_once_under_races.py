"""Concurrent sweepers and ETA tasks on one due incident: one Escalation, one notice each."""

import datetime as dt
import threading

import pytest
from django.db import connection

from escalation.models import Escalation
from escalation.services import timers
from incidents import services as incident_services
from incidents.models import Incident
from notices.models import Notice
from tests.conftest import need_service
from tests.escalation.conftest import make_policy


@pytest.mark.django_db(transaction=True)
def test_two_sweepers_and_a_duplicated_eta_task_escalate_each_level_once(sysadmin):
    need_service("PostgreSQL (real row locks)", connection.vendor == "postgresql")
    make_policy(
        "race",
        levels=[(1, 0, ["a@x.test"], ""), (2, 60, ["b@x.test", "c@x.test"], "")],
    )
    incidents = [
        incident_services.incident_declare(
            actor=sysadmin, title=f"競合 {n}", severity="P1", policy_name="race"
        )
        for n in range(20)
    ]
    # As if detected two minutes ago: level 2 (at +60 s) is due for all of them.
    earlier = incidents[0].detected_at - dt.timedelta(minutes=2)
    Incident.objects.update(
        detected_at=earlier, next_escalation_at=earlier + dt.timedelta(seconds=60)
    )
    barrier = threading.Barrier(4)
    errors = []

    def run(job):
        try:
            barrier.wait()
            job()
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connection.close()

    def eta_tasks():
        for incident in incidents:
            timers.escalation_fire_due(incident_id=incident.pk)

    threads = [
        threading.Thread(target=run, args=(job,))
        for job in (timers.escalate_due, timers.escalate_due, eta_tasks, eta_tasks)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert Escalation.objects.filter(level=2).count() == 20
    assert Notice.objects.filter(escalation__level=2).count() == 40
    assert Notice.objects.filter(escalation__level=2, recipient="b@x.test").count() == 20


def test_a_level_written_twice_is_refused_by_the_database(declare):
    from django.db import IntegrityError, transaction

    incident = declare()
    first = Escalation.objects.get(incident=incident, level=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Escalation.objects.create(
            incident=incident,
            level=1,
            name="again",
            deadline=first.deadline,
            fired_at=first.fired_at,
            reason="deadline",
            severity="P1",
            delivery="immediate",
        )


def test_the_compare_and_set_claim_works_without_row_locks(declare, monkeypatch):
    """The SQLite path: a sweeper that read stale values claims nothing."""
    make_policy("cas", levels=[(1, 0, ["a@x.test"], ""), (2, 0, ["b@x.test"], "")])
    incident = declare(policy_name="cas")
    assert incident.escalation_level == 2
    monkeypatch.setattr(connection.features, "has_select_for_update_skip_locked", False)
    stale = Incident.objects.filter(pk=incident.pk)
    Incident.objects.filter(pk=incident.pk).update(
        escalation_level=1, next_escalation_at=incident.detected_at
    )
    # Another claimer moves the row on between our read and our write.
    original = timers._Batch.advance

    def advance_after_someone_else(self, row, **kwargs):
        Incident.objects.filter(pk=row.pk).update(escalation_level=2, next_escalation_at=None)
        return original(self, row, **kwargs)

    monkeypatch.setattr(timers._Batch, "advance", advance_after_someone_else)
    assert timers._sweep(stale, now=incident.detected_at, limit=10) == 0
    assert Escalation.objects.filter(incident=incident).count() == 2
