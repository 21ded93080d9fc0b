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
