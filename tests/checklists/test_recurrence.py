"""Maintenance runs per JST day, week (from Monday) and month, each due at its period's end."""

import datetime as dt

import pytest
import time_machine

from checklists import tasks
from checklists.models import JST, ChecklistRun


def run_beat(key, at):
    with time_machine.travel(at, tick=False):
        return ChecklistRun.objects.get(pk=tasks.maintenance_run_create_task(key))


def jst(*args):
    return dt.datetime(*args, tzinfo=JST)


@pytest.mark.parametrize(
    ("key", "at", "period_start", "due_at"),
    [
        ("daily", jst(2026, 3, 10, 9, 0), jst(2026, 3, 10), jst(2026, 3, 11)),
        # 00:30 JST is still the previous day in UTC: the run is for the JST day.
        ("daily", jst(2026, 3, 11, 0, 30), jst(2026, 3, 11), jst(2026, 3, 12)),
        ("daily", jst(2026, 12, 31, 23, 59), jst(2026, 12, 31), jst(2027, 1, 1)),
        ("weekly", jst(2026, 3, 9, 9, 0), jst(2026, 3, 9), jst(2026, 3, 16)),
        ("weekly", jst(2026, 3, 15, 23, 0), jst(2026, 3, 9), jst(2026, 3, 16)),
        ("weekly", jst(2026, 12, 28, 9, 0), jst(2026, 12, 28), jst(2027, 1, 4)),
        ("monthly", jst(2026, 1, 1, 9, 0), jst(2026, 1, 1), jst(2026, 2, 1)),
        ("monthly", jst(2026, 1, 31, 23, 0), jst(2026, 1, 1), jst(2026, 2, 1)),
        ("monthly", jst(2026, 2, 1, 9, 0), jst(2026, 2, 1), jst(2026, 3, 1)),
        ("monthly", jst(2028, 2, 29, 12, 0), jst(2028, 2, 1), jst(2028, 3, 1)),
        ("monthly", jst(2026, 12, 1, 9, 0), jst(2026, 12, 1), jst(2027, 1, 1)),
    ],
)
def test_each_run_covers_its_jst_period_and_is_due_at_its_end(key, at, period_start, due_at):
    run = run_beat(key, at)

    assert (run.period_start, run.due_at) == (period_start, due_at)
    assert run.kind == key
    assert run.items.count() > 0


def test_the_beat_task_running_twice_makes_one_run_per_period():
    first = run_beat("daily", jst(2026, 3, 10, 9, 0))
    again = run_beat("daily", jst(2026, 3, 10, 9, 0, 5))
    next_day = run_beat("daily", jst(2026, 3, 11, 9, 0))

    assert again == first
    assert next_day != first
    assert ChecklistRun.objects.filter(template__key="daily").count() == 2


def test_a_second_run_for_the_same_period_is_refused_by_the_database():
    from django.db import IntegrityError, transaction

    from checklists import services
    from checklists.models import ChecklistTemplate

    first = run_beat("monthly", jst(2026, 2, 1, 9, 0))
    with pytest.raises(IntegrityError), transaction.atomic():
        services.checklist_run_create(
            template=ChecklistTemplate.objects.get(key="monthly"),
            period_start=first.period_start,
            due_at=first.due_at,
        )


def test_an_inactive_template_gets_no_runs():
    from checklists.models import ChecklistTemplate

    ChecklistTemplate.objects.filter(key="weekly").update(is_active=False)

    with time_machine.travel(jst(2026, 3, 9, 9, 0), tick=False):
        assert tasks.maintenance_run_create_task("weekly") is None
    assert not ChecklistRun.objects.filter(template__key="weekly").exists()
