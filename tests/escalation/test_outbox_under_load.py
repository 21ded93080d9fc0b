"""Delivery under a burst: one SMTP connection per batch, P0 first, a busy domain waited out
on its own, and every notice sent once even with two deliverers at it."""

import pytest
from django.db import connection

from notices.models import Delivery, Notice
from notices.services import notice_deliver
from tests.conftest import need_service
from tests.factories import IncidentFactory
from tests.helpers import at_once

pytestmark = pytest.mark.django_db


def queue(recipients, *, severity="P1"):
    """Pending e-mail notices of one incident of `severity`, as the outbox holds them."""
    incident = IncidentFactory(severity=severity)
    return Notice.objects.bulk_create(
        Notice(
            kind=Notice.Kind.MESSAGE,
            incident=incident,
            recipient=address,
            delivery=Delivery.IMMEDIATE,
            data={"subject": f"{severity} {address}", "text": "本文"},
        )
        for address in recipients
    )


def test_a_batch_of_notices_goes_through_one_smtp_connection(smtp_backend):
    queue([f"r{n}@x.test" for n in range(30)])

    assert notice_deliver(limit=50) == 30

    assert len(smtp_backend.mailbox.addresses()) == 30
    assert len(smtp_backend.mailbox.peers) == 1


def test_a_p0_written_during_a_burst_leaves_before_the_bursts_remaining_notices(
    smtp_backend, settings
):
    settings.NOTICE_SMTP_CONNECTIONS = 1  # one connection: received in the order sent
    queue([f"burst{n}@x.test" for n in range(120)], severity="P2")
    queue(["oncall@x.test"], severity="P0")

    notice_deliver(limit=50)

    received = smtp_backend.mailbox.addresses()
    assert len(received) == 121
    assert received[0] == "oncall@x.test"


def test_a_domain_whose_server_says_try_later_waits_and_the_other_domains_flow(smtp_backend):
    smtp_backend.mailbox.refusing_domains = {"busy.test"}
    queue([f"{n}@{domain}" for n in range(3) for domain in ("busy.test", "ok.test")])

    assert notice_deliver(limit=50) == 3

    assert sorted(smtp_backend.mailbox.addresses()) == [f"{n}@ok.test" for n in range(3)]
    # Asked once; its other notices were not put to it again in the same batch.
    assert smtp_backend.mailbox.refused == 1
    busy = Notice.objects.filter(recipient__endswith="@busy.test")
    # All three wait for a later try, an attempt each, as if each had been refused.
    assert {(n.status, n.attempts, n.next_attempt_at is not None) for n in busy} == {
        ("pending", 1, True)
    }


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_deliverers_send_each_notice_exactly_once(smtp_backend):
    need_service("PostgreSQL (SKIP LOCKED)", connection.vendor == "postgresql")
    queue([f"r{n}@x.test" for n in range(200)])

    def deliver():
        return notice_deliver(limit=20)

    at_once(deliver, deliver)
    received = smtp_backend.mailbox.addresses()
    assert sorted(received) == sorted(f"r{n}@x.test" for n in range(200))
    assert Notice.objects.filter(status="sent").count() == 200
