"""What the postmortem and the monthly report show of checklists."""

from datetime import datetime
from typing import Any

from django.db.models import Count, F, Q
from django.utils.translation import gettext as _

from .models import RECURRING_KINDS, ChecklistRun, RunItem


def postmortem_checklists(incident) -> dict[str, Any]:
    """Checklist state of an incident: each item done, skipped (with reason) or missing."""
    runs = (
        ChecklistRun.objects.filter(incident=incident)
        .prefetch_related("items")
        .order_by("created_at", "pk")
    )
    rows = []
    for run in runs:
        items = []
        for item in run.items.all():
            state = "missing" if item.status == RunItem.Status.OPEN else item.status
            items.append(
                {
                    "text": item.text,
                    "state": state,
                    "state_label": _("Missing")
                    if state == "missing"
                    else item.get_status_display(),
                    "reason": item.skip_reason,
                }
            )
        rows.append({"name": run.name, "items": items})
    return {"checklists": rows or None}


def monthly_completion(start: datetime, end: datetime) -> dict[str, Any]:
    """Maintenance runs due in [start, end): how many, and how many done by their due time."""
    rows = (
        ChecklistRun.objects.filter(kind__in=RECURRING_KINDS, due_at__gte=start, due_at__lt=end)
        .values("kind")
        .annotate(
            runs=Count("pk"),
            on_time=Count(
                "pk", filter=Q(completed_at__isnull=False, completed_at__lte=F("due_at"))
            ),
        )
        .order_by("kind")
    )
    table = [
        {
            "name": str(dict(ChecklistRun._meta.get_field("kind").choices)[row["kind"]]),
            "runs": row["runs"],
            "on_time": row["on_time"],
            "rate": f"{100 * row['on_time'] / row['runs']:.0f}%",
        }
        for row in rows
    ]
    return {"checklist_completion": table or None}
