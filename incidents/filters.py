import django_filters
from django.db.models import Q
from django.db.models.functions import Upper

from alerts.selectors import incident_ids_with_label
from config.api import UTCDateTimeFilter

from .models import ACTIVE_STATES, Category, Incident, Severity, State


class IncidentFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=State.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    category = django_filters.ChoiceFilter(choices=Category.choices)
    active = django_filters.BooleanFilter(method="filter_active")
    q = django_filters.CharFilter(method="filter_q", max_length=200)
    detected_after = UTCDateTimeFilter(field_name="detected_at", lookup_expr="gte")
    detected_before = UTCDateTimeFilter(field_name="detected_at", lookup_expr="lt")

    class Meta:
        model = Incident
        fields = ["state", "severity", "category"]

    def filter_active(self, queryset, name, value):
        if value is None:
            return queryset
        return (
            queryset.filter(state__in=ACTIVE_STATES)
            if value
            else queryset.exclude(state__in=ACTIVE_STATES)
        )

    def filter_q(self, queryset, name, value):
        """A key (`INC-42`) finds that incident; words, the incidents whose title or summary
        has them, or whose alerts have them in a label value (`HighCPU`, `web-3:9100`)."""
        term = value.strip().upper()
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
