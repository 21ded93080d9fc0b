import datetime as dt

import pytest

from config.base import JST, SYSTEM
from heartbeats.models import Heartbeat
from heartbeats.services import heartbeat_create
from incidents.models import Incident
from tests.chat.conftest import link_chat, slack, slack_command  # noqa: F401 — the chat's doors

# A Monday in Japan, a few minutes after the 03:00 backup ran.
MONDAY_0305 = dt.datetime(2026, 3, 2, 3, 5, tzinfo=JST)


@pytest.fixture
def make_heartbeat(db):
    def make(name="nightly", **fields) -> Heartbeat:
        fields.setdefault("schedule", Heartbeat.Schedule.CRON)
        if fields["schedule"] == Heartbeat.Schedule.CRON:
            fields.setdefault("cron", "0 3 * * *")
        fields.setdefault("grace", dt.timedelta(minutes=30))
        fields.setdefault("severity", "P1")
        return heartbeat_create(actor=SYSTEM, name=name, **fields)

    return make


def incidents_of(heartbeat: Heartbeat):
    return Incident.objects.filter(service=f"heartbeat:{heartbeat.name}")
