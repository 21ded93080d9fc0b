from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from config.api import RejectUnknownFields, StrictCharField, StrictInputSerializer
from incidents.models import Category, Severity

from . import selectors
from .models import (
    ChecklistRun,
    ChecklistTemplate,
    CommandLanguage,
    KnownProblem,
    RunItem,
    TemplateItem,
)
from .services import ITEM_FIELDS, TEMPLATE_FIELDS, template_items


class RunItemSerializer(serializers.ModelSerializer):
    text = serializers.CharField(read_only=True)
    by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    # Read-only fields lose the model's blank=True; most items have no command.
    command_language = serializers.ChoiceField(
        CommandLanguage.choices, allow_blank=True, read_only=True
    )
    live_status = serializers.SerializerMethodField()

    class Meta:
        model = RunItem
        fields = [
            "id",
            "position",
            "text",
            "text_ja",
            "text_en",
            "required",
            "command",
            "command_language",
            "help_ja",
            "help_en",
            "status",
            "skip_reason",
            "by",
            "at",
            "note",
            "live_status",
        ]
        read_only_fields = fields

    def get_live_status(self, item) -> str | None:
        """What the item's source says now: a linked heartbeat's last ping; null: nothing."""
        # One lookup per answer, however many items it holds.
        if self.context.get("item_statuses") is None:
            self.context["item_statuses"] = selectors.item_statuses()
        return self.context["item_statuses"].get(item.template_item_id)


class ChecklistRunSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True)
    template = serializers.SlugRelatedField(slug_field="key", read_only=True)
    incident = serializers.SerializerMethodField()
    done = serializers.SerializerMethodField()
    total = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()
    closed = serializers.SerializerMethodField()
    items = RunItemSerializer(many=True, read_only=True)

    class Meta:
        model = ChecklistRun
        fields = [
            "id",
            "template",
            "kind",
            "name",
            "name_ja",
            "name_en",
            "incident",
            "period_start",
            "due_at",
            "completed_at",
            "overdue",
            "overdue_notified_at",
            "closed",
            "done",
            "total",
            "items",
        ]
        read_only_fields = fields

    def get_incident(self, run) -> str | None:
        return f"INC-{run.incident_id}" if run.incident_id else None

    def get_done(self, run) -> int:
        return run.progress()[0]

    def get_total(self, run) -> int:
        return run.progress()[1]

    def get_overdue(self, run) -> bool:
        return run.is_overdue()

    def get_closed(self, run) -> bool:
        return run.is_closed()


class TickSerializer(StrictInputSerializer):
    note = StrictCharField(required=False, allow_blank=True, max_length=2000, default="")


class SkipSerializer(StrictInputSerializer):
    reason = StrictCharField(
        max_length=2000, help_text=_("Why the item does not apply (required).")
    )


class KnownProblemSerializer(serializers.ModelSerializer):
    title = serializers.CharField(read_only=True)
    score = serializers.FloatField(read_only=True)
    keywords = serializers.ListField(
        child=serializers.CharField(), source="keyword_list", read_only=True
    )

    class Meta:
        model = KnownProblem
        fields = [
            "key",
            "title",
            "title_ja",
            "title_en",
            "symptom_ja",
            "symptom_en",
            "causes_ja",
            "causes_en",
            "resolution_ja",
            "resolution_en",
            "keywords",
            "score",
        ]
        read_only_fields = fields


class TemplateItemSerializer(RejectUnknownFields, serializers.ModelSerializer):
    """One item of a template; its place in `items` is its position."""

    command_language = serializers.ChoiceField(
        CommandLanguage.choices, allow_blank=True, required=False
    )

    class Meta:
        model = TemplateItem
        fields = ["id", "position", *ITEM_FIELDS]
        read_only_fields = ["id", "position"]


class ChecklistTemplateSerializer(RejectUnknownFields, serializers.ModelSerializer):
    """A template with its items; items sent replace the template's, in the order sent."""

    severities = serializers.ListField(
        child=serializers.ChoiceField(Severity.choices), required=False
    )
    categories = serializers.ListField(
        child=serializers.ChoiceField(Category.choices), required=False
    )
    items = TemplateItemSerializer(many=True, required=False)

    class Meta:
        model = ChecklistTemplate
        fields = ["id", *TEMPLATE_FIELDS, "items"]
        read_only_fields = ["id"]

    def to_representation(self, template):
        data = super().to_representation(template)
        data["items"] = TemplateItemSerializer(template_items(template), many=True).data
        return data

    def service_fields(self) -> dict:
        """The validated fields as the services take them (`items` only when sent)."""
        fields = dict(self.validated_data)
        if "items" in fields:
            fields["items"] = [dict(item) for item in fields["items"]]
        return fields
