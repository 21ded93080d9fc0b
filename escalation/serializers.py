from datetime import UTC, datetime, timedelta

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from config.api import RejectUnknownFields, StrictInputSerializer
from incidents.models import Category, Severity
from oncall.models import Schedule

from .models import MAX_LEVEL, EscalationLevel, EscalationPolicy, StopOn, Team, check_levels
from .services.policies import LevelSpec


class TeamSerializer(RejectUnknownFields, serializers.ModelSerializer):
    members = serializers.SlugRelatedField(
        slug_field="username", many=True, required=False, read_only=True
    )
    chat_configured = serializers.BooleanField(source="has_chat", read_only=True)

    class Meta:
        model = Team
        fields = [
            "id",
            "name",
            "name_ja",
            "name_en",
            "email",
            "language",
            "chat_kind",
            "chat_webhook_url",
            "chat_configured",
            "members",
        ]
        # The webhook is a secret: set it, never read it back.
        extra_kwargs = {"chat_webhook_url": {"write_only": True}}


class LevelSerializer(StrictInputSerializer):
    number = serializers.IntegerField(min_value=1, max_value=MAX_LEVEL)
    name = serializers.CharField(max_length=100)
    # A few seconds are allowed, so that a policy can be tried live.
    delay_seconds = serializers.IntegerField(min_value=0, max_value=7 * 24 * 3600)
    min_severity = serializers.ChoiceField(Severity.choices, allow_null=True, required=False)
    teams = serializers.SlugRelatedField(
        slug_field="name", queryset=Team.objects.all(), many=True, required=False
    )
    emails = serializers.ListField(child=serializers.EmailField(), required=False)
    emergency_contact = serializers.BooleanField(required=False, default=False)
    schedules = serializers.SlugRelatedField(
        slug_field="name",
        queryset=Schedule.objects.all(),
        many=True,
        required=False,
        help_text=_("Whoever is on call on these schedules is notified too."),
    )

    def to_internal_value(self, data):
        # DRF hands a PATCH's `partial` down to nested serializers, which would make every
        # field of a level optional; but the levels sent replace the policy's: each is whole.
        if self.root.partial and isinstance(data, dict):
            missing = {
                name: [field.error_messages["required"]]
                for name, field in self.fields.items()
                if field.required and name not in data
            }
            if missing:
                raise serializers.ValidationError(missing)
        return super().to_internal_value(data)

    def to_representation(self, level: EscalationLevel):
        return {
            "number": level.number,
            "name": level.name,
            "delay_seconds": int(level.delay.total_seconds()),
            "min_severity": level.min_severity or None,
            "teams": [team.name for team in level.teams.all()],
            "emails": level.emails,
            "emergency_contact": level.emergency_contact,
            "schedules": [schedule.name for schedule in level.schedules.all()],
        }


class PolicySerializer(RejectUnknownFields, serializers.ModelSerializer):
    stop_on = serializers.ChoiceField(StopOn.choices, required=False)
    severities = serializers.ListField(
        child=serializers.ChoiceField(Severity.choices), required=False
    )
    categories = serializers.ListField(
        child=serializers.ChoiceField(Category.choices), required=False
    )
    levels = LevelSerializer(many=True)
    unreached_levels = serializers.ListField(
        child=serializers.IntegerField(),
        read_only=True,
        help_text=_("Levels that would notify nobody now: give their teams an address or members."),
    )

    class Meta:
        model = EscalationPolicy
        fields = [
            "id",
            "name",
            "description",
            "is_default",
            "stop_on",
            "severities",
            "categories",
            "levels",
            "unreached_levels",
            "updated_at",
        ]
        read_only_fields = ["id", "updated_at"]

    def validate_levels(self, levels):
        if not levels:
            raise serializers.ValidationError(_("A policy needs at least one level."))
        problems = check_levels(
            [(lv["number"], timedelta(seconds=lv["delay_seconds"])) for lv in levels]
        )
        if problems:
            raise serializers.ValidationError(problems)
        return sorted(levels, key=lambda lv: lv["number"])

    def validate_is_default(self, value):
        others = EscalationPolicy.objects.filter(is_default=True)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if value and others.exists():
            raise serializers.ValidationError(
                _("Another policy is the default: %(name)s") % {"name": others.first().name}
            )
        return value

    def level_specs(self) -> list[LevelSpec] | None:
        """The validated levels as the service takes them (None: not sent)."""
        levels = self.validated_data.get("levels")
        if levels is None:
            return None
        return [
            LevelSpec(
                number=level["number"],
                name=level["name"],
                delay=timedelta(seconds=level["delay_seconds"]),
                min_severity=level.get("min_severity") or "",
                emergency_contact=level.get("emergency_contact", False),
                teams=level.get("teams", []),
                emails=level.get("emails", []),
                schedules=level.get("schedules", []),
            )
            for level in levels
        ]

    def policy_fields(self) -> dict:
        return {k: v for k, v in self.validated_data.items() if k != "levels"}


class SimulateQuerySerializer(StrictInputSerializer):
    severity = serializers.ChoiceField(Severity.choices)
    category = serializers.ChoiceField(Category.choices, required=False, default=Category.SYSTEM)
    at = serializers.DateTimeField(
        required=False, help_text=_("The moment of detection (default: now), for who is on call.")
    )

    # Tokyo's clock before 1888 is local mean time (+09:18:59), which no client reads back as
    # a date-time; a plan near the year 9999 runs off the calendar.
    SIMULATED = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))

    def validate_at(self, value: datetime) -> datetime:
        if not self.SIMULATED[0] <= value < self.SIMULATED[1]:
            raise serializers.ValidationError(_("Give a moment from 2000 to 2099."))
        return value


class PlannedOnCallSerializer(serializers.Serializer):
    schedule = serializers.CharField()
    user = serializers.CharField(allow_null=True, help_text=_("Null: nobody is on call."))
    name = serializers.CharField(allow_null=True)


class PlannedLevelSerializer(serializers.Serializer):
    level = serializers.IntegerField()
    name = serializers.CharField()
    offset_seconds = serializers.IntegerField()
    at = serializers.DateTimeField()
    teams = serializers.ListField(child=serializers.CharField())
    recipients = serializers.ListField(child=serializers.EmailField())
    oncall = PlannedOnCallSerializer(many=True)
    delivery = serializers.CharField()
    emergency_contact = serializers.BooleanField()
    policy_applies = serializers.BooleanField()


class EscalateSerializer(StrictInputSerializer):
    reason = serializers.CharField(max_length=5000)
