# ruff: noqa: F811 — pytest fixtures imported from the on-call conftest
"""Hand-off notices: the person whose shift starts is told once, 30 minutes before, with the
shift's span in the schedule's zone; read from the resolver, sent through the outbox."""

import pytest
from django.core import mail
from django.db import connection

from accounts.models import Profile
from escalation.services.handoffs import handoff_notices_queue
from notices.emails import notice_message
from notices.models import Notice
from oncall.models import Handoff, Override
from tests.conftest import need_service
from tests.helpers import at_once
from tests.oncall.conftest import add_layer, at, people, schedule  # noqa: F401 — the on-call fixtures


def test_the_next_person_is_told_30_minutes_before_with_the_span(schedule, people):
    a, b, *_ = people
    add_layer(schedule, [a, b])  # weekly, Mondays 09:00 JST, from 2026-03-02: a, then b
    assert handoff_notices_queue(now=at("2026-03-09 08:29")) == 0  # 31 minutes ahead
    assert handoff_notices_queue(now=at("2026-03-09 08:31")) == 1
    notice = Notice.objects.get(kind=Notice.Kind.HANDOFF)
    assert notice.recipient == b.email
    message = notice_message(notice)
    assert "2026-03-09 09:00" in message.body and "2026-03-16 09:00" in message.body
    assert "Asia/Tokyo" in message.body and "primary" in message.body
    assert (
        message.extra_headers["Message-ID"]
        == f"<hikeshi.handoff.{notice.pk}@" + (message.extra_headers["Message-ID"].split("@", 1)[1])
    )
    # The next minutes' sweeps write nothing more; a shift already started gets nothing.
    assert handoff_notices_queue(now=at("2026-03-09 08:45")) == 0
    assert handoff_notices_queue(now=at("2026-03-09 09:05")) == 0
    assert Notice.objects.filter(kind=Notice.Kind.HANDOFF).count() == 1


def test_a_person_who_continues_is_not_told_again(schedule, people):
    a, *_ = people
    add_layer(schedule, [a], shift_unit="days")  # a every day: hand-offs to the same person
    assert handoff_notices_queue(now=at("2026-03-09 08:45")) == 0
    assert not Handoff.objects.exists()


def test_an_override_starting_within_30_minutes_is_noticed_once(schedule, people):
    a, b, c, _ = people
    add_layer(schedule, [a, b])
    Override.objects.create(
        schedule=schedule, user=c, starts_at=at("2026-03-04 12:10"), ends_at=at("2026-03-04 18:00")
    )
    assert handoff_notices_queue(now=at("2026-03-04 12:00")) == 1
    assert handoff_notices_queue(now=at("2026-03-04 12:01")) == 0
    notice = Notice.objects.get(kind=Notice.Kind.HANDOFF)
    assert notice.recipient == c.email and notice.data["override"]
    assert "18:00" in notice_message(notice).body


def test_the_notice_is_in_the_persons_language(schedule, people):
    a, b, *_ = people
    Profile.objects.update_or_create(user=b, defaults={"language": "en"})
    add_layer(schedule, [a, b])
    handoff_notices_queue(now=at("2026-03-09 08:40"))
    notice = Notice.objects.get(kind=Notice.Kind.HANDOFF)
    assert notice.language == "en"
    assert "Your on-call shift" in notice_message(notice).subject
    assert notice_message(notice).extra_headers["Content-Language"] == "en"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_write_one_notice(people):
    need_service("PostgreSQL (real row locks)", connection.vendor == "postgresql")
    from oncall.models import Schedule

    a, b, *_ = people
    schedules = [Schedule.objects.create(name=f"race-{n}") for n in range(5)]
    for each in schedules:
        add_layer(each, [a, b])

    def sweep():
        return handoff_notices_queue(now=at("2026-03-09 08:40"))

    assert sum(at_once(sweep, sweep)) == 5
    assert Notice.objects.filter(kind=Notice.Kind.HANDOFF, recipient=b.email).count() == 5
    assert len(mail.outbox) <= 5
