"""A run not completed by its due time notifies the operations team once, and shows as overdue."""

import datetime as dt

import time_machine

from checklists import services, tasks
from checklists.models import JST, ChecklistRun
from notices.models import Notice
from notices.services import notice_deliver


def daily_run(day=10):
    with time_machine.travel(dt.datetime(2026, 3, day, 9, 0, tzinfo=JST), tick=False):
        return ChecklistRun.objects.get(pk=tasks.maintenance_run_create_task("daily"))


def sweep(at):
    with time_machine.travel(at, tick=False):
        claimed = tasks.runs_mark_overdue_task()
        notice_deliver()  # the outbox's own sweep, as beat runs it
    return claimed


def test_an_overdue_run_is_mailed_to_operations_once(settings, mailoutbox):
    settings.OPERATIONS_EMAIL = ["ops@example.test"]
    run = daily_run()

    before = sweep(dt.datetime(2026, 3, 10, 23, 59, tzinfo=JST))
    first = sweep(dt.datetime(2026, 3, 11, 0, 5, tzinfo=JST))
    second = sweep(dt.datetime(2026, 3, 11, 0, 10, tzinfo=JST))

    assert (before, first, second) == (0, 1, 0)
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["ops@example.test"]
    assert "日次タスク" in mailoutbox[0].subject
    # Through the outbox, like every notice: retried if the mail server is down.
    notice = Notice.objects.get()
    assert (notice.kind, notice.status, notice.recipient) == ("message", "sent", "ops@example.test")
    run.refresh_from_db()
    assert run.overdue_notified_at == dt.datetime(2026, 3, 11, 0, 5, tzinfo=JST)


def test_a_completed_run_is_never_overdue(settings, mailoutbox, sysadmin):
    settings.OPERATIONS_EMAIL = ["ops@example.test"]
    run = daily_run()
    with time_machine.travel(dt.datetime(2026, 3, 10, 17, 0, tzinfo=JST), tick=False):
        for item in run.items.all():
            services.run_item_tick(item=item, actor=sysadmin)

    claimed = sweep(dt.datetime(2026, 3, 12, tzinfo=JST))

    assert claimed == 0
    assert mailoutbox == []
    run.refresh_from_db()
    assert run.completed_at == dt.datetime(2026, 3, 10, 17, 0, tzinfo=JST)


def test_without_an_address_the_operations_role_members_are_mailed(settings, mailoutbox, make_user):
    settings.OPERATIONS_EMAIL = []
    make_user("operations", email="tanaka@example.test")
    make_user("developers", email="dev@example.test")
    daily_run()

    sweep(dt.datetime(2026, 3, 11, 1, 0, tzinfo=JST))

    assert mailoutbox[0].to == ["tanaka@example.test"]


def test_the_runs_api_filters_overdue_and_due_today(api, operator):
    overdue = daily_run(day=10)
    today = daily_run(day=11)
    with time_machine.travel(dt.datetime(2026, 3, 11, 12, 0, tzinfo=JST), tick=False):
        client = api.as_user(operator)
        overdue_ids = [
            r["id"]
            for r in client.get("/api/v1/checklists/runs/?kind=daily&overdue=true").json()[
                "results"
            ]
        ]
        due_today = client.get("/api/v1/checklists/runs/?kind=daily&due=today").json()["results"]
        weekly = client.get("/api/v1/checklists/runs/?kind=weekly").json()["results"]

    assert overdue_ids == [overdue.pk]
    assert [r["id"] for r in due_today] == [today.pk]
    assert due_today[0]["overdue"] is False
    assert weekly == []
