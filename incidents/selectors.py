from django.db.models import QuerySet

from .models import ACTIVE_STATES, Incident, TimelineEvent


def incidents_active() -> QuerySet[Incident]:
    return Incident.objects.filter(state__in=ACTIVE_STATES)


def incident_by_key(key: str) -> Incident | None:
    pk = Incident.pk_from_key(key)
    if pk is None:
        return None
    return Incident.objects.select_related("commander", "created_by").filter(pk=pk).first()


def incident_timeline(incident: Incident) -> QuerySet[TimelineEvent]:
    return incident.timeline.select_related("actor").order_by("at", "pk")
