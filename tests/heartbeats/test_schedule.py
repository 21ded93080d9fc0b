"""When the next ping is expected and when silence becomes a miss: cron in Japan time, or an
interval, plus the grace period."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from config.base import JST
from heartbeats.models import Heartbeat
from heartbeats.services import heartbeat_ping
from tests.heartbeats.conftest import MONDAY_0305


def test_a_cron_schedule_is_read_in_japan_time(make_heartbeat):
    heartbeat = make_heartbeat(cron="0 3 * * *")
    # 03:05 JST is 18:05 UTC the day before: the next run is tomorrow 03:00 JST, not 03:00 UTC.
    assert heartbeat.expected_after(MONDAY_0305.astimezone(dt.UTC)) == dt.datetime(
        2026, 3, 3, 3, 0, tzinfo=JST
    )


def test_a_ping_expects_the_next_cron_run_plus_grace(make_heartbeat):
    heartbeat = heartbeat_ping(heartbeat=make_heartbeat(), now=MONDAY_0305)
    assert heartbeat.deadline == dt.datetime(2026, 3, 3, 3, 30, tzinfo=JST)


def test_a_weekday_cron_skips_the_weekend(make_heartbeat):
    friday = dt.datetime(2026, 3, 6, 9, 1, tzinfo=JST)
    heartbeat = heartbeat_ping(heartbeat=make_heartbeat(cron="0 9 * * 1-5"), now=friday)
    assert heartbeat.deadline == dt.datetime(2026, 3, 9, 9, 30, tzinfo=JST)


def test_an_interval_schedule_expects_a_ping_one_interval_after_the_last(make_heartbeat):
    heartbeat = make_heartbeat(
        "hourly",
        schedule=Heartbeat.Schedule.INTERVAL,
        interval=dt.timedelta(hours=1),
        grace=dt.timedelta(minutes=5),
    )
    heartbeat = heartbeat_ping(heartbeat=heartbeat, now=MONDAY_0305)
    assert heartbeat.deadline == MONDAY_0305 + dt.timedelta(hours=1, minutes=5)


def test_a_new_heartbeat_is_armed_at_once(make_heartbeat):
    # A job that never pings at all is silence too.
    heartbeat = make_heartbeat()
    assert heartbeat.status == Heartbeat.Status.NEW
    assert heartbeat.deadline is not None
    assert heartbeat.deadline.astimezone(JST).time() == dt.time(3, 30)


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"schedule": "cron", "cron": "every night"}, "cron"),
        ({"schedule": "cron", "cron": "0 3 * *"}, "cron"),
        ({"schedule": "cron", "cron": "0 0 30 2 *"}, "cron"),  # 30 February never comes
        ({"schedule": "cron", "cron": ""}, "cron"),
        ({"schedule": "interval", "interval": None}, "interval"),
        ({"schedule": "interval", "interval": dt.timedelta(seconds=5)}, "interval"),
        ({"schedule": "cron", "cron": "0 3 * * *", "grace": dt.timedelta(days=400)}, "grace"),
    ],
)
def test_a_schedule_that_cannot_be_kept_is_refused_and_nothing_is_written(
    make_heartbeat, fields, field
):
    with pytest.raises(ValidationError) as refused:
        make_heartbeat("broken", **fields)
    assert field in refused.value.message_dict
    assert not Heartbeat.objects.filter(name="broken").exists()
