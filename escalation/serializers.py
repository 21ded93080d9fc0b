from datetime import timedelta

from django.db import transaction
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from config.api import RejectUnknownFields, StrictInputSerializer
from incidents.models import Category, Severity

from .models import MAX_LEVEL, EscalationLevel, EscalationPolicy, StopOn, Team, check_levels


class TeamSerializer(RejectUnknownFields, serializers.ModelSerializer):
    members = serializers.SlugRelatedField(
        slug_field="username", many=True, required=False, read_only=True
    )

    class Meta:
        model = Team
        fields = ["id", "name", "name_ja", "name_en", "email", "language", "members"]


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

    def to_representation(self, level: EscalationLevel):
        return {
            "number": level.number,
            "name": level.name,
            "delay_seconds": int(level.delay.total_seconds()),
            "min_severity": level.min_severity or None,
            "teams": [team.name for team in level.teams.all()],
            "emails": level.emails,
            "emergency_contact": level.emergency_contact,
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

    @transaction.atomic
    def create(self, validated_data):
        levels = validated_data.pop("levels")
        policy = EscalationPolicy.objects.create(**validated_data)
        self._write_levels(policy, levels)
        return policy

    @transaction.atomic
    def update(self, instance, validated_data):
        levels = validated_data.pop("levels", None)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        instance.save()
        if levels is not None:
            instance.levels.all().delete()
            self._write_levels(instance, levels)
        return instance

    @staticmethod
    def _write_levels(policy, levels):
        for spec in levels:
            level = EscalationLevel.objects.create(
                policy=policy,
                number=spec["number"],
                name=spec["name"],
                delay=timedelta(seconds=spec["delay_seconds"]),
                min_severity=spec.get("min_severity") or "",
                emails=spec.get("emails", []),
                emergency_contact=spec.get("emergency_contact", False),
            )
            level.teams.set(spec.get("teams", []))


class SimulateQuerySerializer(StrictInputSerializer):
    severity = serializers.ChoiceField(Severity.choices)
    category = serializers.ChoiceField(Category.choices, required=False, default=Category.SYSTEM)


class PlannedLevelSerializer(serializers.Serializer):
    level = serializers.IntegerField()
    name = serializers.CharField()
    offset_seconds = serializers.IntegerField()
    at = serializers.DateTimeField()
    teams = serializers.ListField(child=serializers.CharField())
    recipients = serializers.ListField(child=serializers.EmailField())
    delivery = serializers.CharField()
    emergency_contact = serializers.BooleanField()
    policy_applies = serializers.BooleanField()


class EscalateSerializer(StrictInputSerializer):
    reason = serializers.CharField(max_length=5000)
