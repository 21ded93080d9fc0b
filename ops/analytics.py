"""詳細分析 `/ops/analytics`: weeks of incidents, response times, escalation levels reached,
the noisiest alert sources, checklists done on time and notice delivery, for a date range and
filters. A handful of queries whatever the history holds; every chart has its table and CSV."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import (
    Aggregate,
    Avg,
    CharField,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    Sum,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.models import Alert
from checklists.models import RECURRING_KINDS, ChecklistRun, Kind
from config.base import JST
from incidents.models import Category, Incident, Severity
from notices.models import Notice

from .charts import Chart
from .reports import percentile

WEEKS_BY_DEFAULT = 12


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _jst(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=JST)


@dataclass
class Filters:
    start: date  # a Monday, JST
    end: date  # exclusive
    severities: list[str] = field(default_factory=list)
    category: str = ""
    service: str = ""

    @classmethod
    def from_query(cls, query) -> tuple[Filters, dict[str, str]]:
        """The filters a query string asks for, and what was wrong with it (field → why)."""
        errors: dict[str, str] = {}
        this_monday = _monday(timezone.now().astimezone(JST).date())
        start = this_monday - timedelta(weeks=WEEKS_BY_DEFAULT - 1)
        end = this_monday + timedelta(days=7)
        for name in ("from", "to"):
            if query.get(name):
                try:
                    parsed = date.fromisoformat(query[name])
                except ValueError:
                    errors[name] = _("Give a date as YYYY-MM-DD.")
                    continue
                if name == "from":
                    start = _monday(parsed)
                else:
                    end = _monday(parsed) + timedelta(days=7)
        if end <= start:
            errors["to"] = _("The end comes before the start.")
            end = start + timedelta(days=7)
        if (end - start).days > 2 * 366:
            errors["to"] = _("At most two years at a time.")
            end = start + timedelta(days=2 * 366)
        severities = [s for s in query.getlist("severity") if s in Severity.values]
        category = query.get("category", "") if query.get("category") in Category.values else ""
        return cls(start, end, severities, category, query.get("service", "")[:100]), errors

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    def weeks(self) -> list[date]:
        return [self.start + timedelta(weeks=n) for n in range((self.end - self.start).days // 7)]

    def incidents(self):
        rows = Incident.objects.filter(
            detected_at__gte=_jst(self.start), detected_at__lt=_jst(self.end)
        )
        if self.severities:
            rows = rows.filter(severity__in=self.severities)
        if self.category:
            rows = rows.filter(category=self.category)
        if self.service:
            rows = rows.filter(service=self.service)
        return rows


def _week_of(moment: datetime) -> date:
    return _monday(moment.astimezone(JST).date())


def _label(week: date) -> str:
    return week.strftime("%m-%d")


def _minutes(delta: timedelta | None) -> float | None:
    return round(delta.total_seconds() / 60, 1) if delta is not None else None


def _stats(values: list[float]) -> tuple[float | None, float | None]:
    return percentile(values, 50), percentile(values, 90)


def weekly_counts(filters: Filters) -> Chart:
    weeks = filters.weeks()
    index = {week: n for n, week in enumerate(weeks)}
    series = {s: [0] * len(weeks) for s in Severity.values}
    rows = (
        filters.incidents()
        .annotate(week=TruncWeek("detected_at", tzinfo=JST))
        .values_list("week", "severity")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for week, severity, n in rows:
        if (position := index.get(_week_of(week))) is not None:
            series[severity][position] += n
    return Chart("weekly", _("Incidents per week by severity"), [_label(w) for w in weeks], series)


class PercentileDisc(Aggregate):
    """PostgreSQL's nearest-rank percentile, the rule of `reports.percentile`."""

    function = "PERCENTILE_DISC"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def percentiles(rows, group: str, value) -> dict[Any, tuple[Any, Any]]:
    """{group: (median, p90)} of `value` over `rows`, nulls left out. PostgreSQL works it out
    (weeks of incidents are tens of thousands of rows); the embedded SQLite sends the values."""
    if connection.vendor == "postgresql":
        found = (
            rows.values(group)
            .annotate(p50=PercentileDisc(value, 0.5), p90=PercentileDisc(value, 0.9))
            .order_by()
        )
        return {row[group]: (row["p50"], row["p90"]) for row in found if row["p50"] is not None}
    grouped: dict[Any, list] = defaultdict(list)
    for key, found in rows.annotate(_value=value).values_list(group, "_value"):
        if found is not None:
            grouped[key].append(found)
    return {key: _stats(values) for key, values in grouped.items()}


def _since_detected(field_name: str) -> ExpressionWrapper:
    return ExpressionWrapper(F(field_name) - F("detected_at"), output_field=DurationField())


def response_times(filters: Filters) -> tuple[Chart, Chart]:
    """MTTA and MTTR (minutes, median and p90) per week, and per severity."""
    weeks = filters.weeks()
    by_week = filters.incidents().annotate(week=TruncWeek("detected_at", tzinfo=JST))
    figures = {
        (name, grouping): {
            (_week_of(key) if grouping == "week" else key): tuple(map(_minutes, pair))
            for key, pair in percentiles(
                by_week if grouping == "week" else filters.incidents(),
                grouping,
                _since_detected(moment),
            ).items()
        }
        for name, moment in (("tta", "acknowledged_at"), ("ttr", "resolved_at"))
        for grouping in ("week", "severity")
    }
    labels = {
        ("tta", 0): _("MTTA median"),
        ("tta", 1): _("MTTA p90"),
        ("ttr", 0): _("MTTR median"),
        ("ttr", 1): _("MTTR p90"),
    }

    def series(grouping: str, keys: list) -> dict[str, list]:
        return {
            label: [figures[(name, grouping)].get(key, (None, None))[which] for key in keys]
            for (name, which), label in labels.items()
        }

    weekly = Chart(
        "times",
        _("Time to acknowledge and to resolve per week, minutes"),
        [_label(w) for w in weeks],
        series("week", weeks),
        kind="lines",
    )
    severities = Chart(
        "times_by_severity",
        _("Time to acknowledge and to resolve per severity, minutes"),
        list(Severity.values),
        series("severity", list(Severity.values)),
        kind="grouped",
    )
    return weekly, severities


def levels_reached(filters: Filters) -> Chart:
    counts = dict(
        filters.incidents().values_list("escalation_level").annotate(n=Count("pk")).order_by()
    )
    levels = range(0, max([4, *counts]) + 1)
    return Chart(
        "levels",
        _("Highest escalation level reached"),
        [f"L{n}" for n in levels],
        {_("incidents"): [counts.get(n, 0) for n in levels]},
    )


def noisiest_sources(filters: Filters, limit: int = 10) -> Chart:
    duration = ExpressionWrapper(
        F("incident__resolved_at") - F("incident__detected_at"), output_field=DurationField()
    )
    rows = (
        Alert.objects.filter(incident__in=filters.incidents())
        .annotate(
            source_name=Coalesce(
                KT("labels__alertname"), F("integration__name"), output_field=CharField()
            )
        )
        .values("integration__name", "source_name")
        .annotate(
            incidents=Count("incident", distinct=True),
            received=Sum("times_received"),
            alerts=Count("pk"),
            resolve=Avg(duration),
        )
        .order_by("-incidents", "-received")[:limit]
    )
    rows = list(rows)
    return Chart(
        "sources",
        _("Noisiest alert sources"),
        [f"{r['integration__name']}: {r['source_name']}" for r in rows],
        {
            _("incidents opened"): [r["incidents"] for r in rows],
            _("repeats"): [(r["received"] or 0) - r["alerts"] for r in rows],
            _("time to resolve, minutes"): [_minutes(r["resolve"]) for r in rows],
        },
        kind="grouped",
    )


def checklists_on_time(filters: Filters) -> Chart:
    now = timezone.now()
    rows = {
        row["kind"]: row
        for row in ChecklistRun.objects.filter(
            kind__in=RECURRING_KINDS, due_at__gte=_jst(filters.start), due_at__lt=_jst(filters.end)
        )
        .values("kind")
        .annotate(
            on_time=Count("pk", filter=Q(completed_at__lte=F("due_at"))),
            late=Count("pk", filter=Q(completed_at__gt=F("due_at"))),
            missed=Count("pk", filter=Q(completed_at__isnull=True, due_at__lte=now)),
        )
        .order_by()
    }
    kinds = [Kind(k) for k in RECURRING_KINDS]
    return Chart(
        "checklists",
        _("Maintenance checklists completed on time"),
        [str(k.label) for k in kinds],
        {
            _("on time"): [rows.get(k, {}).get("on_time", 0) for k in kinds],
            _("late"): [rows.get(k, {}).get("late", 0) for k in kinds],
            _("not done"): [rows.get(k, {}).get("missed", 0) for k in kinds],
        },
    )


def delivery_latency(filters: Filters) -> Chart:
    """From an escalation's deadline to each of its notices sent, seconds, per week."""
    weeks = filters.weeks()
    sent = Notice.objects.filter(
        escalation__incident__in=filters.incidents(), status=Notice.Status.SENT
    ).annotate(week=TruncWeek("escalation__fired_at", tzinfo=JST))
    latency = ExpressionWrapper(
        F("sent_at") - F("escalation__deadline"), output_field=DurationField()
    )
    # A notice sent before its deadline (a manual escalation) counts as on time: 0 s.
    found = {
        _week_of(week): tuple(max(0.0, d.total_seconds()) for d in pair)
        for week, pair in percentiles(sent, "week", latency).items()
    }
    return Chart(
        "delivery",
        _("Notice delivery after the escalation deadline, seconds"),
        [_label(w) for w in weeks],
        {
            _("median"): [found.get(w, (None, None))[0] for w in weeks],
            _("p90"): [found.get(w, (None, None))[1] for w in weeks],
        },
        kind="lines",
    )


def charts(filters: Filters) -> list[Chart]:
    times, by_severity = response_times(filters)
    return [
        weekly_counts(filters),
        times,
        by_severity,
        levels_reached(filters),
        noisiest_sources(filters),
        checklists_on_time(filters),
        delivery_latency(filters),
    ]


def chart_csv(chart: Chart) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["", *chart.series])
    for row in chart.rows():
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()
