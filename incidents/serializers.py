from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from changes.selectors import incident_changes
from changes.serializers import IncidentChangesSerializer
from config.api import RejectUnknownFields, StrictCharField, StrictInputSerializer, UsernameField
from escalation.models import EscalationPolicy

from .models import Action, ActionItem, Category, Incident, Severity, TimelineEvent
from .services import incident_allowed_actions

User = get_user_model()


class IncidentSerializer(serializers.ModelSerializer):
    commander = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    allowed_actions = serializers.SerializerMethodField()
    severity_meaning = serializers.SerializerMethodField()
    admin_url = serializers.SerializerMethodField()
    policy = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)

    class Meta:
        model = Incident
        fields = [
            "key",
            "title",
            "summary",
            "impact",
            "service",
            "category",
            "severity",
            "severity_meaning",
            "state",
            "commander",
            "root_cause",
            "resolution",
            "dismiss_reason",
            "detected_at",
            "acknowledged_at",
            "resolved_at",
            "closed_at",
            "created_by",
            "created_at",
            "updated_at",
            "allowed_actions",
            "admin_url",
            "policy",
            "escalation_level",
            "next_escalation_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(Action.choices)))
    def get_allowed_actions(self, incident) -> list[str]:
        request = self.context.get("request")
        if request is None:
            return []
        return incident_allowed_actions(incident=incident, user=request.user)

    def get_severity_meaning(self, incident) -> str:
        return incident.severity_meaning

    def get_admin_url(self, incident) -> str:
        return incident.get_absolute_admin_url()


class IncidentDetailSerializer(IncidentSerializer):
    """One incident: with 一次切り分け's "what changed?" (the list shows none, to stay cheap)."""

    changes = serializers.SerializerMethodField()

    class Meta(IncidentSerializer.Meta):
        fields = [*IncidentSerializer.Meta.fields, "changes"]
        read_only_fields = fields

    @extend_schema_field(IncidentChangesSerializer)
    def get_changes(self, incident) -> dict:
        return IncidentChangesSerializer(incident_changes(incident)).data


class IncidentCreateSerializer(StrictInputSerializer):
    title = StrictCharField(max_length=200)
    severity = serializers.ChoiceField(Severity.choices)
    summary = StrictCharField(required=False, allow_blank=True, max_length=10000)
    impact = StrictCharField(required=False, allow_blank=True, max_length=10000)
    service = StrictCharField(required=False, allow_blank=True, max_length=100)
    category = serializers.ChoiceField(Category.choices, required=False)
    detected_at = serializers.DateTimeField(required=False)
    commander = UsernameField(required=False, allow_null=True)
    # An escalation policy by name, instead of the one chosen by severity and category.
    policy = serializers.SlugRelatedField(
        slug_field="name", queryset=EscalationPolicy.objects.all(), required=False
    )

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        if "policy" in values:
            values["policy_name"] = values.pop("policy").name
        return values


class IncidentUpdateSerializer(StrictInputSerializer):
    title = StrictCharField(required=False, max_length=200)
    severity = serializers.ChoiceField(Severity.choices, required=False)
    summary = StrictCharField(required=False, allow_blank=True, max_length=10000)
    impact = StrictCharField(required=False, allow_blank=True, max_length=10000)
    service = StrictCharField(required=False, allow_blank=True, max_length=100)
    category = serializers.ChoiceField(Category.choices, required=False)
    root_cause = StrictCharField(required=False, allow_blank=True, max_length=20000)
    resolution = StrictCharField(required=False, allow_blank=True, max_length=20000)
    detected_at = serializers.DateTimeField(required=False)
    commander = UsernameField(required=False, allow_null=True)


class TransitionSerializer(StrictInputSerializer):
    note = StrictCharField(required=False, allow_blank=True, max_length=5000)
    reason = StrictCharField(required=False, allow_blank=True, max_length=5000)


class NoteSerializer(StrictInputSerializer):
    message = StrictCharField(max_length=10000)


class TimelineEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = TimelineEvent
        fields = ["id", "kind", "actor", "at", "message", "data"]
        read_only_fields = fields


class ActionItemSerializer(RejectUnknownFields, serializers.ModelSerializer):
    owner = UsernameField(required=False, allow_null=True)

    class Meta:
        model = ActionItem
        fields = ["id", "title", "owner", "due_date", "status", "link", "created_at"]
        read_only_fields = ["id", "created_at"]


class PostmortemSerializer(serializers.Serializer):
    key = serializers.CharField(source="incident.key")
    summary = serializers.CharField(source="incident.summary")
    impact = serializers.CharField(source="incident.impact")
    root_cause = serializers.CharField(source="incident.root_cause")
    resolution = serializers.CharField(source="incident.resolution")
    impact_users = serializers.CharField()
    impact_duration = serializers.CharField()
    impact_data = serializers.CharField()
    contributing_factors = serializers.CharField()
    lessons_learned = serializers.CharField()
    report_path = serializers.CharField()
    report_generated_at = serializers.DateTimeField()
    action_items = ActionItemSerializer(source="incident.action_items", many=True)


class PostmortemUpdateSerializer(StrictInputSerializer):
    summary = StrictCharField(required=False, allow_blank=True, max_length=10000)
    impact = StrictCharField(required=False, allow_blank=True, max_length=10000)
    root_cause = StrictCharField(required=False, allow_blank=True, max_length=20000)
    resolution = StrictCharField(required=False, allow_blank=True, max_length=20000)
    impact_users = StrictCharField(required=False, allow_blank=True, max_length=5000)
    impact_duration = StrictCharField(required=False, allow_blank=True, max_length=5000)
    impact_data = StrictCharField(required=False, allow_blank=True, max_length=5000)
    contributing_factors = StrictCharField(required=False, allow_blank=True, max_length=20000)
    lessons_learned = StrictCharField(required=False, allow_blank=True, max_length=20000)
