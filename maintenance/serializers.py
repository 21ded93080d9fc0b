from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from config.api import StrictCharField, StrictInputSerializer

from .models import HeldAlert, MaintenanceWindow


class MaintenanceWindowSerializer(serializers.ModelSerializer):
    opened_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    closed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    matchers = serializers.DictField(child=serializers.CharField(), read_only=True)
    held = serializers.SerializerMethodField(help_text=_("Alerts held and not yet released."))

    class Meta:
        model = MaintenanceWindow
        fields = [
            "id",
            "service",
            "matchers",
            "starts_at",
            "ends_at",
            "reason",
            "pages_p0",
            "reference",
            "opened_by",
            "closed_at",
            "closed_by",
            "created_at",
            "held",
        ]
        read_only_fields = fields

    def get_held(self, window) -> int:
        held = getattr(window, "held", None)
        if held is None:
            held = window.held_alerts.filter(released_at__isnull=True).count()
        return held


class WindowOpenSerializer(StrictInputSerializer):
    service = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text=_("The service under maintenance (the alerts' service label)."),
    )
    matchers = serializers.DictField(
        child=StrictCharField(max_length=200, allow_blank=True),
        required=False,
        help_text=_("Labels an alert must all carry to be held."),
    )
    starts_at = serializers.DateTimeField(required=False, help_text=_("Default: now."))
    ends_at = serializers.DateTimeField(help_text=_("Required: every window ends."))
    reason = StrictCharField(max_length=500)
    pages_p0 = serializers.BooleanField(
        required=False, default=True, help_text=_("A P0 alert still pages (default).")
    )
    reference = StrictCharField(required=False, allow_blank=True, max_length=200)


class HeldAlertSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="name", read_only=True)
    incident = serializers.SerializerMethodField()

    class Meta:
        model = HeldAlert
        fields = [
            "id",
            "integration",
            "key",
            "fingerprint",
            "status",
            "title",
            "severity",
            "service",
            "labels",
            "first_received_at",
            "last_received_at",
            "times_received",
            "released_at",
            "incident",
        ]
        read_only_fields = fields

    def get_incident(self, held) -> str | None:
        return f"INC-{held.incident_id}" if held.incident_id else None
