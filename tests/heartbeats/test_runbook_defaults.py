"""The runbook's backup (毎日3:00 AM JST) has its heartbeat from the defaults, once, linked to
the daily checklist's バックアップ状態確認, whose item shows the backup's last ping in the admin
and the API."""

import datetime as dt
import io

from django.core.management import call_command
from django.test import Client

from checklists.models import ChecklistRun, ChecklistTemplate
from checklists.services import maintenance_run_create
from config.base import JST
from heartbeats.models import Heartbeat
from heartbeats.services import heartbeat_ping


def backup() -> Heartbeat:
    return Heartbeat.objects.select_related("checklist_item").get(name="backup")


def test_the_defaults_create_the_backup_heartbeat_once():
    call_command("load_runbook_defaults", stdout=io.StringIO())
    call_command("load_runbook_defaults", stdout=io.StringIO())
    heartbeat = backup()
    assert Heartbeat.objects.filter(name="backup").count() == 1
    assert (heartbeat.schedule, heartbeat.cron) == ("cron", "0 3 * * *")
    assert heartbeat.grace == dt.timedelta(minutes=30)
    assert heartbeat.severity == "P1"
    assert heartbeat.checklist_item.text_ja == "バックアップ状態確認"
    assert heartbeat.checklist_item.template.key == "daily"


def test_a_managers_edit_survives_the_defaults():
    Heartbeat.objects.filter(name="backup").update(grace=dt.timedelta(hours=1))
    call_command("load_runbook_defaults", stdout=io.StringIO())
    assert backup().grace == dt.timedelta(hours=1)


def daily_run() -> ChecklistRun:
    run, _created = maintenance_run_create(template=ChecklistTemplate.objects.get(key="daily"))
    return run


def test_the_backup_item_shows_the_last_ping_in_the_api(api, operator):
    heartbeat_ping(heartbeat=backup(), body=b"ok", now=dt.datetime(2026, 3, 2, 3, 4, tzinfo=JST))
    run = daily_run()
    response = api.as_user(operator).get(f"/api/v1/checklists/runs/{run.pk}/")
    assert response.status_code == 200
    items = {item["text_ja"]: item for item in response.json()["items"]}
    assert "2026-03-02 03:04 JST" in items["バックアップ状態確認"]["live_status"]
    assert items["システム状態確認"]["live_status"] is None


def test_the_backup_item_shows_the_last_ping_in_the_admin(make_user):
    heartbeat_ping(heartbeat=backup(), now=dt.datetime(2026, 3, 2, 3, 4, tzinfo=JST))
    run = daily_run()
    web = Client()
    web.force_login(make_user("operations"))
    page = web.get(f"/admin/checklists/checklistrun/{run.pk}/change/")
    assert page.status_code == 200
    assert "2026-03-02 03:04 JST" in page.content.decode()
