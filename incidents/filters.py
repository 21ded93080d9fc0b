import django_filters

from config.api import UTCDateTimeFilter

from .models import ACTIVE_STATES, Category, Incident, Severity, State
from .selectors import incidents_matching


class IncidentFilter(django_filters.FilterSet):
    # No DISTINCT: these read the incident's own columns, and a DISTINCT over every column
    # sorts all the matches before the first page.
    state = django_filters.MultipleChoiceFilter(choices=State.choices, distinct=False)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices, distinct=False)
    category = django_filters.ChoiceFilter(choices=Category.choices)
    active = django_filters.BooleanFilter(method="filter_active")
    q = django_filters.CharFilter(method="filter_q", max_length=200)
    detected_after = UTCDateTimeFilter(field_name="detected_at", lookup_expr="gte")
    detected_before = UTCDateTimeFilter(field_name="detected_at", lookup_expr="lt")

    class Meta:
        model = Incident
        fields = ["state", "severity", "category"]

    def filter_queryset(self, queryset):
        """Search last: it takes its first matches of the list as filtered and ordered so far."""
        values = dict(self.form.cleaned_data)
        text = values.pop("q", "")
        for name, value in values.items():
            queryset = self.filters[name].filter(queryset, value)
        return self.filters["q"].filter(queryset, text)

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
