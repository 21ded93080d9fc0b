"""A real worker and SMTP server page the person on call; after a hand-off (an override from
now), a new incident pages the next person, while the earlier incident's later level still
pages whoever was on call at its declaration (the plan is frozen then)."""

import datetime as dt

import pytest
from django.utils import timezone

from escalation.models import EscalationLevel
from incidents import services
from oncall.models import Override, Schedule
from tests.escalation.conftest import key_of, make_policy
from tests.helpers import wait_for
from tests.oncall.conftest import add_layer

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_the_on_call_person_is_paged_and_after_the_hand_off_the_next(
    worker, smtp, sysadmin, make_user
):
    sato = make_user("operations", username="sato", email="sato@x.test")
    suzuki = make_user("operations", username="suzuki", email="suzuki@x.test")
    schedule = Schedule.objects.create(name="ops-primary")
    add_layer(schedule, [sato], shift_unit="days", start_date=dt.date(2026, 1, 1))
    make_policy("oncall", levels=[(1, 0, [], ""), (2, 2, [], "")])
    for level in EscalationLevel.objects.filter(policy__name="oncall"):
        level.schedules.add(schedule)

    before = services.incident_declare(
        actor=sysadmin, title="決済APIの応答遅延", severity="P1", policy_name="oncall"
    )
    # The hand-off, before the worker has sent anything: 鈴木 takes the schedule from now (no
    # clock is waited on). Both of the first incident's levels still go to 佐藤.
    now = timezone.now()
    Override.objects.create(
        schedule=schedule, user=suzuki, starts_at=now, ends_at=now + dt.timedelta(hours=2)
    )
    after = services.incident_declare(
        actor=sysadmin, title="ログイン不可", severity="P1", policy_name="oncall"
    )

    mailbox = smtp.mailbox
    assert wait_for(lambda: len(mailbox.received) >= 4, timeout=40), mailbox.addresses()
    wait_for(lambda: False, timeout=1.0)  # margin for a duplicate to show up
    paged = sorted((key_of(m), rcpt) for rcpt, m, _ in mailbox.received)
    assert paged == sorted(
        [
            (before.key, "sato@x.test"),  # level 1 and level 2, sent after the hand-off:
            (before.key, "sato@x.test"),  # the plan frozen at declaration
            (after.key, "suzuki@x.test"),
            (after.key, "suzuki@x.test"),
        ]
    )
