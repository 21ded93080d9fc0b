"""Timers under faults, with a real worker: killed outright in the middle of a sweep of 1,000
due escalations, its database connections terminated in the middle of a sweep, and running on
a clock 30 s ahead of the database's."""

import os
import signal

import pytest
from django.db.models import Count
from django.utils import timezone

from escalation.models import Escalation
from incidents import services
from notices.models import Notice
from tests.escalation.conftest import Worker, make_policy
from tests.helpers import terminating_connections, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.faults, pytest.mark.django_db(transaction=True)]

DUE = 1_000


def level_two() -> int:
    return Escalation.objects.filter(level=2).count()


def unsent():
    return Notice.objects.exclude(status="sent")


def test_a_worker_killed_in_the_middle_of_a_sweep_of_1000_escalates_each_once_after_restart(
    worker_env, smtp, tmp_path, sysadmin
):
    make_policy("storm", levels=[(1, 0, ["l1@x.test"], ""), (2, 1, ["l2@x.test"], "")])
    # Declared with no worker running: level 1 at once, then 1,000 deadlines pass together.
    incidents = [
        services.incident_declare(
            actor=sysadmin, title=f"storm {n}", severity="P1", policy_name="storm"
        )
        for n in range(DUE)
    ]
    assert wait_for(lambda: timezone.now() > incidents[-1].next_escalation_at, timeout=10)
    # Small claims, so that the sweep takes many transactions and the kill lands inside it.
    # Small claims, so that the sweep takes many transactions and the kill lands inside it;
    # a notice caught "sending" by the kill is sent again after 5 s instead of 10 minutes.
    worker = Worker(
        smtp_url="dummymail://",
        tmp_path=tmp_path,
        ESCALATION_SWEEP_BATCH="10",
        NOTICE_SENDING_TIMEOUT_SECONDS="5",
    )
    worker.start()
    try:
        assert wait_for(lambda: level_two() >= 50, timeout=60, interval=0.005)
        os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait()
        worker.process = None
        at_the_kill = level_two()
        assert 0 < at_the_kill < DUE, "the kill came after the sweep, not in the middle"

        worker.start()
        assert wait_for(lambda: level_two() == DUE, timeout=300), level_two()
        assert wait_for(lambda: not unsent().exists(), timeout=300), unsent().count()
        wait_for(lambda: False, timeout=3)  # time for a second firing, if there were one
    finally:
        worker.stop()

    per_incident = Escalation.objects.values("incident", "level").annotate(n=Count("pk"))
    assert per_incident.count() == 2 * DUE
    assert {row["n"] for row in per_incident} == {1}
    assert Notice.objects.filter(escalation__level=2).count() == DUE


def test_a_worker_whose_clock_runs_30_s_ahead_escalates_no_earlier(
    worker_env, smtp, tmp_path, sysadmin
):
    make_policy("skew", levels=[(1, 0, ["l1@x.test"], ""), (2, 8, ["l2@x.test"], "")])
    worker = Worker(smtp_url=smtp.url, tmp_path=tmp_path, clock_ahead=30)
    worker.start()
    try:
        incident = services.incident_declare(
            actor=sysadmin, title="時計のずれ", severity="P1", policy_name="skew"
        )
        assert wait_for(lambda: smtp.mailbox.to("l1@x.test"), timeout=30), worker.log.read_text()
        fired = wait_for(
            lambda: Escalation.objects.filter(incident=incident, level=2).exists(),
            timeout=60,
            interval=0.02,
        )
        seen_at = timezone.now()  # this process keeps the database's time
    finally:
        worker.stop()

    assert fired, worker.log.read_text()[-3000:]
    assert seen_at >= incident.next_escalation_at
    # The worker really ran 30 s ahead: it stamped level 1's notice with its own clock.
    first = Notice.objects.get(incident=incident, escalation__level=1)
    assert (first.sent_at - incident.detected_at).total_seconds() > 25


def test_connections_terminated_during_a_sweep_escalate_each_once_and_the_worker_goes_on(
    worker_env, tmp_path, sysadmin
):
    make_policy("cut", levels=[(1, 0, ["l1@x.test"], ""), (2, 1, ["l2@x.test"], "")])
    due = 100
    declared = {"actor": sysadmin, "severity": "P1", "policy_name": "cut"}
    incidents = [services.incident_declare(title=f"cut {n}", **declared) for n in range(due)]
    assert wait_for(lambda: timezone.now() > incidents[-1].next_escalation_at, timeout=10)
    worker = Worker(
        smtp_url="dummymail://",
        tmp_path=tmp_path,
        ESCALATION_SWEEP_BATCH="10",
        NOTICE_SENDING_TIMEOUT_SECONDS="5",
    )
    try:
        with terminating_connections(every=0.1) as terminated:
            # The cuts come first, so that the whole sweep runs under them, however fast.
            assert wait_for(lambda: terminated, timeout=60)
            worker.start()
            # The sweep goes on between the cuts: half the levels fire while they come.
            assert wait_for(lambda: level_two() >= due // 2, timeout=300, interval=0.02)
        assert sum(terminated) > 0
        assert "terminating connection" in worker.log.read_text(), "no cut reached the worker"
        # Left alone, the same worker reconnects and finishes: nothing lost, nothing twice.
        assert wait_for(lambda: level_two() == due, timeout=300), level_two()
        assert wait_for(lambda: not unsent().exists(), timeout=300), unsent().count()
        wait_for(lambda: False, timeout=3)  # time for a second firing, if there were one
        assert worker.process.poll() is None, worker.log.read_text()[-3000:]
    finally:
        worker.stop()

    per_incident = Escalation.objects.values("incident", "level").annotate(n=Count("pk"))
    assert per_incident.count() == 2 * due and {row["n"] for row in per_incident} == {1}
    assert Notice.objects.filter(escalation__level=2).count() == due
