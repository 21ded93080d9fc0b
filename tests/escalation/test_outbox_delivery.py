"""The notice outbox against a real SMTP server: down, back, refusing, resending."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from notices.models import Notice
from notices.services import notice_deliver, notice_retry
from tests.escalation.conftest import make_policy


@pytest.fixture
def incident(declare):
    make_policy("mail", levels=[(1, 0, ["ops@x.test", "dev@x.test"], "")])
    return declare(policy_name="mail")


@pytest.mark.faults
def test_notices_wait_while_the_server_is_down_and_go_out_once_it_answers(smtp_backend, incident):
    smtp_backend.stop()
    assert notice_deliver() == 0
    pending = Notice.objects.filter(incident=incident)
    assert {n.status for n in pending} == {"pending"}
    assert all(n.last_error and n.next_attempt_at for n in pending)
    assert smtp_backend.mailbox.received == []

    smtp_backend.start()
    assert notice_deliver() == 0  # backoff: not due yet
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=1)):
        assert notice_deliver() == 2
    assert sorted(smtp_backend.mailbox.addresses()) == ["dev@x.test", "ops@x.test"]
    assert {n.status for n in pending.all()} == {"sent"}
    assert incident.timeline.filter(kind="notice_sent").count() == 2
    assert notice_deliver() == 0  # nothing is sent twice


def test_a_refused_notice_fails_after_the_last_retry_and_shows_on_the_timeline(
    smtp_backend, incident, settings, make_user
):
    settings.NOTICE_MAX_ATTEMPTS = 3
    smtp_backend.mailbox.reject.add("dev@x.test")
    now = timezone.now()
    for minutes in (0, 10, 30, 60):
        with time_machine.travel(now + dt.timedelta(minutes=minutes)):
            notice_deliver()
    refused = Notice.objects.get(recipient="dev@x.test")
    assert refused.status == "failed" and refused.attempts == 3
    assert "550" in refused.last_error
    assert incident.timeline.filter(kind="notice_failed").count() == 1
    assert smtp_backend.mailbox.addresses() == ["ops@x.test"]

    smtp_backend.mailbox.reject.clear()
    manager = make_user("managers")
    assert notice_retry(notices=Notice.objects.filter(pk=refused.pk), actor=manager) == 1
    assert notice_deliver() == 1
    assert smtp_backend.mailbox.to("dev@x.test")


def test_a_resend_after_a_crash_carries_the_same_message_id(smtp_backend, incident, settings):
    settings.NOTICE_SENDING_TIMEOUT_SECONDS = 60
    notice = Notice.objects.get(recipient="ops@x.test")
    assert notice_deliver(notice_ids=[notice.pk]) == 1
    # As if the worker died after the server accepted but before "sent" was committed.
    Notice.objects.filter(pk=notice.pk).update(status="sending", claimed_at=timezone.now())
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=2)):
        notice_deliver()
    first, second = smtp_backend.mailbox.to("ops@x.test")
    assert first["Message-ID"] == second["Message-ID"] == notice.message_id
