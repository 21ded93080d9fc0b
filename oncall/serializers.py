from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from config.api import StrictCharField, StrictInputSerializer, UsernameField

from .models import Layer, Override, Schedule


class LayerSerializer(serializers.ModelSerializer):
    members = serializers.SerializerMethodField(help_text=_("Usernames, in rotation order."))

    class Meta:
        model = Layer
        fields = [
            "id",
            "name",
            "priority",
            "shift_length",
            "shift_unit",
            "start_date",
            "handoff_time",
            "restrict_weekdays",
            "restrict_from",
            "restrict_until",
            "members",
        ]
        read_only_fields = fields

    def get_members(self, layer) -> list[str]:
        members = sorted(layer.members.all(), key=lambda m: (m.position, m.pk))
        return [member.user.get_username() for member in members]


class ScheduleSerializer(serializers.ModelSerializer):
    layers = LayerSerializer(many=True, read_only=True)

    class Meta:
        model = Schedule
        fields = ["id", "name", "description", "time_zone", "layers", "updated_at"]
        read_only_fields = fields


class OnCallQuerySerializer(StrictInputSerializer):
    at = serializers.DateTimeField(required=False, help_text=_("Default: now."))


class OnCallSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    user = serializers.CharField(allow_null=True, help_text=_("Null: nobody is on call (a gap)."))
    name = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    source = serializers.ChoiceField(["layer", "override", "gap"])
    layer = serializers.CharField(allow_blank=True)
    override = serializers.IntegerField(allow_null=True)


class ShiftsQuerySerializer(StrictInputSerializer):
    # "from" is a Python keyword: the field is named in `fields` below.
    to = serializers.DateTimeField()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField()
        return fields


class ShiftSerializer(serializers.Serializer):
    user = serializers.CharField(allow_null=True, help_text=_("Null: nobody is on call (a gap)."))
    name = serializers.CharField(allow_null=True)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    source = serializers.ChoiceField(["layer", "override", "gap"])
    layer = serializers.CharField(allow_blank=True)
    override = serializers.IntegerField(allow_null=True)


class OverrideSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Override
        fields = [
            "id",
            "user",
            "starts_at",
            "ends_at",
            "reason",
            "swap",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class OverrideCreateSerializer(StrictInputSerializer):
    user = UsernameField(help_text=_("Who takes the period."))
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    reason = StrictCharField(required=False, allow_blank=True, max_length=200)
