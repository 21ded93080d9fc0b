"""A level fires at its deadline even with no ETA task of its own (the +1 h level never has
one): the beat's sweep sets a wake-up sweep at each deadline coming before the next beat."""

import datetime as dt

import pytest
from django.utils import timezone

from escalation.models import Escalation
from escalation.services.timers import deadlines_ahead
from incidents import services
from tests.escalation.conftest import make_policy, running_worker
from tests.factories import IncidentFactory
from tests.helpers import wait_for

SWEEP_SECONDS = 5


@pytest.fixture
def worker_without_eta(worker_env, smtp, tmp_path, settings):
    # No ETA tasks at all, and beat only every 5 s: only the wake-ups can be on time.
    settings.ESCALATION_ETA_MAX_SECONDS = 0  # this process declares the incidents
    with running_worker(
        smtp,
        tmp_path,
        ESCALATION_ETA_MAX_SECONDS="0",
        ESCALATION_SWEEP_SECONDS=str(SWEEP_SECONDS),
    ) as process:
        yield process


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_deadlines_half_a_sweep_apart_both_fire_on_time(worker_without_eta, sysadmin):
    make_policy("live", levels=[(1, 0, ["l1@x.test"], ""), (2, 7, ["l2@x.test"], "")])
    first = services.incident_declare(
        actor=sysadmin, title="一件目", severity="P1", policy_name="live"
    )
    wait_for(lambda: timezone.now() >= first.detected_at + dt.timedelta(seconds=2.5), timeout=5)
    second = services.incident_declare(
        actor=sysadmin, title="二件目", severity="P1", policy_name="live"
    )

    assert wait_for(lambda: Escalation.objects.filter(level=2).count() == 2, timeout=20)
    # Sweeps alone, 5 s apart, could put at most one of two deadlines 2.5 s apart within 1 s.
    lateness = {e.incident_id: e.lateness for e in Escalation.objects.filter(level=2)}
    assert set(lateness) == {first.pk, second.pk}
    assert all(late < dt.timedelta(seconds=1) for late in lateness.values()), lateness


@pytest.mark.django_db
def test_deadlines_ahead_are_distinct_soonest_first_and_within_the_window():
    now = timezone.now()
    at = [now + dt.timedelta(seconds=s) for s in (3, 1, 1, 9)]
    for deadline in at:
        IncidentFactory(next_escalation_at=deadline)
    IncidentFactory(next_escalation_at=now - dt.timedelta(seconds=1))  # due: the sweep's job

    assert deadlines_ahead(now=now, within=dt.timedelta(seconds=5)) == [at[1], at[0]]
