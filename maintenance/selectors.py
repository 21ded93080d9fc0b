"""Read-only queries on maintenance windows shared by alert intake, chat and the board."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Now

from incidents.models import Severity

from .models import HeldAlert, MaintenanceWindow


def windows_in_force() -> QuerySet[MaintenanceWindow]:
    """Windows in force now by the database's clock, earliest first. Alert intake reads them
    once per batch and matches each alert in memory (`window_holding`)."""
    return MaintenanceWindow.objects.filter(starts_at__lte=Now(), ends_at__gt=Now()).order_by(
        "starts_at", "pk"
    )


def window_holding(
    windows: list[MaintenanceWindow], *, service: str, labels: dict, severity: str
) -> MaintenanceWindow | None:
    """The first of `windows` that holds an alert of this service, labels and severity: a P0
    is held only by a window that says P0 does not page."""
    for window in windows:
        if severity == Severity.P0 and window.pages_p0:
            continue
        if window.covers(service=service, labels=labels):
            return window
    return None


def window_for_service(service: str) -> MaintenanceWindow | None:
    """The window in force over `service` (its own, or matchers naming only that service)."""
    if not service:
        return None
    for window in windows_in_force():
        if window.covers(service=service, labels={"service": service}):
            return window
    return None


def windows_listed(*, limit: int = 20) -> list[MaintenanceWindow]:
    """Windows in force or still to come, soonest first, each with `held` (its alerts not
    yet released): one query, for the board and chat."""
    return list(
        MaintenanceWindow.objects.filter(ends_at__gt=Now())
        .annotate(held=Count("held_alerts", filter=Q(held_alerts__released_at__isnull=True)))
        .select_related("opened_by")
        .order_by("starts_at", "pk")[:limit]
    )


def window_by_reference(reference: str) -> MaintenanceWindow | None:
    """The latest window opened for `reference` (a change record), to close it early."""
    if not reference:
        return None
    return MaintenanceWindow.objects.filter(reference=reference).order_by("-created_at").first()


def window_held_alerts(window: MaintenanceWindow) -> QuerySet[HeldAlert]:
    return window.held_alerts.select_related("integration", "incident").order_by(
        "first_received_at", "pk"
    )
