"""Read-only queries on alerts shared by the admin, the API and the postmortem."""

from __future__ import annotations

from django.db.models import QuerySet
from django.db.models.functions import Upper

from incidents.models import Incident

from .models import Alert, LabelValues


def incident_alerts(incident: Incident) -> QuerySet[Alert]:
    """The alerts behind an incident, first received first, with their integrations."""
    return incident.alerts.select_related("integration").order_by("first_received_at", "pk")


def incident_ids_with_label(term: str) -> QuerySet:
    """The incidents whose alerts have `term` (upper case) in a label value, as `incident_id`s;
    served by the trigram index on the label values (migration 0002)."""
    return (
        Alert.objects.annotate(label_search=Upper(LabelValues("labels")))
        .filter(label_search__contains=term)
        .order_by()
        .values("incident_id")
    )
