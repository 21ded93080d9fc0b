from django.db.models import QuerySet

from .models import Incident, TimelineEvent


def incident_by_key(key: str) -> Incident | None:
    pk = Incident.pk_from_key(key)
    if pk is None:
        return None
    return (
        Incident.objects.select_related("commander", "created_by", "policy").filter(pk=pk).first()
    )


def incident_timeline(incident: Incident) -> QuerySet[TimelineEvent]:
    return incident.timeline.select_related("actor").order_by("at", "pk")
