"""月次 運用レポート: figures per JST month, checked against hand-computed values."""

import datetime as dt
from pathlib import Path

import pytest
import time_machine

from incidents.models import ActionItem
from ops import reports, tasks
from ops.reports import Month
from tests.factories import IncidentFactory

JST = dt.timezone(dt.timedelta(hours=9))
M = dt.timedelta(minutes=1)


def incident(detected, severity, ack=None, resolved=None, category="system"):
    return IncidentFactory(
        detected_at=detected,
        severity=severity,
        category=category,
        acknowledged_at=detected + ack * M if ack is not None else None,
        resolved_at=detected + resolved * M if resolved is not None else None,
    )


@pytest.fixture
def november(settings, tmp_path):
    settings.OPS_REPORT_DIR = tmp_path / "reports"
    # 00:30 JST on the 1st is still October in UTC: it belongs to November here.
    incident(dt.datetime(2026, 11, 1, 0, 30, tzinfo=JST), "P1", ack=4, resolved=30)
    incident(dt.datetime(2026, 11, 10, 10, 0, tzinfo=JST), "P1", ack=10, resolved=90)
    incident(dt.datetime(2026, 11, 20, 12, 0, tzinfo=JST), "P1", ack=2, resolved=60)
    incident(dt.datetime(2026, 11, 30, 23, 50, tzinfo=JST), "P0", ack=1, resolved=20)
    incident(dt.datetime(2026, 11, 15, 9, 0, tzinfo=JST), "P2", category="security")
    # The previous month, and the next one (still November in UTC).
    incident(dt.datetime(2026, 10, 31, 23, 30, tzinfo=JST), "P1", ack=6, resolved=40)
    incident(dt.datetime(2026, 12, 1, 0, 10, tzinfo=JST), "P3", ack=1, resolved=5)


def test_response_times_match_hand_computed_values(november):
    times = reports.response_times(Month(2026, 11))

    assert times["P1"] == {
        "count": 3,
        "mtta_median": 4.0,
        "mtta_p90": 10.0,
        "mttr_median": 60.0,
        "mttr_p90": 90.0,
    }
    assert times["P0"] == {
        "count": 1,
        "mtta_median": 1.0,
        "mtta_p90": 1.0,
        "mttr_median": 20.0,
        "mttr_p90": 20.0,
    }
    assert times["P2"]["count"] == 1 and times["P2"]["mttr_median"] is None
    assert times["P3"]["count"] == 0
    assert reports.response_times(Month(2026, 10))["P1"]["mttr_median"] == 40.0


def test_counts_by_severity_and_category_follow_the_jst_month(november):
    counts = reports.incident_counts(Month(2026, 11))
    assert counts == {
        "P0": {"system": 1, "security": 0},
        "P1": {"system": 3, "security": 0},
        "P2": {"system": 0, "security": 1},
        "P3": {"system": 0, "security": 0},
    }


def test_weekly_counts_start_on_the_monday_before_the_first(november):
    weeks, series = reports.weekly_counts(Month(2026, 11))
    assert weeks[0] == dt.date(2026, 10, 26)
    assert weeks[-1] == dt.date(2026, 11, 30)
    assert sum(series["P1"]) == 3 and series["P0"][-1] == 1


def test_the_report_file_carries_the_figures_and_links_its_charts(november, make_user):
    owner = make_user("operations", username="sato")
    ActionItem.objects.create(
        incident=IncidentFactory(detected_at=dt.datetime(2026, 9, 1, tzinfo=JST)),
        title="監視閾値の見直し",
        owner=owner,
        due_date=dt.date(2026, 12, 5),
    )

    path = reports.ops_report_write(month=Month(2026, 11), language="en")

    text = path.read_text()
    assert path.name == "2026-11.md"
    assert "Incidents detected in 2026-11 (JST): 5." in text
    assert "| P1 | 3 | 4.0 | 10.0 | 60.0 | 90.0 | 40.0 |" in text
    assert "| P1 | 3 | 0 |" in text
    assert "| 監視閾値の見直し |" in text and "| sato | 2026-12-05 |" in text
    for chart in ("2026-11-incidents-per-week.svg", "2026-11-mttr.svg"):
        assert f"]({chart})" in text
        assert (path.parent / chart).read_text().startswith("<?xml")


def test_writing_twice_gives_the_same_bytes(november):
    first = reports.ops_report_write(month=Month(2026, 11))
    snapshot = {p.name: p.read_bytes() for p in first.parent.iterdir()}
    reports.ops_report_write(month=Month(2026, 11))
    assert {p.name: p.read_bytes() for p in first.parent.iterdir()} == snapshot


@pytest.mark.parametrize(
    ("month", "previous", "following"),
    [((2026, 1), (2025, 12), (2026, 2)), ((2026, 12), (2026, 11), (2027, 1))],
)
def test_months_roll_over_the_year(month, previous, following):
    assert Month(*month).previous == Month(*previous)
    assert Month(*month).next == Month(*following)


def test_the_beat_task_on_the_first_writes_the_month_that_ended(settings, tmp_path):
    settings.OPS_REPORT_DIR = tmp_path
    with time_machine.travel(dt.datetime(2026, 12, 1, 0, 5, tzinfo=JST)):
        written = Path(tasks.write_monthly_report_task())
    assert written.name == "2026-11.md"


def test_the_loader_schedules_the_report_on_the_first_in_japan_time(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="ops: monthly operations report")
    assert task.task == "ops.write_monthly_report"
    assert (task.crontab.day_of_month, task.crontab.hour, str(task.crontab.timezone)) == (
        "1",
        "0",
        "Asia/Tokyo",
    )
    from config.celery import app

    assert "ops.write_monthly_report" in app.tasks
