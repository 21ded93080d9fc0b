"""アラート設定: P2 in an hourly digest per recipient, P3 in the daily report with its trend."""

import datetime as dt

import pytest
import time_machine
from django.core import mail

from escalation.services.digests import digests_build, report_daily_build
from incidents import services
from notices.models import Notice
from notices.services import notice_deliver
from tests.escalation.conftest import make_policy

JST = dt.timezone(dt.timedelta(hours=9))


@pytest.fixture
def policy(db):
    return make_policy("digest", levels=[(1, 0, ["a@x.test", "b@x.test"], "")])


def test_three_p2_incidents_in_an_hour_make_one_digest_per_recipient(declare, policy):
    keys = []
    for minute in (5, 20, 55):
        with time_machine.travel(dt.datetime(2026, 11, 2, 10, minute, tzinfo=JST)):
            keys.append(declare(severity="P2", policy_name="digest").key)
    assert notice_deliver() == 0  # P2 is never mailed on its own

    with time_machine.travel(dt.datetime(2026, 11, 2, 11, 0, 5, tzinfo=JST)):
        assert len(digests_build()) == 2
        assert digests_build() == []  # beat running twice sends nothing twice
        assert notice_deliver() == 2

    assert sorted(m.to[0] for m in mail.outbox) == ["a@x.test", "b@x.test"]
    for message in mail.outbox:
        assert all(key in message.body for key in keys)
    assert set(Notice.objects.filter(kind="notice").values_list("status", flat=True)) == {"sent"}


def test_a_p2_declared_after_the_hour_waits_for_the_next_digest(declare, policy):
    with time_machine.travel(dt.datetime(2026, 11, 2, 10, 30, tzinfo=JST)):
        declare(severity="P2", policy_name="digest")
    with time_machine.travel(dt.datetime(2026, 11, 2, 10, 59, tzinfo=JST)):
        assert digests_build() == []


def test_daily_report_carries_p3_notices_and_the_days_figures(declare, policy, sysadmin):
    day = dt.datetime(2026, 11, 2, 9, 0, tzinfo=JST)  # the window is [11/1 09:00, 11/2 09:00)

    def at(hours, minutes=0):
        return time_machine.travel(
            day - dt.timedelta(days=1) + dt.timedelta(hours=hours, minutes=minutes)
        )

    with at(1):  # P1: acknowledged after 10 min, resolved after 70 min
        p1 = declare(severity="P1")
    with at(1, 10):
        services.incident_transition(incident=p1, action="acknowledge", actor=sysadmin)
    with at(2, 10):
        services.incident_transition(incident=p1, action="resolve", actor=sysadmin)
    with at(3):  # second P1: acknowledged after 20 min, still open
        p1b = declare(severity="P1")
    with at(3, 20):
        services.incident_transition(incident=p1b, action="acknowledge", actor=sysadmin)
    with at(5):  # P3 into the report
        p3 = declare(severity="P3", policy_name="digest")
    with at(25):  # after the window: not counted
        declare(severity="P1")

    with time_machine.travel(day + dt.timedelta(minutes=1)):
        built = report_daily_build()
        notice_deliver()
    report = Notice.objects.get(pk=built[0])
    rows = {row["severity"]: row for row in report.data["trend"]["rows"]}
    assert report.data["trend"]["opened"] == 3 and report.data["trend"]["resolved"] == 1
    assert rows["P1"] == {
        "severity": "P1",
        "opened": 2,
        "resolved": 1,
        "mtta_minutes": 15.0,  # (10 + 20) / 2
        "mttr_minutes": 70.0,
    }
    assert rows["P3"]["opened"] == 1 and rows["P3"]["mtta_minutes"] is None
    to_a = [m for m in mail.outbox if m.to == ["a@x.test"]]
    assert len(to_a) == 1 and p3.key in to_a[0].body


def test_daily_report_says_who_is_on_call_until_when_and_who_is_next(declare, policy, make_user):
    from oncall.models import Schedule
    from tests.oncall.conftest import add_layer

    day = dt.datetime(2026, 11, 2, 9, 0, tzinfo=JST)
    sato = make_user("operations", username="sato", last_name="佐藤")
    suzuki = make_user("operations", username="suzuki", last_name="鈴木")
    # Weekly from Monday 10/26 09:00: 佐藤, then 鈴木 from 11/2 09:00 — the report's moment.
    add_layer(
        Schedule.objects.create(name="ops-primary"),
        [sato, suzuki],
        start_date=dt.date(2026, 10, 26),
    )
    with time_machine.travel(day - dt.timedelta(hours=3)):
        declare(severity="P3", policy_name="digest")
    with time_machine.travel(day + dt.timedelta(minutes=1)):
        built = report_daily_build()
        notice_deliver()
    report = Notice.objects.get(pk=built[0])
    to_a = [m for m in mail.outbox if m.to == ["a@x.test"]]
    assert len(to_a) == 1 and report.recipient == "a@x.test"
    assert "ops-primary: 鈴木" in to_a[0].body
    assert "2026-11-09 09:00" in to_a[0].body and "佐藤" in to_a[0].body
