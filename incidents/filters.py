import django_filters

from config.api import UTCDateTimeFilter

from .models import ACTIVE_STATES, Category, Incident, Severity, State
from .selectors import incidents_matching


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
        return incidents_matching(queryset, value)
