"""What the monthly operations report shows of maintenance checklists."""

import datetime as dt

import time_machine
from django.utils import translation

from checklists import reports, services, tasks
from checklists.models import JST, ChecklistRun
from tests.checklists.factories import resolve_all_items


def jst(*args):
    return dt.datetime(*args, tzinfo=JST)


def daily_run(day):
    with time_machine.travel(jst(2026, 11, day, 9, 0), tick=False):
        return ChecklistRun.objects.get(pk=tasks.maintenance_run_create_task("daily"))


def complete(run, actor, at):
    with time_machine.travel(at, tick=False):
        for item in run.items.all():
            services.run_item_tick(item=item, actor=actor)


def test_completion_counts_runs_due_in_the_month_and_those_done_on_time(sysadmin):
    on_time, late, _never = daily_run(3), daily_run(4), daily_run(5)
    complete(on_time, sysadmin, jst(2026, 11, 3, 17, 0))
    complete(late, sysadmin, jst(2026, 11, 6, 10, 0))

    with translation.override("en"):
        table = reports.monthly_completion(jst(2026, 11, 1), jst(2026, 12, 1))

    assert table["checklist_completion"] == [
        {"name": "Daily maintenance", "runs": 3, "on_time": 1, "rate": "33%"}
    ]


def test_the_postmortem_section_lists_done_skipped_and_missing_items(declare, sysadmin):
    incident = declare(title="x")
    items = list(incident.checklist_runs.get().items.order_by("position", "pk"))
    services.run_item_tick(item=items[0], actor=sysadmin)
    services.run_item_skip(item=items[1], actor=sysadmin, reason="該当なし")

    section = reports.postmortem_checklists(incident)["checklists"][0]

    states = [(i["state"], i["reason"]) for i in section["items"][:3]]
    assert states == [("done", ""), ("skipped", "該当なし"), ("missing", "")]
    resolve_all_items(incident, sysadmin)
    assert all(
        i["state"] == "done"
        for i in reports.postmortem_checklists(incident)["checklists"][0]["items"][2:]
    )
