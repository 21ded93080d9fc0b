import django_filters

from config.api import UTCDateTimeFilter

from .models import Change, Kind, Result


class ChangeFilter(django_filters.FilterSet):
    """`?service=payments&kind=release&since=2026-11-01T00:00:00Z&finished=false`"""

    service = django_filters.CharFilter(field_name="service", lookup_expr="iexact")
    kind = django_filters.ChoiceFilter(choices=Kind.choices)
    result = django_filters.ChoiceFilter(choices=Result.choices)
    since = UTCDateTimeFilter(field_name="started_at", lookup_expr="gte")
    until = UTCDateTimeFilter(field_name="started_at", lookup_expr="lte")
    finished = django_filters.BooleanFilter(
        field_name="finished_at", lookup_expr="isnull", exclude=True
    )

    class Meta:
        model = Change
        fields = ["service", "kind", "result", "since", "until", "finished"]
