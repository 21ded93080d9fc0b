"""Delivery over a bounded pool of SMTP connections to a real server on loopback: sessions
reused across batches and drains, never more open than NOTICE_SMTP_CONNECTIONS, a busy domain
backed off alone, and a failure or a stop mid-batch losing nothing and sending nothing twice."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

import notices.services
from notices.mailpool import pool
from notices.models import Notice
from notices.services import notice_deliver
from tests.conftest import need_service
from tests.escalation.test_outbox_under_load import queue
from tests.helpers import at_once

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_pool():
    pool.close()
    yield
    pool.close()


def test_sessions_are_reused_across_batches_and_drains(smtp_backend, settings):
    settings.NOTICE_SMTP_CONNECTIONS = 2
    opened = pool.opened
    queue([f"r{n}@x.test" for n in range(200)])

    assert notice_deliver(limit=20) == 200  # ten batches
    queue([f"later{n}@x.test" for n in range(30)])
    assert notice_deliver(limit=20) == 30

    assert len(smtp_backend.mailbox.addresses()) == 230
    assert len(smtp_backend.mailbox.peers) <= 2
    assert pool.opened - opened <= 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_drains_share_the_pool_and_never_exceed_its_bound(smtp_backend, settings):
    need_service("PostgreSQL (SKIP LOCKED)", connection.vendor == "postgresql")
    settings.NOTICE_SMTP_CONNECTIONS = 2
    opened = pool.opened
    queue([f"r{n}@x.test" for n in range(300)])

    def drain():
        return notice_deliver(limit=10)

    assert sum(at_once(drain, drain, drain, drain)) == 300
    received = smtp_backend.mailbox.addresses()
    assert sorted(received) == sorted(f"r{n}@x.test" for n in range(300))
    assert len(smtp_backend.mailbox.peers) <= 2
    assert pool.opened - opened <= 2


def test_a_refusal_mid_batch_backs_off_only_that_domains_notices(smtp_backend, settings):
    settings.NOTICE_SMTP_CONNECTIONS = 2
    smtp_backend.mailbox.refusing_domains = {"busy.test"}
    # Interleaved, over several batches on both connections: the refusal comes mid-batch.
    queue([f"{n}@{domain}" for n in range(20) for domain in ("ok.test", "busy.test")])

    assert notice_deliver(limit=10) == 20

    assert sorted(smtp_backend.mailbox.addresses()) == sorted(f"{n}@ok.test" for n in range(20))
    # Asked once per connection at most: a refusal holds the domain back for the whole drain.
    assert 1 <= smtp_backend.mailbox.refused <= 2
    busy = Notice.objects.filter(recipient__endswith="@busy.test")
    assert {(n.status, n.attempts, n.next_attempt_at is not None) for n in busy} == {
        ("pending", 1, True)
    }
    assert "451" in busy.first().last_error
    assert set(Notice.objects.filter(recipient__endswith="@ok.test").values_list("status")) == {
        ("sent",)
    }


def failing_at(monkeypatch, call: int, error: BaseException):
    """The `call`-th message handed to the server raises `error` instead of being sent."""
    send, calls = notices.services._send_one, []

    def send_one(connection, message):
        calls.append(message.to[0])
        if len(calls) == call:
            raise error
        send(connection, message)

    monkeypatch.setattr(notices.services, "_send_one", send_one)
    return calls


def deliver_later() -> int:
    with time_machine.travel(timezone.now() + dt.timedelta(hours=1)):
        return notice_deliver(limit=10)


def test_an_error_mid_batch_loses_nothing_and_sends_nothing_twice(smtp_backend, monkeypatch):
    addresses = [f"r{n}@x.test" for n in range(25)]
    queue(addresses)
    calls = failing_at(monkeypatch, 7, RuntimeError("fault while sending"))

    assert notice_deliver(limit=10) == 24
    failed = Notice.objects.get(recipient=calls[6])
    assert (failed.status, failed.attempts) == ("pending", 1)
    assert "fault while sending" in failed.last_error

    monkeypatch.undo()
    assert deliver_later() == 1
    assert sorted(smtp_backend.mailbox.addresses()) == sorted(addresses)
    assert set(Notice.objects.values_list("status", flat=True)) == {"sent"}


class Stop(BaseException):
    """The worker's process told to stop while a batch is on the wire."""


def test_a_stop_mid_batch_records_what_was_sent_and_puts_the_rest_back(smtp_backend, monkeypatch):
    addresses = [f"r{n}@x.test" for n in range(25)]
    queue(addresses)
    calls = failing_at(monkeypatch, 7, Stop())

    with pytest.raises(Stop):
        notice_deliver(limit=10)
    received = smtp_backend.mailbox.addresses()
    assert calls[6] not in received
    # Nothing left "sending" to wait out its timeout: what the server took is sent, the rest
    # is pending again.
    statuses = dict(Notice.objects.values_list("recipient", "status"))
    assert {a for a, s in statuses.items() if s == "sent"} == set(received)
    assert set(statuses.values()) <= {"sent", "pending"}

    monkeypatch.undo()
    notice_deliver(limit=10)
    assert sorted(smtp_backend.mailbox.addresses()) == sorted(addresses)
    assert set(Notice.objects.values_list("status", flat=True)) == {"sent"}


def test_a_session_the_server_closed_while_idle_is_replaced_without_a_failure(smtp_backend):
    queue(["first@x.test"])
    assert notice_deliver() == 1
    # The server goes away and comes back: the pooled session is dead, as after a server's
    # idle timeout.
    smtp_backend.stop()
    smtp_backend.start()
    queue(["second@x.test"])

    assert notice_deliver() == 1
    assert smtp_backend.mailbox.addresses() == ["first@x.test", "second@x.test"]
    assert Notice.objects.get(recipient="second@x.test").attempts == 1
