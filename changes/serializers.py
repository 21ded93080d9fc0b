"""The API's view of changes. Reads `changes.models` only, so the incident's serializer may
show an incident's changes with `ChangeSummarySerializer` without an import cycle."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from config.api import StrictCharField, StrictInputSerializer

from .models import Change, Kind, Result
from .records import record_filename


class LinkSerializer(StrictInputSerializer):
    href = StrictCharField(max_length=2000)
    text = StrictCharField(required=False, allow_blank=True, max_length=500)


class ChangeSummarySerializer(serializers.Serializer):
    """A change as an incident shows it (`changes.selectors.change_summary`)."""

    key = serializers.CharField()
    kind = serializers.ChoiceField(Kind.choices)
    kind_label = serializers.CharField()
    title = serializers.CharField()
    service = serializers.CharField()
    version = serializers.CharField()
    who = serializers.CharField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    result = serializers.CharField(
        help_text=_("succeeded, failed, rolled_back; empty while running")
    )
    result_label = serializers.CharField()
    admin_url = serializers.CharField()


class IncidentChangesSerializer(serializers.Serializer):
    """一次切り分け's "what changed?": the service's changes in the 24 hours before detection,
    and the changes linked as the incident's cause and its fix."""

    recent = ChangeSummarySerializer(many=True)
    caused_by = ChangeSummarySerializer(many=True)
    fixed_by = ChangeSummarySerializer(many=True)


class ChangeSerializer(serializers.ModelSerializer):
    recorded_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    reverts = serializers.SerializerMethodField()
    reverted_by = serializers.SerializerMethodField()
    caused_incidents = serializers.SerializerMethodField()
    fixed_incidents = serializers.SerializerMethodField()
    checklist_run = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    record_file = serializers.SerializerMethodField()
    links = LinkSerializer(many=True, read_only=True)
    result = serializers.ChoiceField(
        Result.choices,
        allow_blank=True,
        read_only=True,
        help_text=_("succeeded, failed, rolled_back; empty while running"),
    )

    class Meta:
        model = Change
        fields = [
            "key",
            "kind",
            "title",
            "summary",
            "service",
            "version",
            "who",
            "recorded_by",
            "origin",
            "source",
            "details",
            "links",
            "started_at",
            "finished_at",
            "result",
            "reverts",
            "reverted_by",
            "caused_incidents",
            "fixed_incidents",
            "checklist_run",
            "record_file",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_reverts(self, change) -> str | None:
        return change.reverts.key if change.reverts_id else None

    def get_reverted_by(self, change) -> list[str]:
        return [other.key for other in change.reverted_by.order_by("pk")]

    def get_caused_incidents(self, change) -> list[str]:
        return [
            f"INC-{pk}"
            for pk in change.caused_incidents.order_by("pk").values_list("pk", flat=True)
        ]

    def get_fixed_incidents(self, change) -> list[str]:
        return [
            f"INC-{pk}" for pk in change.fixed_incidents.order_by("pk").values_list("pk", flat=True)
        ]

    def get_record_file(self, change) -> str:
        """The record's file name in CHANGE_DIR once the change has finished (written as the
        answer's transaction commits)."""
        return record_filename(change) if change.is_finished else ""


class IncidentKeysField(serializers.ListField):
    child = StrictCharField(max_length=30)


class ChangeCreateSerializer(StrictInputSerializer):
    kind = serializers.ChoiceField(Kind.choices)
    title = StrictCharField(max_length=1024)
    summary = StrictCharField(required=False, allow_blank=True, max_length=20000)
    service = StrictCharField(required=False, allow_blank=True, max_length=100)
    version = StrictCharField(required=False, allow_blank=True, max_length=200)
    who = StrictCharField(required=False, allow_blank=True, max_length=150)
    source = StrictCharField(required=False, allow_blank=True, max_length=255)
    details = serializers.DictField(required=False, child=serializers.JSONField())
    links = LinkSerializer(many=True, required=False)
    started_at = serializers.DateTimeField(required=False)
    reverts = StrictCharField(required=False, max_length=30, help_text=_("Rollbacks: CHG-<n>"))
    caused_incidents = IncidentKeysField(required=False, max_length=50)
    fixed_incidents = IncidentKeysField(required=False, max_length=50)
    maintenance_window = serializers.BooleanField(
        required=False,
        help_text=_("A release opens a maintenance window over its service; false: none."),
    )
    window_minutes = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=7 * 24 * 60,
        help_text=_("How long the release's window lasts (CHANGE_WINDOW_MINUTES by default)."),
    )
    # Reported when it is over: finished at once, with no checklist.
    result = serializers.ChoiceField(Result.choices, required=False)
    finished_at = serializers.DateTimeField(required=False)


class ChangeFinishSerializer(StrictInputSerializer):
    result = serializers.ChoiceField(Result.choices)
    finished_at = serializers.DateTimeField(required=False)


class ChangeIncidentsSerializer(StrictInputSerializer):
    relation = serializers.ChoiceField([("caused", _("caused")), ("fixed", _("fixed"))])
    add = IncidentKeysField(required=False, max_length=50)
    remove = IncidentKeysField(required=False, max_length=50)
