"""Read-only queries several callers share. The incident's API, admin page, chat status and
postmortem read "what changed?" here, so this module (like `changes.models`) never imports
`incidents` at run time: incidents may import it without a cycle."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Prefetch, QuerySet

from checklists.models import RunItem

from .models import Change

if TYPE_CHECKING:
    from incidents.models import Incident

# 一次切り分け's first question, "what changed?": the service's changes this long before detection.
LOOKBACK = timedelta(hours=24)


def changes_all() -> QuerySet[Change]:
    return Change.objects.select_related("recorded_by", "reverts", "checklist_run")


def change_by_key(key: str) -> Change | None:
    pk = Change.pk_from_key(key)
    return None if pk is None else changes_all().filter(pk=pk).first()


def change_with_run(change: Change) -> Change:
    """The change with its run's items (and who ticked them) and its incidents, for a record."""
    items = RunItem.objects.select_related("by").order_by("position", "pk")
    return (
        changes_all()
        .select_related("checklist_run__template")
        .prefetch_related(
            Prefetch("checklist_run__items", queryset=items),
            "caused_incidents",
            "fixed_incidents",
            "reverted_by",
        )
        .get(pk=change.pk)
    )


def changes_before(incident: Incident) -> list[Change]:
    """Changes to the incident's service started in the 24 hours up to its detection, newest
    first; none when the incident names no service."""
    if not incident.service:
        return []
    detected = incident.detected_at
    return list(
        changes_all()
        .filter(
            service__iexact=incident.service,
            started_at__gte=detected - LOOKBACK,
            started_at__lte=detected,
        )
        .order_by("-started_at", "-pk")
    )


def change_summary(change: Change) -> dict[str, Any]:
    """A change as the incident's pages show it: plain values, every word worked out."""
    return {
        "key": change.key,
        "kind": change.kind,
        "kind_label": str(change.get_kind_display()),
        "title": change.title,
        "service": change.service,
        "version": change.version,
        "who": change.who,
        "started_at": change.started_at,
        "finished_at": change.finished_at,
        "result": change.result,
        "result_label": str(change.get_result_display()) if change.result else "",
        "admin_url": change.get_admin_url(),
    }


def incident_changes(incident: Incident) -> dict[str, list[dict[str, Any]]]:
    """What the incident's API, admin page, chat status and postmortem show of changes: the
    service's recent changes, and the changes linked as its cause or its fix."""
    if incident.pk is None:
        return {"recent": [], "caused_by": [], "fixed_by": []}
    caused = changes_all().filter(caused_incidents=incident).order_by("started_at", "pk")
    fixed = changes_all().filter(fixed_incidents=incident).order_by("started_at", "pk")
    return {
        "recent": [change_summary(c) for c in changes_before(incident)],
        "caused_by": [change_summary(c) for c in caused],
        "fixed_by": [change_summary(c) for c in fixed],
    }
