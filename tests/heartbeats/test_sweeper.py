"""The sweeper and the pings, with the clock moved by hand (`now=`): a heartbeat on time or
late within its grace opens nothing; a miss opens exactly one incident, deduplicated by the
heartbeat; a ping resolves it; a failure report opens one at once."""

import datetime as dt

from django.utils.translation import gettext as _

from heartbeats.models import Heartbeat
from heartbeats.services import heartbeat_ping, heartbeats_sweep
from incidents.models import State, TimelineEvent
from tests.heartbeats.conftest import MONDAY_0305, incidents_of

TUESDAY = MONDAY_0305 + dt.timedelta(days=1)  # 03:05 the next night


def at(day: dt.datetime, hour: int, minute: int) -> dt.datetime:
    return day.replace(hour=hour, minute=minute)


def pinged(make_heartbeat, **fields) -> Heartbeat:
    return heartbeat_ping(heartbeat=make_heartbeat(**fields), now=MONDAY_0305)


def test_a_heartbeat_pinging_on_time_opens_nothing(make_heartbeat):
    heartbeat = pinged(make_heartbeat)
    heartbeat = heartbeat_ping(heartbeat=heartbeat, now=at(TUESDAY, 3, 1))
    heartbeats_sweep(now=at(TUESDAY, 3, 45))
    assert not incidents_of(heartbeat).exists()
    heartbeat.refresh_from_db()
    assert heartbeat.status == Heartbeat.Status.UP
    assert heartbeat.get_status(at(TUESDAY, 3, 45)) == "up"


def test_late_within_the_grace_period_is_late_not_an_incident(make_heartbeat):
    heartbeat = pinged(make_heartbeat)
    assert heartbeats_sweep(now=at(TUESDAY, 3, 29)) == 0
    assert not incidents_of(heartbeat).exists()
    heartbeat.refresh_from_db()
    assert heartbeat.get_status(at(TUESDAY, 3, 29)) == "late"


def test_a_missed_run_opens_exactly_one_incident(make_heartbeat):
    heartbeat = pinged(make_heartbeat, severity="P1")
    assert heartbeats_sweep(now=at(TUESDAY, 3, 31)) == 1
    incident = incidents_of(heartbeat).get()
    assert incident.severity == "P1"
    assert incident.state == State.DETECTED
    assert incident.title == _(
        "Heartbeat %(name)s: no ping within the expected time and grace period."
    ) % {"name": "nightly"}
    heartbeat.refresh_from_db()
    assert heartbeat.status == Heartbeat.Status.DOWN
    assert heartbeat.incident == incident
    # The next night's run is watched in turn.
    assert heartbeat.deadline == at(TUESDAY + dt.timedelta(days=1), 3, 30)


def test_a_second_sweep_opens_no_second_incident(make_heartbeat):
    heartbeat = pinged(make_heartbeat)
    heartbeats_sweep(now=at(TUESDAY, 3, 31))
    assert heartbeats_sweep(now=at(TUESDAY, 3, 32)) == 0
    assert incidents_of(heartbeat).count() == 1


def test_a_miss_while_its_incident_is_active_is_noted_on_that_incident(make_heartbeat):
    heartbeat = pinged(make_heartbeat)
    heartbeats_sweep(now=at(TUESDAY, 3, 31))
    assert heartbeats_sweep(now=at(TUESDAY + dt.timedelta(days=1), 3, 31)) == 1
    incident = incidents_of(heartbeat).get()
    assert incident.timeline.filter(kind=TimelineEvent.Kind.ALERT).count() == 1


def test_a_ping_after_a_miss_resolves_the_incident(make_heartbeat):
    heartbeat = pinged(make_heartbeat)
    heartbeats_sweep(now=at(TUESDAY, 3, 31))
    heartbeat = heartbeat_ping(heartbeat=heartbeat, now=at(TUESDAY, 4, 10))
    incident = incidents_of(heartbeat).get()
    assert incident.state == State.POSTMORTEM
    assert heartbeat.incident.state == State.POSTMORTEM  # what the ping answers from
    assert incident.timeline.filter(kind=TimelineEvent.Kind.ALERTS_RESOLVED).exists()
    assert heartbeat.status == Heartbeat.Status.UP
    assert heartbeat.deadline == at(TUESDAY + dt.timedelta(days=1), 3, 30)


def test_a_miss_after_the_incident_was_resolved_opens_a_new_one(make_heartbeat):
    heartbeat = pinged(make_heartbeat)
    heartbeats_sweep(now=at(TUESDAY, 3, 31))
    heartbeat_ping(heartbeat=heartbeat, now=at(TUESDAY, 4, 10))
    heartbeats_sweep(now=at(TUESDAY + dt.timedelta(days=1), 3, 31))
    assert incidents_of(heartbeat).count() == 2
    assert incidents_of(heartbeat).filter(state=State.DETECTED).count() == 1


def test_a_failure_report_opens_an_incident_at_once(make_heartbeat):
    heartbeat = pinged(make_heartbeat)
    heartbeat = heartbeat_ping(
        heartbeat=heartbeat, kind=Heartbeat.Kind.FAIL, body=b"pg_dump: error", now=at(TUESDAY, 3, 2)
    )
    incident = incidents_of(heartbeat).get()
    assert incident.title == _("Heartbeat %(name)s: the job reported a failure.") % {
        "name": "nightly"
    }
    assert heartbeat.status == Heartbeat.Status.DOWN
    assert heartbeat.last_log == "pg_dump: error"
    # A second failure is noted on the same incident.
    heartbeat_ping(heartbeat=heartbeat, kind=Heartbeat.Kind.FAIL, now=at(TUESDAY, 3, 9))
    assert incidents_of(heartbeat).count() == 1
    # Success resolves it.
    heartbeat_ping(heartbeat=heartbeat, now=at(TUESDAY, 3, 20))
    assert incidents_of(heartbeat).get().state == State.POSTMORTEM


def test_a_start_ping_gives_the_run_its_grace_period_to_finish(make_heartbeat):
    heartbeat = pinged(make_heartbeat)
    heartbeat = heartbeat_ping(
        heartbeat=heartbeat, kind=Heartbeat.Kind.START, now=at(TUESDAY, 3, 0)
    )
    assert heartbeat.get_status(at(TUESDAY, 3, 10)) == "started"
    assert heartbeat.status == Heartbeat.Status.UP  # a start neither resolves nor alerts
    heartbeat = heartbeat_ping(heartbeat=heartbeat, now=at(TUESDAY, 3, 20))
    assert heartbeat.started_at is None
    assert heartbeats_sweep(now=at(TUESDAY, 3, 45)) == 0
    assert not incidents_of(heartbeat).exists()


def test_a_run_that_started_and_never_finished_is_a_miss(make_heartbeat):
    heartbeat = pinged(make_heartbeat, grace=dt.timedelta(minutes=20))
    # Started late in the evening, out of schedule: it still has only its grace to finish.
    heartbeat_ping(heartbeat=heartbeat, kind=Heartbeat.Kind.START, now=at(MONDAY_0305, 22, 0))
    assert heartbeats_sweep(now=at(MONDAY_0305, 22, 19)) == 0
    assert heartbeats_sweep(now=at(MONDAY_0305, 22, 21)) == 1
    incident = incidents_of(heartbeat).get()
    assert incident.title == _("Heartbeat %(name)s: a run started and never reported its end.") % {
        "name": "nightly"
    }
    heartbeat.refresh_from_db()
    assert heartbeat.started_at is None


def test_a_start_ping_without_a_body_keeps_the_last_log(make_heartbeat):
    heartbeat = heartbeat_ping(heartbeat=make_heartbeat(), body=b"42 tables", now=MONDAY_0305)
    heartbeat = heartbeat_ping(
        heartbeat=heartbeat, kind=Heartbeat.Kind.START, now=at(TUESDAY, 3, 0)
    )
    assert heartbeat.last_log == "42 tables"


def test_an_interval_heartbeat_is_missed_after_interval_and_grace(make_heartbeat):
    heartbeat = pinged(
        make_heartbeat,
        name="queue-drain",
        schedule=Heartbeat.Schedule.INTERVAL,
        interval=dt.timedelta(minutes=10),
        grace=dt.timedelta(minutes=2),
    )
    assert heartbeats_sweep(now=MONDAY_0305 + dt.timedelta(minutes=11)) == 0
    assert heartbeats_sweep(now=MONDAY_0305 + dt.timedelta(minutes=13)) == 1
    assert incidents_of(heartbeat).count() == 1


def test_a_paused_heartbeat_never_alerts(make_heartbeat):
    heartbeat = pinged(make_heartbeat, enabled=False)
    assert heartbeats_sweep(now=at(TUESDAY, 5, 0)) == 0
    assert not incidents_of(heartbeat).exists()
    assert heartbeat.get_status(at(TUESDAY, 5, 0)) == "paused"


def test_a_sweeper_that_was_down_for_days_opens_one_incident_and_watches_ahead(make_heartbeat):
    heartbeat = pinged(make_heartbeat)
    later = at(MONDAY_0305 + dt.timedelta(days=5), 12, 0)
    assert heartbeats_sweep(now=later) == 1
    assert incidents_of(heartbeat).count() == 1
    heartbeat.refresh_from_db()
    assert heartbeat.deadline == at(MONDAY_0305 + dt.timedelta(days=6), 3, 30)
    assert heartbeats_sweep(now=later) == 0


def test_the_incident_follows_the_heartbeats_severity_and_policy(make_heartbeat):
    heartbeat = pinged(make_heartbeat, severity="P2", policy="runbook")
    heartbeats_sweep(now=at(TUESDAY, 3, 31))
    incident = incidents_of(heartbeat).get()
    assert incident.severity == "P2"
    assert incident.policy.name == "runbook"


def test_a_miss_that_cannot_be_recorded_stays_due_and_the_others_are_swept(
    make_heartbeat, monkeypatch
):
    from heartbeats import services

    broken, fine = pinged(make_heartbeat, name="broken"), pinged(make_heartbeat, name="fine")
    declare = services.incident_declare

    def failing_for_broken(**fields):
        if fields["service"] == "heartbeat:broken":
            raise RuntimeError("the database refused")
        return declare(**fields)

    monkeypatch.setattr(services, "incident_declare", failing_for_broken)
    assert heartbeats_sweep(now=at(TUESDAY, 3, 31)) == 1
    assert incidents_of(fine).count() == 1
    broken.refresh_from_db()
    assert broken.deadline == at(TUESDAY, 3, 30)  # still due: the next sweep tries again
    monkeypatch.setattr(services, "incident_declare", declare)
    assert heartbeats_sweep(now=at(TUESDAY, 3, 32)) == 1
    assert incidents_of(broken).count() == 1
