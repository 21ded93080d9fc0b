from django.db.models import Q, QuerySet
from django.db.models.functions import Upper

from alerts.selectors import incident_ids_with_label

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


def incidents_matching(queryset: QuerySet[Incident], text: str) -> QuerySet[Incident]:
    """Search, the API's `q` and the admin's: a key (`INC-42`) is that incident; words, the
    incidents whose title or summary has them, or whose alerts have them in a label value
    (`HighCPU`, `web-3:9100`), in any case."""
    term = text.strip().upper()
    pk = Incident.pk_from_key(term)
    if pk is not None:
        return queryset.filter(pk=pk)
    if not term:
        return queryset
    # The same expressions as the trigram indexes (migration 0009), so that they serve.
    words = (
        Incident.objects.annotate(title_search=Upper("title"), summary_search=Upper("summary"))
        .filter(Q(title_search__contains=term) | Q(summary_search__contains=term))
        .order_by()
        .values("pk")
    )
    return queryset.filter(pk__in=words.union(incident_ids_with_label(term)))
