"""Faults with a real worker: stopped while deadlines pass, duplicate task delivery."""

import datetime as dt

import pytest
from django.utils import timezone

from config.celery import app as celery_app
from escalation.models import Escalation
from incidents import services
from notices.models import Notice
from tests.escalation.conftest import make_policy
from tests.helpers import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_deadlines_passed_while_the_worker_was_down_fire_once_after_it_starts(
    worker, smtp, sysadmin
):
    make_policy(
        "live",
        levels=[(1, 0, ["l1@x.test"], ""), (2, 3, ["l2@x.test"], ""), (3, 4, ["l3@x.test"], "")],
    )
    incident = services.incident_declare(
        actor=sysadmin, title="夜間障害", severity="P1", policy_name="live"
    )
    assert wait_for(lambda: smtp.mailbox.to("l1@x.test"))
    # Down before level 2 is due (+3 s), and still down when level 3 is (+4 s).
    worker.stop()
    down_until = incident.detected_at + dt.timedelta(seconds=4.5)
    wait_for(lambda: timezone.now() >= down_until, timeout=10)
    assert not Escalation.objects.filter(incident=incident, level__gt=1).exists()

    worker.start()

    assert wait_for(lambda: smtp.mailbox.to("l3@x.test"), timeout=15)
    wait_for(lambda: False, timeout=1.5)
    assert sorted(smtp.mailbox.addresses()) == ["l1@x.test", "l2@x.test", "l3@x.test"]
    assert list(Escalation.objects.values_list("level", flat=True).order_by("level")) == [1, 2, 3]
    assert Notice.objects.filter(status="sent").count() == 3


def test_the_same_task_delivered_twice_while_the_sweeper_runs_escalates_once(
    worker, smtp, sysadmin
):
    make_policy("live", levels=[(1, 0, ["l1@x.test"], ""), (2, 2, ["l2@x.test", "l2b@x.test"], "")])
    incident = services.incident_declare(
        actor=sysadmin, title="重複配信", severity="P1", policy_name="live"
    )
    # Besides the ETA task the service queued, the same task twice more, due at the deadline.
    for _ in range(2):
        celery_app.send_task(
            "escalation.fire_due", args=[incident.pk], eta=incident.next_escalation_at
        )

    assert wait_for(lambda: Escalation.objects.filter(incident=incident, level=2).exists())
    assert wait_for(lambda: len(smtp.mailbox.addresses()) >= 3)
    wait_for(lambda: False, timeout=1.5)
    assert sorted(smtp.mailbox.addresses()) == ["l1@x.test", "l2@x.test", "l2b@x.test"]
    assert Escalation.objects.filter(incident=incident).count() == 2
    assert Notice.objects.filter(escalation__level=2).count() == 2
    assert Escalation.objects.get(level=2).fired_at <= timezone.now()
