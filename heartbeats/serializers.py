from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from config.api import RejectUnknownFields, StrictCharField
from incidents.models import Severity

from .models import MAX_PERIOD, MIN_INTERVAL, PING_FIELDS, Heartbeat

YEAR_SECONDS = int(MAX_PERIOD.total_seconds())


class HeartbeatSerializer(RejectUnknownFields, serializers.ModelSerializer):
    """A scheduled job's check-in: its schedule and grace, its ping URL and its last ping."""

    # Seconds, as the policies' delays: a number every client writes the same way.
    interval_seconds = serializers.IntegerField(
        min_value=int(MIN_INTERVAL.total_seconds()),
        max_value=YEAR_SECONDS,
        allow_null=True,
        required=False,
    )
    grace_seconds = serializers.IntegerField(min_value=0, max_value=YEAR_SECONDS, required=False)
    cron = StrictCharField(max_length=100, allow_blank=True, required=False)
    severity = serializers.ChoiceField(Severity.choices, required=False)
    ping_url = serializers.CharField(read_only=True)
    # Read-only fields lose the model's blank=True: no ping yet is "".
    last_ping_kind = serializers.ChoiceField(
        Heartbeat.Kind.choices, allow_blank=True, read_only=True
    )
    current_status = serializers.SerializerMethodField()
    incident = serializers.SerializerMethodField()

    class Meta:
        model = Heartbeat
        fields = [
            "id",
            "name",
            "description",
            "schedule",
            "interval_seconds",
            "cron",
            "grace_seconds",
            "severity",
            "policy",
            "enabled",
            "checklist_item",
            "uuid",
            "ping_url",
            "status",
            "current_status",
            "deadline",
            "started_at",
            "last_ping_at",
            "last_ping_kind",
            "last_log",
            "last_log_truncated",
            "pings",
            "incident",
            "created_at",
        ]
        read_only_fields = ["id", "uuid", *PING_FIELDS, "created_at"]

    def get_current_status(self, heartbeat) -> str:
        """paused, down, started, late, new or up: the status as of this answer."""
        return heartbeat.get_status(timezone.now())

    def get_incident(self, heartbeat) -> str | None:
        """The key of its incident while that is active."""
        incident = heartbeat.incident
        return incident.key if incident is not None and incident.is_active else None

    def model_fields(self) -> dict:
        """The validated input as model fields (seconds become durations)."""
        fields = dict(self.validated_data)
        if "interval_seconds" in fields:
            seconds = fields.pop("interval_seconds")
            fields["interval"] = None if seconds is None else timedelta(seconds=seconds)
        if "grace_seconds" in fields:
            fields["grace"] = timedelta(seconds=fields.pop("grace_seconds"))
        return fields
