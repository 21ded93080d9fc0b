"""Where people see heartbeats: the board's heartbeats section, and the admin, where managers
configure them through the services (audited) and responders read them."""

import datetime as dt

from auditlog.models import LogEntry
from django.test import Client
from django.utils import timezone

from config.base import JST
from heartbeats.models import Heartbeat
from heartbeats.services import heartbeat_ping, heartbeats_sweep
from heartbeats.tasks import heartbeats_sweep_task
from pulses.models import Pulse
from tests.heartbeats.conftest import incidents_of


def logged_in(user) -> Client:
    web = Client(headers={"accept-language": "en"})
    web.force_login(user)
    return web


def test_the_board_lists_each_heartbeat_with_its_last_ping_and_incident(operator, make_heartbeat):
    quiet = make_heartbeat("quiet")
    heartbeat_ping(heartbeat=quiet, now=dt.datetime(2026, 3, 2, 3, 4, tzinfo=JST))
    heartbeats_sweep(now=dt.datetime(2026, 3, 3, 3, 31, tzinfo=JST))
    incident = incidents_of(quiet).get()
    page = logged_in(operator).get("/ops/monitoring/section").content.decode()
    row = page.split('data-heartbeat="quiet"', 1)[1].split("</tr>", 1)[0]
    assert "Down" in row
    assert "2026-03-02 03:04 JST" in row
    assert incident.key in row
    assert 'data-heartbeat="backup"' in page


def test_a_manager_adds_a_heartbeat_in_the_admin_through_the_service(make_user):
    manager = make_user("managers")
    answer = logged_in(manager).post(
        "/admin/heartbeats/heartbeat/add/",
        {
            "name": "weekly-report",
            "description": "",
            "schedule": "cron",
            "interval": "",
            "cron": "0 8 * * 1",
            "grace": "01:00:00",
            "severity": "P3",
            "policy": "",
            "enabled": "on",
            "checklist_item": "",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    heartbeat = Heartbeat.objects.get(name="weekly-report")
    assert heartbeat.deadline is not None  # armed by the service, not a bare save
    assert LogEntry.objects.get_for_object(heartbeat).get().actor == manager
    page = logged_in(manager).get(f"/admin/heartbeats/heartbeat/{heartbeat.pk}/change/")
    assert f"/ping/{heartbeat.uuid}" in page.content.decode()
    assert "curl -fsS" in page.content.decode()


def test_a_bad_schedule_in_the_admin_is_shown_and_nothing_is_saved(make_user):
    answer = logged_in(make_user("managers")).post(
        "/admin/heartbeats/heartbeat/add/",
        {"name": "bad", "schedule": "cron", "cron": "sometimes", "grace": "00:30:00"}
        | {"severity": "P2", "enabled": "on"},
    )
    assert answer.status_code == 200
    assert not Heartbeat.objects.filter(name="bad").exists()


def test_responders_read_heartbeats_in_the_admin_and_change_nothing(operator, make_heartbeat):
    heartbeat = make_heartbeat()
    web = logged_in(operator)
    assert web.get("/admin/heartbeats/heartbeat/").status_code == 200
    url = f"/admin/heartbeats/heartbeat/{heartbeat.pk}/change/"
    assert web.post(url, {"name": "renamed"}).status_code == 403
    assert Heartbeat.objects.get(pk=heartbeat.pk).name == "nightly"


def test_the_beat_task_sweeps_and_says_it_is_alive(make_heartbeat):
    heartbeat = make_heartbeat()
    Heartbeat.objects.filter(pk=heartbeat.pk).update(
        deadline=timezone.now() - dt.timedelta(minutes=1)
    )
    # The runbook's backup heartbeat falls due at 03:30 JST: never in this count.
    Heartbeat.objects.exclude(pk=heartbeat.pk).update(enabled=False)
    assert heartbeats_sweep_task() == 1
    assert incidents_of(heartbeat).count() == 1
    assert Pulse.objects.filter(name="heartbeats:sweep").exists()
