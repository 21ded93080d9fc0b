"""Read-only queries on alerts shared by the admin, the API and the postmortem."""

from __future__ import annotations

from django.db.models import QuerySet

from incidents.models import Incident

from .models import Alert


def incident_alerts(incident: Incident) -> QuerySet[Alert]:
    """The alerts behind an incident, first received first, with their integrations."""
    return incident.alerts.select_related("integration").order_by("first_received_at", "pk")


def incident_ids_with_label(term: str) -> QuerySet:
    """The incidents whose alerts have `term` (upper case) in a label value, as `incident_id`s;
    read off the stored label values and their trigram index (migration 0004)."""
    return Alert.objects.filter(label_search__contains=term).order_by().values("incident_id")
