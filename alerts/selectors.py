"""Read-only queries on alerts shared by the admin, the API and the postmortem."""

from __future__ import annotations

from django.db.models import QuerySet

from incidents.models import Incident

from .models import Alert


def incident_alerts(incident: Incident) -> QuerySet[Alert]:
    """The alerts behind an incident, first received first, with their integrations."""
    return incident.alerts.select_related("integration").order_by("first_received_at", "pk")
