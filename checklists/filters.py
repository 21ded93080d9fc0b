import django_filters
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import ChecklistRun, Kind, period_bounds


class ChecklistRunFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=Kind.choices)
    due = django_filters.ChoiceFilter(
        choices=[("today", _("Due by the end of today (JST)"))], method="filter_due"
    )
    overdue = django_filters.BooleanFilter(method="filter_overdue")
    completed = django_filters.BooleanFilter(
        field_name="completed_at", lookup_expr="isnull", exclude=True
    )

    class Meta:
        model = ChecklistRun
        fields = ["kind"]

    def filter_due(self, queryset, name, value):
        start, end = period_bounds("daily", timezone.now())
        # Due "today" includes the daily run due at tomorrow's midnight.
        return queryset.filter(due_at__gt=start, due_at__lte=end)

    def filter_overdue(self, queryset, name, value):
        if value is None:
            return queryset
        overdue = ChecklistRun.overdue_q(timezone.now())
        return queryset.filter(overdue) if value else queryset.exclude(overdue)
