from collections import Counter

from django.conf import settings
from django.db import connections
from django.db.models import QuerySet

from alerts.selectors import incident_ids_with_label

from .models import Incident, State, TimelineEvent


def incident_by_key(key: str) -> Incident | None:
    pk = Incident.pk_from_key(key)
    if pk is None:
        return None
    return (
        Incident.objects.select_related("commander", "created_by", "policy").filter(pk=pk).first()
    )


def incident_timeline(incident: Incident) -> QuerySet[TimelineEvent]:
    return incident.timeline.select_related("actor").order_by("at", "pk")


def incident_latest_events(incident: Incident, *, count: int) -> list[TimelineEvent]:
    """The incident's latest `count` events, oldest of them first."""
    latest = incident.timeline.select_related("actor").order_by("-at", "-pk")[:count]
    return list(reversed(latest))


def incidents_matching(queryset: QuerySet[Incident], text: str) -> QuerySet[Incident]:
    """Search, the API's `q` and the admin's: a key (`INC-42`) is that incident; words, the
    incidents whose title or summary has them, or whose alerts have them in a label value
    (`HighCPU`, `web-3:9100`), in any case.

    The first `API_COUNT_LIMIT` matches in `queryset`'s order (filter and order it first), and
    one more to tell that there are more: a broad word matches a third of a long
    history, and finding every match to sort them costs more than the page. Each way of
    matching takes its first matches on its own, so that the database walks the ordering's
    index and stops early for a broad word and reads the trigram index for a rare one."""
    term = text.strip().upper()
    pk = Incident.pk_from_key(term)
    if pk is not None:
        return queryset.filter(pk=pk)
    if not term:
        return queryset
    first = settings.API_COUNT_LIMIT + 1
    by_words = queryset.filter(search_text__contains=term).values_list("pk", flat=True)[:first]
    by_label = queryset.filter(pk__in=incident_ids_with_label(term)).values_list("pk", flat=True)[
        :first
    ]
    # Found once, here: the page and its count read the few keys, not the search again.
    if connections[queryset.db].features.supports_slicing_ordering_in_compound:
        found = set(by_words.union(by_label))
    else:  # SQLite: no LIMIT inside a UNION
        found = {*by_words, *by_label}
    first_of_both = queryset.filter(pk__in=sorted(found)).values("pk")[:first]
    return queryset.filter(pk__in=first_of_both)


def incident_state_counts() -> dict[str, int]:
    """How many incidents are in each state, each counted up to `API_COUNT_LIMIT` + 1 (more:
    past the limit) off the state index, in one query: grouping every incident by state reads
    the whole history on each view of the admin's list."""
    first = settings.API_COUNT_LIMIT + 1
    branches = [
        Incident.objects.filter(state=value).order_by().values_list("state", flat=True)[:first]
        for value in State.values
    ]
    if connections[Incident.objects.db].features.supports_slicing_ordering_in_compound:
        return Counter(branches[0].union(*branches[1:], all=True))
    return Counter(state for branch in branches for state in branch)  # SQLite
