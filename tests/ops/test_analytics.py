"""詳細分析 /ops/analytics: weeks of incidents and response, as SVG charts with tables and CSV."""

import csv
import io
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from alerts.models import Alert
from checklists import services as checklist_services
from checklists.models import RECURRING_KINDS, ChecklistTemplate
from config.base import JST
from escalation.models import Escalation
from incidents.models import State
from integrations.services import integration_create
from notices.models import Notice
from ops.analytics import Filters, charts
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def this_monday() -> datetime:
    today = timezone.now().astimezone(JST)
    monday = today - timedelta(days=today.weekday())
    return monday.replace(hour=9, minute=0, second=0, microsecond=0)


def weeks_ago(n: int, **later) -> datetime:
    return this_monday() - timedelta(weeks=n) + timedelta(**later)


def chart(name: str, query=None):
    filters, errors = Filters.from_query(QueryDict(query or ""))
    assert not errors
    with translation.override("en"):
        return next(c for c in charts(filters) if c.name == name)


@pytest.fixture
def analytics(client, make_user):
    client.force_login(make_user("executives"))  # a read-only role may read the detail
    return client


def test_the_default_range_is_the_last_twelve_jst_weeks():
    filters, _ = Filters.from_query(QueryDict(""))

    assert len(filters.weeks()) == 12
    assert filters.weeks()[-1] == this_monday().date()
    assert all(week.weekday() == 0 for week in filters.weeks())


def test_incidents_per_week_are_stacked_by_severity():
    IncidentFactory.create_batch(2, severity="P1", detected_at=weeks_ago(2, days=1))
    IncidentFactory(severity="P0", detected_at=weeks_ago(2, days=3))
    IncidentFactory(severity="P2", detected_at=weeks_ago(0, hours=1))
    IncidentFactory(severity="P2", detected_at=weeks_ago(20))  # outside the range

    weekly = chart("weekly")

    assert weekly.series["P1"][-3] == 2
    assert weekly.series["P0"][-3] == 1
    assert weekly.series["P2"][-1] == 1
    assert sum(sum(values) for values in weekly.series.values()) == 4


def test_a_sunday_night_in_tokyo_belongs_to_the_jst_week_not_the_utc_one():
    # Monday 00:30 JST is still Sunday in UTC.
    IncidentFactory(severity="P3", detected_at=this_monday().replace(hour=0, minute=30))

    assert chart("weekly").series["P3"][-1] == 1


def test_mtta_and_mttr_are_median_and_p90_minutes_per_week_and_severity():
    for minutes in (10, 20, 30, 40):
        detected = weeks_ago(1, days=1)
        IncidentFactory(
            severity="P1",
            detected_at=detected,
            acknowledged_at=detected + timedelta(minutes=minutes),
            resolved_at=detected + timedelta(minutes=minutes * 3),
            state=State.POSTMORTEM,
        )

    weekly = chart("times")
    by_severity = chart("times_by_severity")

    assert weekly.series["MTTA median"][-2] == 20
    assert weekly.series["MTTA p90"][-2] == 40
    assert weekly.series["MTTR median"][-2] == 60
    assert weekly.series["MTTA median"][-1] is None  # no incident this week: no figure, not 0
    p1 = by_severity.categories.index("P1")
    assert by_severity.series["MTTR p90"][p1] == 120


def test_how_often_each_escalation_level_was_needed():
    IncidentFactory.create_batch(3, escalation_level=1, detected_at=weeks_ago(1))
    IncidentFactory(escalation_level=4, detected_at=weeks_ago(1))

    levels = chart("levels")

    counts = dict(zip(levels.categories, levels.series["incidents"], strict=True))
    assert counts["L1"] == 3 and counts["L4"] == 1 and counts["L2"] == 0


def test_the_noisiest_alert_sources_by_incidents_repeats_and_time_to_resolve(sysadmin, make_user):
    integration, _ = integration_create(
        name="alertmanager", kind="alertmanager", actor=make_user("managers")
    )
    detected = weeks_ago(1)

    def alert(incident, name, received):
        return Alert.objects.create(
            incident=incident,
            integration=integration,
            fingerprint=f"{name}-{incident.pk}",
            status=Alert.Status.FIRING,
            severity="P1",
            labels={"alertname": name},
            first_received_at=detected,
            last_received_at=detected,
            times_received=received,
        )

    for _ in range(3):
        alert(
            IncidentFactory(detected_at=detected, resolved_at=detected + timedelta(minutes=30)),
            "HighCpuUsage",
            received=4,
        )
    alert(IncidentFactory(detected_at=detected), "HighDiskUsage", received=1)

    sources = chart("sources")

    assert sources.categories[0] == "alertmanager: HighCpuUsage"
    assert sources.series["incidents opened"][0] == 3
    assert sources.series["repeats"][0] == 9
    assert sources.series["time to resolve, minutes"][0] == 30
    assert sources.categories[1] == "alertmanager: HighDiskUsage"


def test_maintenance_checklists_on_time_late_and_not_done(sysadmin):
    daily = ChecklistTemplate.objects.get(key="daily")
    on_time, _ = checklist_services.maintenance_run_create(template=daily, at=weeks_ago(1))
    late, _ = checklist_services.maintenance_run_create(template=daily, at=weeks_ago(1, days=1))
    checklist_services.maintenance_run_create(template=daily, at=weeks_ago(1, days=2))
    on_time.completed_at = on_time.due_at - timedelta(hours=1)
    late.completed_at = late.due_at + timedelta(hours=1)
    for run in (on_time, late):
        run.save(update_fields=["completed_at"])

    figures = chart("checklists")

    column = RECURRING_KINDS.index(daily.kind)
    assert figures.series["on time"][column] == 1
    assert figures.series["late"][column] == 1
    assert figures.series["not done"][column] == 1


def test_notice_delivery_latency_from_the_deadline_in_seconds():
    incident = IncidentFactory(detected_at=weeks_ago(1))
    deadline = weeks_ago(1, minutes=15)
    escalation = Escalation.objects.create(
        incident=incident,
        level=2,
        name="L2",
        deadline=deadline,
        fired_at=deadline,
        reason="timer",
        severity="P1",
        delivery="email",
    )
    for seconds in (2, 4, 30):
        Notice.objects.create(
            incident=incident,
            escalation=escalation,
            recipient=f"r{seconds}@example.test",
            delivery="email",
            status=Notice.Status.SENT,
            sent_at=deadline + timedelta(seconds=seconds),
        )

    delivery = chart("delivery")

    assert delivery.series["median"][-2] == 4
    assert delivery.series["p90"][-2] == 30


def test_severity_and_category_filters_narrow_every_chart():
    IncidentFactory(severity="P0", category="security", detected_at=weeks_ago(1))
    IncidentFactory(severity="P1", category="system", detected_at=weeks_ago(1))

    weekly = chart("weekly", "severity=P0")
    assert weekly.series["P0"][-2] == 1 and weekly.series["P1"][-2] == 0
    assert chart("levels", "category=system").series["incidents"][0] == 1


def test_the_page_draws_every_chart_as_svg_with_its_series(analytics):
    IncidentFactory(severity="P1", detected_at=weeks_ago(1))

    body = analytics.get(reverse("ops-analytics")).content.decode()

    for name in ("weekly", "times", "times_by_severity", "levels", "sources", "checklists"):
        assert f'data-chart="{name}"' in body
    assert 'data-series="P1"' in body
    assert "<table>" in body


def test_each_chart_downloads_as_csv(analytics):
    IncidentFactory.create_batch(2, severity="P2", detected_at=weeks_ago(1))

    response = analytics.get(reverse("ops-analytics"), {"csv": "weekly"})

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["", "P0", "P1", "P2", "P3"]
    assert len(rows) == 13
    assert rows[-2][3] == "2"


def test_an_unknown_csv_is_not_found(analytics):
    assert analytics.get(reverse("ops-analytics"), {"csv": "nonsense"}).status_code == 404


def test_a_bad_date_is_refused_with_the_reason_and_the_form(analytics):
    response = analytics.get(reverse("ops-analytics"), {"from": "yesterday"})

    assert response.status_code == 400
    assert "YYYY-MM-DD" in response.content.decode()


def test_an_end_before_the_start_is_refused(analytics):
    response = analytics.get(reverse("ops-analytics"), {"from": "2026-06-01", "to": "2026-05-01"})
    assert response.status_code == 400


def test_queries_do_not_grow_with_history(analytics):
    def count():
        with CaptureQueriesContext(connection) as queries:
            assert analytics.get(reverse("ops-analytics")).status_code == 200
        return len(queries)

    IncidentFactory(detected_at=weeks_ago(1))
    count()  # the session renewed once: only what grows with history is counted
    few = count()
    IncidentFactory.create_batch(20, detected_at=weeks_ago(3))
    assert count() == few


def test_anonymous_visitors_log_in_first(client):
    assert client.get(reverse("ops-analytics")).status_code == 302
