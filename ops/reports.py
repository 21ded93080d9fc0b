"""月次タスク: 運用レポート作成 — the monthly operations report in docs/reports/.

Figures are computed per JST calendar month; the report is a committed file, so it is
deterministic (no "generated at", sorted everything, charts without timestamps).
"""

from __future__ import annotations

import io
import math
import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.template.loader import render_to_string
from django.utils import translation

from checklists.reports import monthly_completion
from config.base import JST
from config.documents import tidy_markdown, write_atomically
from escalation.selectors import monthly_escalations
from incidents.models import ActionItem, Category, Incident, Severity


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        year, month = (int(part) for part in text.split("-"))
        if not 1 <= month <= 12:
            raise ValueError(f"no such month: {text}")
        return cls(year, month)

    @classmethod
    def previous_of(cls, moment: datetime) -> Month:
        local = moment.astimezone(JST)
        return cls(local.year, local.month).previous

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=JST)

    @property
    def end(self) -> datetime:
        return self.next.start

    @property
    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @property
    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile: an observed value, the same on every run."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _minutes(deltas: list[timedelta]) -> list[float]:
    return [d.total_seconds() / 60 for d in deltas]


def response_times(month: Month) -> dict[str, dict[str, float | int | None]]:
    """MTTA and MTTR (minutes, median and p90) per severity for incidents detected in `month`."""
    rows = Incident.objects.filter(detected_at__gte=month.start, detected_at__lt=month.end)
    figures = {}
    for severity in Severity.values:
        incidents = [i for i in rows if i.severity == severity]
        tta = _minutes([i.time_to_acknowledge for i in incidents if i.acknowledged_at])
        ttr = _minutes([i.time_to_resolve for i in incidents if i.resolved_at])
        figures[severity] = {
            "count": len(incidents),
            "mtta_median": statistics.median(tta) if tta else None,
            "mtta_p90": percentile(tta, 90),
            "mttr_median": statistics.median(ttr) if ttr else None,
            "mttr_p90": percentile(ttr, 90),
        }
    return figures


def incident_counts(month: Month) -> dict[str, dict[str, int]]:
    counts = (
        Incident.objects.filter(detected_at__gte=month.start, detected_at__lt=month.end)
        .values_list("severity", "category")
        .annotate(n=Count("pk"))
        .order_by()
    )
    table = {s: {c: 0 for c in Category.values} for s in Severity.values}
    for severity, category, n in counts:
        table[severity][category] = n
    return table


def weekly_counts(month: Month) -> tuple[list[date], dict[str, list[int]]]:
    """Incidents per ISO week (Monday, JST) overlapping the month, by severity."""
    first_monday = (month.start - timedelta(days=month.start.weekday())).date()
    weeks = []
    day = first_monday
    while datetime(day.year, day.month, day.day, tzinfo=JST) < month.end:
        weeks.append(day)
        day += timedelta(days=7)
    series = {s: [0] * len(weeks) for s in Severity.values}
    for detected, severity in Incident.objects.filter(
        detected_at__gte=month.start, detected_at__lt=month.end
    ).values_list("detected_at", "severity"):
        index = (detected.astimezone(JST).date() - first_monday).days // 7
        series[severity][index] += 1
    return weeks, series


def _charts(month: Month, directory: Path, mttr: dict) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Fixed ids and no date: the same figures give the same SVG bytes.
    plt.rcParams["svg.hashsalt"] = f"hikeshi-{month}"
    plt.rcParams["svg.fonttype"] = "none"
    names = {"weekly": f"{month}-incidents-per-week.svg", "mttr": f"{month}-mttr.svg"}
    weeks, series = weekly_counts(month)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    positions = list(range(len(weeks)))
    bottom = [0] * len(weeks)
    for severity in Severity.values:
        ax.bar(positions, series[severity], bottom=bottom, label=severity)
        bottom = [b + v for b, v in zip(bottom, series[severity], strict=True)]
    ax.set_xticks(positions, [w.strftime("%m-%d") for w in weeks])
    ax.set_title(f"Incidents per week by severity ({month})")
    ax.set_xlabel("week of (Monday, JST)")
    ax.legend()
    _save(fig, directory / names["weekly"])
    fig, ax = plt.subplots(figsize=(7, 3.5))
    labels = list(Severity.values)
    positions = list(range(len(labels)))
    ax.bar(positions, [mttr[s]["mttr_median"] or 0 for s in labels], label="median")
    ax.plot(positions, [mttr[s]["mttr_p90"] or 0 for s in labels], "o", color="black", label="p90")
    ax.set_xticks(positions, labels)
    ax.set_title(f"Time to resolve per severity, minutes ({month})")
    ax.legend()
    _save(fig, directory / names["mttr"])
    plt.close("all")
    return names


def _save(fig, path: Path) -> None:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    write_atomically(path, buffer.getvalue())


def report_context(month: Month) -> dict[str, Any]:
    current, previous = response_times(month), response_times(month.previous)
    return {
        "month": str(month),
        "previous_month": str(month.previous),
        "counts": incident_counts(month),
        "categories": Category.choices,
        "total": Incident.objects.filter(
            detected_at__gte=month.start, detected_at__lt=month.end
        ).count(),
        "times": [(s, current[s], previous[s]) for s in Severity.values],
        "open_action_items": list(
            ActionItem.objects.filter(status=ActionItem.Status.OPEN)
            .select_related("owner", "incident")
            .order_by("due_date", "pk")
        ),
        **monthly_escalations(month.start, month.end),
        **monthly_completion(month.start, month.end),
    }


def ops_report_write(*, month: Month, language: str | None = None) -> Path:
    directory = Path(settings.OPS_REPORT_DIR)  # made by the first file written into it
    context = report_context(month)
    context["charts"] = _charts(month, directory, dict((s, c) for s, c, _p in context["times"]))
    with translation.override(language or settings.POSTMORTEM_LANGUAGE):
        text = render_to_string("ops/monthly_report.md", context)
    return write_atomically(directory / f"{month}.md", tidy_markdown(text))
