"""Alerts in the admin: shown on their incident's page, as the monitoring systems sent them."""

from config.admin import ReadOnlyInline

from .models import Alert


class AlertInline(ReadOnlyInline):
    """Detection: the alerts behind the incident, as the monitoring systems sent them."""

    model = Alert
    fields = [
        "integration",
        "status",
        "summary",
        "source",
        "labels",
        "first_received_at",
        "last_received_at",
        "times_received",
    ]

    def get_queryset(self, request):
        # Each row names its integration: read with the alerts, not once a row (a grouped
        # incident holds hundreds).
        return super().get_queryset(request).select_related("integration")
